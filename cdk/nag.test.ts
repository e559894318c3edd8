import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { buildStack } from './test-support';

const VARIANTS: Record<string, Record<string, string>> = {
  'created secret': {},
  'imported KMS-encrypted secret, alarm email, tuning': {
    salesforceSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce/oauth-AbCdEf',
    salesforceSecretKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    alarmEmail: 'ops@example.com',
    contactConcurrency: '4',
    uploadBatchSize: '20',
  },
};

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

test('the default stack acknowledges exactly the contact wildcard and secret rotation, with reasons', () => {
  const acks = acknowledgements(buildStack());
  expect(acks.map(([id]) => id.replace(/^annotation::/i, '')).sort()).toEqual([
    'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:connect:<AWS::Region>:<AWS::AccountId>:instance/11111111-2222-3333-4444-555555555555/contact/*]',
    'AwsSolutions-SMG4',
  ]);
  for (const [, reason] of acks) {
    expect(reason.length).toBeGreaterThan(60);
  }
});
