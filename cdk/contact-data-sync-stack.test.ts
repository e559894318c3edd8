import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ContactDataSyncStack } from './contact-data-sync-stack';
import { parseSettings } from './props';
import { INSTANCE_ID, buildStack } from './test-support';
// The module object itself, which cargo-lambda-cdk calls into, so a spy on it takes effect.
import childProcess = require('node:child_process');

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce/oauth-AbCdEf';
const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const template = (context: Record<string, string> = {}) => Template.fromStack(buildStack(context));

// Synthesized CloudFormation is untyped JSON.
type Json = any;

/** Renders a CloudFormation string expression with `${Ref}` / `${Resource.Attr}` placeholders. */
function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (value.Ref !== undefined) return `\${${value.Ref}}`;
  if (value['Fn::GetAtt'] !== undefined) return `\${${value['Fn::GetAtt'].join('.')}}`;
  if (value['Fn::Join'] !== undefined) {
    const [separator, parts] = value['Fn::Join'];
    return parts.map(render).join(separator);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function onlyResource(t: Template, type: string): { id: string; resource: Json } {
  const resources = Object.entries(t.findResources(type));
  expect(resources).toHaveLength(1);
  const [id, resource] = resources[0];
  return { id, resource };
}

const functionOf = (t: Template) => onlyResource(t, 'AWS::Lambda::Function');
const rolePolicyStatements = (t: Template) =>
  onlyResource(t, 'AWS::IAM::Policy').resource.Properties.PolicyDocument.Statement;

/** Every IAM statement in the template: identity policies and resource policies. */
function allStatements(t: Template): { type: string; statement: Json }[] {
  const documents: { type: string; document: Json }[] = [];
  for (const [, resource] of Object.entries<Json>(t.toJSON().Resources)) {
    const props = resource.Properties ?? {};
    for (const document of [props.PolicyDocument, props.KeyPolicy, props.AssumeRolePolicyDocument]) {
      if (document !== undefined) documents.push({ type: resource.Type, document });
    }
    for (const inline of props.Policies ?? []) documents.push({ type: resource.Type, document: inline.PolicyDocument });
  }
  return documents.flatMap(({ type, document }) =>
    document.Statement.map((statement: Json) => ({ type, statement })),
  );
}

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

describe('function', () => {
  test('is an arm64 provided.al2023 function with the default settings', () => {
    const t = template();
    t.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['arm64'],
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      MemorySize: 256,
      Timeout: 900,
      ReservedConcurrentExecutions: 2,
      LoggingConfig: {
        LogFormat: 'JSON',
        ApplicationLogLevel: 'INFO',
        LogGroup: { Ref: onlyResource(t, 'AWS::Logs::LogGroup').id },
      },
    });
    t.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Retain' });
  });

  test('takes memory, timeout, concurrency and log retention from the settings', () => {
    const t = template({ memorySize: '1024', timeoutSeconds: '300', reservedConcurrency: '1', logRetentionDays: '14' });
    t.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 300, ReservedConcurrentExecutions: 1 });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
  });

  test('sets the environment the function reads', () => {
    const t = template();
    const secretId = onlyResource(t, 'AWS::SecretsManager::Secret').id;
    expect(functionOf(t).resource.Properties.Environment.Variables).toEqual({
      CONNECT_INSTANCE_ID: INSTANCE_ID,
      SALESFORCE_SECRET_ID: { Ref: secretId },
      SALESFORCE_API_VERSION: '64.0',
    });
    const tuned = template({
      salesforceApiVersion: '62.0',
      contactConcurrency: '4',
      uploadBatchSize: '20',
      contactLensRequestsPerSecond: '3',
    });
    expect(functionOf(tuned).resource.Properties.Environment.Variables).toMatchObject({
      SALESFORCE_API_VERSION: '62.0',
      CONTACT_CONCURRENCY: '4',
      UPLOAD_BATCH_SIZE: '20',
      CONTACT_LENS_REQUESTS_PER_SECOND: '3',
    });
  });

  test('uses only environment variable names declared in lambda/env-vars.json, and all required ones', () => {
    const declared: { required: string[]; optional: string[] } = JSON.parse(
      fs.readFileSync(path.join(__dirname, '..', 'lambda', 'env-vars.json'), 'utf8'),
    );
    const known = new Set([...declared.required, ...declared.optional]);
    for (const context of [
      {},
      { contactConcurrency: '4', uploadBatchSize: '20', contactLensRequestsPerSecond: '3' },
    ] as Record<string, string>[]) {
      const names = Object.keys(functionOf(template(context)).resource.Properties.Environment.Variables);
      expect(names.filter((name) => !known.has(name))).toEqual([]);
      expect(declared.required.filter((name) => !names.includes(name))).toEqual([]);
    }
  });

  test('the cargo-lambda build gets the same function settings as prebuilt code', () => {
    // Answer `cargo lambda --version` with a failure so the test never runs cargo, and skip
    // bundling (an empty bundling-stacks list) so nothing is compiled.
    const spawnSync = jest
      .spyOn(childProcess, 'spawnSync')
      .mockReturnValue({ status: 1, pid: 0, output: [], stdout: '', stderr: '', signal: null });
    try {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const settings = parseSettings((key) => ({ connectInstanceId: INSTANCE_ID })[key]);
      const rustStack = new ContactDataSyncStack(app, 'ContactDataSync', { settings });
      expect(spawnSync).toHaveBeenCalledWith('cargo', ['lambda', '--version']);

      const withoutCode = (t: Template) => {
        const { Code, ...properties } = functionOf(t).resource.Properties;
        expect(Code).toBeDefined();
        return properties;
      };
      expect(withoutCode(Template.fromStack(rustStack))).toEqual(withoutCode(template()));
    } finally {
      spawnSync.mockRestore();
    }
  });
});

