import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { AUTO_REPAIR_MODES, BACKFILL_MODES, MODES, buildStack } from './test-support';

const VARIANTS: Record<string, Record<string, string>> = {
  ...MODES,
  ...BACKFILL_MODES,
  ...AUTO_REPAIR_MODES,
  'SCV secrets with KMS keys, alarm email, tuning': {
    ...MODES['SCV secrets with extras and token caches, KMS keys'],
    alarmEmail: 'ops@example.com',
    contactConcurrency: '4',
    uploadBatchSize: '20',
  },
};

const CONTACT_WILDCARD =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:connect:<AWS::Region>:<AWS::AccountId>:instance/11111111-2222-3333-4444-555555555555/contact/*]';
const ANALYSIS_FILES_WILDCARD =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::amazon-connect-0123456789ab/Analysis/Voice/*]';
const SSM_KEY_WILDCARD = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]';
// The backfill: the function's and the state machine's grants on the results, the function's on the window
// manifests, then the state machine's others.
const BACKFILL_RESULTS_WILDCARD = 'AwsSolutions-IAM5[Resource::<BackfillBucket53F2FF3F.Arn>/results/*]';
const BACKFILL = [
  'AwsSolutions-S1',
  BACKFILL_RESULTS_WILDCARD,
  BACKFILL_RESULTS_WILDCARD,
  'AwsSolutions-IAM5[Resource::<BackfillBucket53F2FF3F.Arn>/manifests/windows/*]',
  'AwsSolutions-IAM5[Resource::<BackfillBucket53F2FF3F.Arn>/manifests/*]',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:ContactDataSync-Backfill/*]',
  'AwsSolutions-IAM5[Resource::*]',
];

/** Every acknowledgement in the tree as [rule id, reason]. */
function acknowledgements(root: IConstruct): [string, string][] {
  return root.node
    .findAll()
    .flatMap((construct) => construct.node.metadata)
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
}

describe.each(Object.entries(VARIANTS))('cdk-nag AwsSolutions (%s)', (_name, context) => {
  test('the pack reports no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(buildStack(context));
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('synthesis with the pack attached, as in bin/app.ts, succeeds without annotations', () => {
    const app = new App();
    const stack = buildStack(context, app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // A failed policy validation makes synth throw.
    expect(() => app.synth()).not.toThrow();
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });
});

test.each([
  ['created secret', [CONTACT_WILDCARD, 'AwsSolutions-SMG4']],
  ['SCV secrets with extras and token caches, KMS keys', [CONTACT_WILDCARD]],
  ['SCV SSM parameters', [CONTACT_WILDCARD, SSM_KEY_WILDCARD]],
  ['SCV SSM parameters, KMS key', [CONTACT_WILDCARD]],
  ['created secret, analysis bucket', [CONTACT_WILDCARD, 'AwsSolutions-SMG4', ANALYSIS_FILES_WILDCARD]],
  [
    'SCV SSM parameters, KMS-encrypted analysis bucket preferring redacted files',
    [CONTACT_WILDCARD, SSM_KEY_WILDCARD, ANALYSIS_FILES_WILDCARD],
  ],
  // With a backfill or automatic repair, the worker's role needs what the manual function's does.
  ['created secret, backfill', [CONTACT_WILDCARD, CONTACT_WILDCARD, 'AwsSolutions-SMG4', ...BACKFILL]],
  [
    'SCV SSM parameters, backfill with its own concurrency and retention',
    [CONTACT_WILDCARD, CONTACT_WILDCARD, SSM_KEY_WILDCARD, SSM_KEY_WILDCARD, ...BACKFILL],
  ],
  [
    'SCV secrets with KMS keys, analysis bucket, backfill sized by the Contact Lens quota',
    [CONTACT_WILDCARD, CONTACT_WILDCARD, ANALYSIS_FILES_WILDCARD, ANALYSIS_FILES_WILDCARD, ...BACKFILL],
  ],
  // Automatic repair needs none of its own: its grants name the queue, and cdk-nag's SQS3 recognizes the
  // dead-letter queue by the queue's redrive policy.
  ['created secret, auto repair', [CONTACT_WILDCARD, CONTACT_WILDCARD, 'AwsSolutions-SMG4']],
  ['imported SCV secret, auto repair with its own delay, batches, concurrency and receives', [CONTACT_WILDCARD, CONTACT_WILDCARD]],
  [
    'SCV SSM parameters, backfill and auto repair',
    [CONTACT_WILDCARD, CONTACT_WILDCARD, SSM_KEY_WILDCARD, SSM_KEY_WILDCARD, ...BACKFILL],
  ],
])('%s: acknowledges exactly the expected rules, with reasons', (mode, expected) => {
  const acks = acknowledgements(buildStack({ ...MODES, ...BACKFILL_MODES, ...AUTO_REPAIR_MODES }[mode]));
  expect(acks.map(([id]) => id.replace(/^annotation::/i, '')).sort()).toEqual([...expected].sort());
  for (const [, reason] of acks) {
    expect(reason.length).toBeGreaterThan(60);
  }
});
