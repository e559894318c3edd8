import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContactDataSyncStack } from './contact-data-sync-stack';
import { ContactDataSync, ContactDataSyncProps, propsFromContext } from './index';
import { INSTANCE_ID, Json, allStatements, dummyBootstrapCode, render } from './test-support';
// The module objects themselves, which cargo-lambda-cdk and function.ts call into, so a spy on them takes effect.
import childProcess = require('node:child_process');
import fsModule = require('node:fs');

const PREBUILT_ZIP = path.join(__dirname, '..', 'tests', 'fixtures', 'prebuilt', 'function.zip');
const USE_AS_A_CONSTRUCT = path.join(__dirname, '..', 'docs', 'use-as-a-construct.md');

/**
 * The example stack of docs/use-as-a-construct.md, a customer's own, with the prebuilt code of
 * its second example (the first builds the same resources with cargo-lambda).
 */
class CallCenterStack extends Stack {
  public readonly transcripts: ContactDataSync;

  constructor(scope: App, id: string, extra: Partial<ContactDataSyncProps> = {}) {
    super(scope, id);
    const transcripts = new ContactDataSync(this, 'Transcripts', {
      connectInstanceId: INSTANCE_ID,
      autoRepair: true,
      alarmEmail: 'ops@example.com',
      functionCode: PREBUILT_ZIP,
      ...extra,
    });
    transcripts.grantInvoke(iam.Role.fromRoleName(this, 'Ops', 'call-center-ops'));
    this.transcripts = transcripts;
  }
}

const example = (extra: Partial<ContactDataSyncProps> = {}, app = new App()) => new CallCenterStack(app, 'CustomerStack', extra);

/** The functions in the template by role, found through the construct's own members. */
function functionIds(stack: CallCenterStack): { manual: string; worker: string } {
  const { function: fn, worker } = stack.transcripts;
  expect(worker).toBeDefined();
  return {
    manual: stack.getLogicalId(fn.node.defaultChild as never),
    worker: stack.getLogicalId(worker!.node.defaultChild as never),
  };
}

/** The template's resources by type, as the doc's table lists them. */
function resourcesByType(t: Template): string {
  const counts = new Map<string, number>();
  for (const resource of Object.values<Json>(t.toJSON().Resources)) {
    counts.set(resource.Type, (counts.get(resource.Type) ?? 0) + 1);
  }
  const rows = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `| \`${type}\` | ${n} |`);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return ['| resource type | count |', '|---|---|', ...rows, `| total | ${total} |`].join('\n');
}