describe('IAM', () => {
  const connectArn = (suffix: string) => ({
    'Fn::Join': [
      '',
      ['arn:', { Ref: 'AWS::Partition' }, ':connect:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:instance/${INSTANCE_ID}${suffix}`],
    ],
  });
  const logsStatement = (t: Template) => ({
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: { 'Fn::GetAtt': [onlyResource(t, 'AWS::Logs::LogGroup').id, 'Arn'] },
  });
  const connectStatement = {
    Effect: 'Allow',
    Action: ['connect:DescribeContact', 'connect:ListRealtimeContactAnalysisSegments'],
    Resource: [connectArn(''), connectArn('/contact/*')],
  };

  test('the role gets exactly its log group, the Connect instance and the created secret', () => {
    const t = template();
    expect(rolePolicyStatements(t)).toEqual([
      logsStatement(t),
      connectStatement,
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
      },
    ]);
  });

  test('an imported secret is read by its ARN, and decrypted only through Secrets Manager with its key', () => {
    const t = template({ salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: KMS_KEY_ARN });
    expect(rolePolicyStatements(t)).toEqual([
      logsStatement(t),
      connectStatement,
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: KMS_KEY_ARN,
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      },
    ]);
  });

  test('the role is assumable by Lambda only and has no managed policies', () => {
    const { resource } = onlyResource(template(), 'AWS::IAM::Role');
    expect(resource.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resource.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
  });

  test.each<Record<string, string>>([
    {},
    { salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: KMS_KEY_ARN, alarmEmail: 'ops@example.com' },
  ])(
    'no statement has a wildcard action or a "*" resource (%j), except the alarm key policy',
    (context) => {
      const statements = allStatements(template(context));
      expect(statements.length).toBeGreaterThan(0);
      const keyPolicy = statements.filter(({ type }) => type === 'AWS::KMS::Key').map(({ statement }) => statement);
      const others = statements.filter(({ type }) => type !== 'AWS::KMS::Key').map(({ statement }) => statement);

      for (const statement of others) {
        expect(asArray(statement.Action).filter((action: string) => action.includes('*'))).toEqual([]);
        expect(asArray(statement.Resource)).not.toContain('*');
      }
      // In a key policy the resource is always "*", meaning the key itself. Its first statement
      // is CDK's default account-root kms:*, which hands control of the key to IAM; without it
      // nobody could administer or delete the key. CloudWatch gets two named actions only.
      expect(keyPolicy).toEqual([
        expect.objectContaining({ Action: 'kms:*', Principal: { AWS: expect.anything() }, Resource: '*' }),
        expect.objectContaining({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Resource: '*',
        }),
      ]);
      expect(render(keyPolicy[0].Principal.AWS)).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:root');
    },
  );
});

describe('Salesforce secret', () => {
  test('is created with placeholders only, and retained when the stack is deleted', () => {
    const t = template();
    const { resource } = onlyResource(t, 'AWS::SecretsManager::Secret');
    expect(JSON.parse(resource.Properties.SecretString)).toEqual({
      authFlow: 'jwt-bearer',
      loginUrl: 'https://login.salesforce.com',
      clientId: 'REPLACE_WITH_CONNECTED_APP_CONSUMER_KEY',
      username: 'REPLACE_WITH_INTEGRATION_USER',
      privateKey: 'REPLACE_WITH_PEM_PRIVATE_KEY',
    });
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
  });

  test('is imported by ARN instead of created when salesforceSecretArn is set', () => {
    const t = template({ salesforceSecretArn: SECRET_ARN });
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(functionOf(t).resource.Properties.Environment.Variables.SALESFORCE_SECRET_ID).toBe(SECRET_ARN);
    t.hasOutput('SalesforceSecretArn', { Value: SECRET_ARN });
    // No customer managed key given: the AWS managed key needs no grant.
    expect(rolePolicyStatements(t).map((s: Json) => s.Action)).not.toContain('kms:Decrypt');
  });
});

describe('monitoring', () => {
  const alarmsByName = (t: Template) =>
    Object.fromEntries(
      Object.values<Json>(t.findResources('AWS::CloudWatch::Alarm')).map((alarm) => [alarm.Properties.AlarmName, alarm.Properties]),
    );

  test('alarms on errors, throttles, duration near the timeout and failed contacts', () => {
    const t = template();
    const fn = { Ref: functionOf(t).id };
    const common = {
      Dimensions: [{ Name: 'FunctionName', Value: fn }],
      Period: 300,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    };
    const alarms = alarmsByName(t);
    expect(Object.keys(alarms).sort()).toEqual([
      'ContactDataSync-ContactsFailed',
      'ContactDataSync-FunctionDurationNearTimeout',
      'ContactDataSync-FunctionErrors',
      'ContactDataSync-FunctionThrottles',
    ]);
    expect(alarms['ContactDataSync-FunctionErrors']).toMatchObject({
      ...common,
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms['ContactDataSync-FunctionThrottles']).toMatchObject({
      ...common,
      Namespace: 'AWS/Lambda',
      MetricName: 'Throttles',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms['ContactDataSync-FunctionDurationNearTimeout']).toMatchObject({
      ...common,
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Statistic: 'Maximum',
      Threshold: 720_000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarms['ContactDataSync-ContactsFailed']).toMatchObject({
      ...common,
      Namespace: 'ContactDataSync',
      MetricName: 'ContactsFailed',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  test('alarm thresholds follow the timeout and the failed-contacts setting', () => {
    const alarms = alarmsByName(template({ timeoutSeconds: '600', failedContactsAlarmThreshold: '5' }));
    expect(alarms['ContactDataSync-FunctionDurationNearTimeout'].Threshold).toBe(480_000);
    expect(alarms['ContactDataSync-ContactsFailed'].Threshold).toBe(5);
  });

  test('every alarm notifies the encrypted, TLS-only topic', () => {
    const t = template();
    const topic = onlyResource(t, 'AWS::SNS::Topic');
    const key = onlyResource(t, 'AWS::KMS::Key');
    expect(topic.resource.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key.id, 'Arn'] });
    expect(key.resource.Properties.EnableKeyRotation).toBe(true);
    for (const alarm of Object.values<Json>(alarmsByName(t))) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topic.id }]);
    }
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Resource: { Ref: topic.id },
          }),
        ]),
      },
    });
  });

  test('CloudWatch may use the topic and its key only for this stack\'s alarms', () => {
    const statements = allStatements(template())
      .map(({ statement }) => statement)
      .filter((statement) => statement.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(statements).toHaveLength(2);
    for (const statement of statements) {
      expect(statement.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
      expect(render(statement.Condition.ArnLike['aws:SourceArn'])).toBe(
        'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:ContactDataSync-*',
      );
    }
  });

  test('subscribes the alarm email only when one is given', () => {
    template().resourceCountIs('AWS::SNS::Subscription', 0);
    const t = template({ alarmEmail: 'ops@example.com' });
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: onlyResource(t, 'AWS::SNS::Topic').id },
    });
  });

  test('the dashboard shows failures by reason and the timeout', () => {
    const t = template();
    const fn = functionOf(t).id;
    const body = JSON.parse(render(onlyResource(t, 'AWS::CloudWatch::Dashboard').resource.Properties.DashboardBody));
    const widgets = Object.fromEntries(body.widgets.map((w: Json) => [w.properties.title, w.properties]));
    expect(Object.keys(widgets)).toEqual([
      'Invocations',
      'Errors',
      'Contacts requested / uploaded / failed',
      'Contacts failed by reason',
      'Duration (ms)',
      'Throttles',
      'Concurrent executions',
    ]);
    expect(widgets['Contacts failed by reason'].metrics).toEqual([
      [
        expect.objectContaining({
          expression: `SEARCH('{ContactDataSync,FunctionName,Reason} FunctionName="\${${fn}}" MetricName="ContactsFailed"', 'Sum', 300)`,
        }),
      ],
    ]);
    expect(widgets['Contacts requested / uploaded / failed'].metrics.map((m: Json[]) => m.slice(0, 4))).toEqual(
      ['ContactsRequested', 'ContactsUploaded', 'ContactsFailed'].map((name) => ['ContactDataSync', name, 'FunctionName', `\${${fn}}`]),
    );
    expect(widgets['Duration (ms)'].metrics.map((m: Json[]) => m[4].label)).toEqual(['Average', 'p99', 'Maximum']);
    expect(widgets['Duration (ms)'].annotations.horizontal).toEqual([
      expect.objectContaining({ value: 900_000, label: 'Timeout' }),
    ]);
  });
});