describe("ContactDataSync in a customer's stack", () => {
  test('exposes the functions, topic, dashboard and repair queues, and builds them under its own id', () => {
    const stack = example();
    const sync = stack.transcripts;
    expect(sync.worker).toBeDefined();
    expect(sync.autoRepairQueue).toBeDefined();
    expect(sync.autoRepairDeadLetterQueue).toBeDefined();
    expect(sync.backfillStateMachine).toBeUndefined();
    expect(sync.backfillBucket).toBeUndefined();
    expect(sync.salesforceSecretArn).toBeDefined();
    expect(sync.settings.autoRepair?.maxConcurrency).toBe(2);

    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Lambda::Function', 2);
    t.resourceCountIs('AWS::SQS::Queue', 2);
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    const { manual, worker } = functionIds(stack);
    expect(manual).toMatch(/^TranscriptsContactDataSyncFunction[0-9A-F]{8}$/);
    expect(worker).toMatch(/^TranscriptsContactDataSyncWorker[0-9A-F]{8}$/);
    // The queue's mapping invokes the worker, never the manual function.
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: worker } });
    // Every resource but the customer's own grant belongs to the construct.
    const outside = Object.keys(t.toJSON().Resources).filter((id) => !id.startsWith('Transcripts'));
    expect(outside).toEqual([expect.stringMatching(/^OpsPolicy/)]);
    // Outputs are the app stack's business; the construct adds none.
    expect(t.toJSON().Outputs).toBeUndefined();
  });

  test('names its alarms and dashboard after the stack, and lets CloudWatch use the topic only for them', () => {
    const t = Template.fromStack(example());
    const alarms = Object.values<Json>(t.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(5);
    for (const alarm of alarms) expect(alarm.Properties.AlarmName).toMatch(/^CustomerStack-[A-Za-z]+$/);
    expect(alarms.map((a) => a.Properties.AlarmName)).toEqual(
      expect.arrayContaining(['CustomerStack-FunctionErrors', 'CustomerStack-WorkerErrors', 'CustomerStack-AutoRepairDeadLetters']),
    );
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', ['CustomerStack-', { Ref: 'AWS::Region' }]] },
    });
    const cloudwatchGrants = allStatements(t).filter(({ statement }) => statement.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(cloudwatchGrants.map(({ type }) => type).sort()).toEqual(['AWS::KMS::Key', 'AWS::SNS::TopicPolicy']);
    for (const { statement } of cloudwatchGrants) {
      expect(render(statement.Condition.ArnLike['aws:SourceArn'])).toBe(
        'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:CustomerStack-*',
      );
    }
  });

  test('grantInvoke gives a foreign role exactly lambda:InvokeFunction on the manual function', () => {
    const stack = example();
    const t = Template.fromStack(stack);
    const { manual } = functionIds(stack);
    const policies = Object.entries<Json>(t.findResources('AWS::IAM::Policy')).filter(([id]) => id.startsWith('OpsPolicy'));
    expect(policies).toHaveLength(1);
    const [, policy] = policies[0];
    expect(policy.Properties.Roles).toEqual(['call-center-ops']);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [manual, 'Arn'] } },
    ]);
  });

  test('grantInvoke gives a service principal a permission on the manual function', () => {
    const stack = example();
    stack.transcripts.grantInvoke(new iam.ServicePrincipal('events.amazonaws.com'));
    const { manual } = functionIds(stack);
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [manual, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
  });

  test('cdk-nag AwsSolutions reports nothing: the construct acknowledges its own findings', () => {
    const report = new AwsSolutionsChecks().validateScope(example({ backfill: true, reservedConcurrency: 4 }));
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);

    const app = new App();
    const stack = example({ backfill: true, reservedConcurrency: 4 }, app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('warns above three repair instances, which collide in Contact Lens and add little capacity', () => {
    const warnings = (extra: Partial<ContactDataSyncProps>) =>
      Annotations.fromStack(example(extra)).findWarning('*', Match.stringLikeRegexp('autoRepairMaxConcurrency'));
    expect(warnings({ autoRepairMaxConcurrency: 3, reservedConcurrency: 4 })).toEqual([]);
    const [warning, ...others] = warnings({ autoRepairMaxConcurrency: 4, reservedConcurrency: 5 });
    expect(others).toEqual([]);
    expect(warning.id).toBe('/CustomerStack/Transcripts');
    expect(warning.entry.data).toMatch(/"autoRepairMaxConcurrency" is 4: .* Keep it at 3 or below and raise the budgets instead/);
  });

  test('takes prebuilt code from a path (checked as the context value is) or as lambda.Code, and never calls cargo', () => {
    const spawnSync = jest.spyOn(childProcess, 'spawnSync');
    try {
      for (const functionCode of [PREBUILT_ZIP, dummyBootstrapCode()]) {
        Template.fromStack(example({ functionCode })).hasResourceProperties('AWS::Lambda::Function', {
          Code: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('\\.zip$') },
        });
      }
      expect(spawnSync).not.toHaveBeenCalled();
    } finally {
      spawnSync.mockRestore();
    }
  });

  test('without prebuilt code and without the crate beside it (the installed package), asks for functionCode', () => {
    const existsSync = fsModule.existsSync;
    const spy = jest.spyOn(fsModule, 'existsSync').mockImplementation((p) => !String(p).endsWith('Cargo.toml') && existsSync(p));
    try {
      expect(() => example({ functionCode: undefined })).toThrow(/no Rust crate at .* give "functionCode"/);
    } finally {
      spy.mockRestore();
    }
  });

  test('the resources by type are those docs/use-as-a-construct.md lists', () => {
    const table = resourcesByType(Template.fromStack(example()));
    expect(fs.readFileSync(USE_AS_A_CONSTRUCT, 'utf8')).toContain(table);
  });
});

describe('ContactDataSync props', () => {
  /** The message a setting fails with, given as a context value to the app's stack, or as a typed prop. */
  const contextError = (context: Record<string, string>) =>
    errorOf(
      () =>
        new ContactDataSyncStack(new App(), 'ContactDataSync', {
          settings: propsFromContext((key) => ({ connectInstanceId: INSTANCE_ID, ...context })[key]),
        }),
    );
  const propsError = (props: Partial<ContactDataSyncProps>) => errorOf(() => example(props));
  const errorOf = (build: () => unknown): string => {
    try {
      build();
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('no error');
  };

  test.each<[string, Partial<ContactDataSyncProps>, Record<string, string>]>([
    ['autoRepairMaxConcurrency below what Lambda allows', { autoRepairMaxConcurrency: 1 }, { autoRepair: 'true', autoRepairMaxConcurrency: '1' }],
    ['memorySize out of range', { memorySize: 100 }, { autoRepair: 'true', memorySize: '100' }],
    ['a fractional timeout', { timeoutSeconds: 1.5 }, { autoRepair: 'true', timeoutSeconds: '1.5' }],
    ['a malformed instance id', { connectInstanceId: 'not-a-uuid' }, { autoRepair: 'true', connectInstanceId: 'not-a-uuid' }],
    ['an SSM setting without the call center', { salesforceAuthEndpoint: 'https://x.example.com/t' }, { autoRepair: 'true', salesforceAuthEndpoint: 'https://x.example.com/t' }],
    [
      'extra secrets given as a typed list',
      { extraSalesforceSecretArns: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:x'] },
      { autoRepair: 'true', extraSalesforceSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' },
    ],
    ['a missing prebuilt zip', { functionCode: '/nonexistent/bootstrap.zip' }, { autoRepair: 'true', functionCode: '/nonexistent/bootstrap.zip' }],
  ])('%s fails with the message of the context value', (_case, props, context) => {
    const message = propsError(props);
    expect(message).toMatch(/^Invalid contact-data-sync settings:\n {2}- "/);
    expect(message).toBe(contextError(context));
  });

  test('a second ContactDataSync in one stack fails, naming both', () => {
    const stack = example();
    expect(() => new ContactDataSync(stack, 'Again', { connectInstanceId: INSTANCE_ID, functionCode: dummyBootstrapCode() })).toThrow(
      /Stack "CustomerStack" holds a ContactDataSync already \("CustomerStack\/Transcripts"\).*a stack of its own/,
    );
  });
});