describe('outputs', () => {
  test('name the function, secret, dashboard and topic, and show a ready-to-paste invoke command', () => {
    const t = template();
    const fn = functionOf(t).id;
    expect(Object.keys(t.findOutputs('*')).sort()).toEqual(
      ['AlarmTopicArn', 'DashboardName', 'FunctionArn', 'FunctionName', 'InvokeExample', 'SalesforceSecretArn'],
    );
    t.hasOutput('FunctionName', { Value: { Ref: fn } });
    t.hasOutput('FunctionArn', { Value: { 'Fn::GetAtt': [fn, 'Arn'] } });
    t.hasOutput('AlarmTopicArn', { Value: { Ref: onlyResource(t, 'AWS::SNS::Topic').id } });
    t.hasOutput('DashboardName', { Value: { Ref: onlyResource(t, 'AWS::CloudWatch::Dashboard').id } });
    expect(render(t.findOutputs('InvokeExample').InvokeExample.Value)).toBe(
      `aws lambda invoke --function-name \${${fn}} --cli-binary-format raw-in-base64-out ` +
        `--payload '{"operation":"uploadTranscript","payload":[{"contactId":"faaa3a21-5990-48cd-a035-e85ca8c861ff","relatedRecords":["0LQ1Q000002TZtn"]}]}' response.json`,
    );
  });
});
