import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ContactDataSyncStack } from './contact-data-sync-stack';
import { propsFromContext } from './contact-data-sync';
import {
  ANALYSIS_BUCKET,
  INSTANCE_ID,
  Json,
  KMS_KEY_ARN,
  KMS_KEY_ARN_2,
  MODES,
  allStatements,
  buildStack,
  onlyResource,
  render,
  scvSecretArn,
  scvTokenSecretArn,
} from './test-support';
// The module object itself, which cargo-lambda-cdk calls into, so a spy on it takes effect.
import childProcess = require('node:child_process');

const SECRET_ARN = scvSecretArn('Main');

const template = (context: Record<string, string> = {}) => Template.fromStack(buildStack(context));


const functionOf = (t: Template) => onlyResource(t, 'AWS::Lambda::Function');
const environmentOf = (t: Template) => functionOf(t).resource.Properties.Environment.Variables;
/** An ARN in this stack's partition, region and account, as CDK renders it. */
const stackArn = (service: string, resource: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`],
  ],
});
const regionalService = (service: string) => ({ 'Fn::Join': ['', [`${service}.`, { Ref: 'AWS::Region' }, '.amazonaws.com']] });
const SSM_PARAMETERS = ['auth-private-key', 'auth-consumer-key', 'audience', 'subject', 'access-token'].map((suffix) =>
  stackArn('ssm', `parameter/AcmeCallCenter-salesforce-rest-api-${suffix}`),
);
const [PRIVATE_KEY_PARAMETER, , , , ACCESS_TOKEN_PARAMETER] = SSM_PARAMETERS;
const rolePolicyStatements = (t: Template) =>
  onlyResource(t, 'AWS::IAM::Policy').resource.Properties.PolicyDocument.Statement;

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
      // One manual invocation at a time: its share of each quota is all of it.
      ReservedConcurrentExecutions: 1,
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

  test('passes the tuning settings to the function', () => {
    const tuned = template({
      salesforceApiVersion: '62.0',
      contactConcurrency: '4',
      uploadBatchSize: '20',
      contactLensQuotaPerSecond: '3',
      describeContactQuotaPerSecond: '8',
      salesforceEntriesReadsPerHour: '5000',
      salesforceApiUsageCeilingPercent: '90',
    });
    expect(environmentOf(tuned)).toMatchObject({
      SALESFORCE_API_VERSION: '62.0',
      CONTACT_CONCURRENCY: '4',
      UPLOAD_BATCH_SIZE: '20',
      // The only function instance gets each whole budget.
      CONTACT_LENS_REQUESTS_PER_SECOND: '3',
      DESCRIBE_CONTACT_REQUESTS_PER_SECOND: '8',
      SALESFORCE_ENTRIES_READS_PER_HOUR: '5000',
      SALESFORCE_API_USAGE_CEILING_PERCENT: '90',
    });
  });

  describe('points the function at the Salesforce credentials', () => {
    const common = {
      CONNECT_INSTANCE_ID: INSTANCE_ID,
      SALESFORCE_API_VERSION: '64.0',
      CONTACT_LENS_REQUESTS_PER_SECOND: '1',
      DESCRIBE_CONTACT_REQUESTS_PER_SECOND: '5',
      SALESFORCE_ENTRIES_READS_PER_HOUR: '800',
      SALESFORCE_API_USAGE_CEILING_PERCENT: '80',
    };

    test('a created secret', () => {
      const t = template();
      expect(environmentOf(t)).toEqual({
        ...common,
        SALESFORCE_SECRET_ID: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
      });
    });

    test('an imported SCV secret alone', () => {
      expect(environmentOf(template(MODES['imported SCV secret']))).toEqual({ ...common, SALESFORCE_SECRET_ID: SECRET_ARN });
    });

    test.each(['SCV secrets with extras and token caches', 'SCV secrets with extras and token caches, KMS keys'])(
      '%s: the lists comma-joined',
      (mode) => {
        expect(environmentOf(template(MODES[mode]))).toEqual({
          ...common,
          SALESFORCE_SECRET_ID: SECRET_ARN,
          SALESFORCE_EXTRA_SECRET_IDS: `${scvSecretArn('Emea')},${scvSecretArn('Apac')}`,
          SALESFORCE_TOKEN_SECRET_ID: scvTokenSecretArn('Main'),
          SALESFORCE_EXTRA_TOKEN_SECRET_IDS: `${scvSecretArn('Emea')}|${scvTokenSecretArn('Emea')}`,
        });
      },
    );

    test('a created secret and an extra SCV org', () => {
      const t = template(MODES['created secret and an extra SCV org']);
      expect(environmentOf(t)).toEqual({
        ...common,
        SALESFORCE_SECRET_ID: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
        SALESFORCE_EXTRA_SECRET_IDS: scvSecretArn('Emea'),
      });
    });

    test.each([
      ['SCV SSM parameters', {}],
      // The access token is written back with the parameters' own key, not aws/ssm.
      ['SCV SSM parameters, KMS key', { SALESFORCE_SSM_KMS_KEY_ID: KMS_KEY_ARN }],
    ])('%s: the call center, the org URLs and any KMS key', (mode, key) => {
      expect(environmentOf(template(MODES[mode]))).toEqual({
        ...common,
        SALESFORCE_SSM_CALL_CENTER: 'AcmeCallCenter',
        SALESFORCE_AUTH_ENDPOINT: 'https://acme.my.salesforce.com/services/oauth2/token',
        SALESFORCE_REST_API_ENDPOINT_BASE: 'https://acme.my.salesforce.com',
        ...key,
      });
    });
  });

  describe('points the function at the Contact Lens analysis bucket', () => {
    const common = {
      CONNECT_INSTANCE_ID: INSTANCE_ID,
      SALESFORCE_API_VERSION: '64.0',
      CONTACT_LENS_REQUESTS_PER_SECOND: '1',
      DESCRIBE_CONTACT_REQUESTS_PER_SECOND: '5',
      SALESFORCE_ENTRIES_READS_PER_HOUR: '800',
      SALESFORCE_API_USAGE_CEILING_PERCENT: '80',
    };

    test.each([
      ['', {}],
      [', preferring the unredacted files', { analysisPreferRedacted: 'false' }],
      [', KMS key', { analysisBucketKmsKeyArn: KMS_KEY_ARN_2 }],
    ])('the bucket alone%s', (_name, extra) => {
      const t = template({ analysisBucket: ANALYSIS_BUCKET, ...extra });
      expect(environmentOf(t)).toEqual({
        ...common,
        SALESFORCE_SECRET_ID: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
        ANALYSIS_BUCKET,
      });
    });

    test('the bucket and the preference for the redacted files', () => {
      expect(environmentOf(template(MODES['SCV SSM parameters, KMS-encrypted analysis bucket preferring redacted files']))).toEqual({
        ...common,
        SALESFORCE_SSM_CALL_CENTER: 'AcmeCallCenter',
        SALESFORCE_AUTH_ENDPOINT: 'https://acme.my.salesforce.com/services/oauth2/token',
        SALESFORCE_REST_API_ENDPOINT_BASE: 'https://acme.my.salesforce.com',
        ANALYSIS_BUCKET,
        ANALYSIS_PREFER_REDACTED: 'true',
      });
    });

    test.each(Object.keys(MODES).filter((mode) => !mode.includes('analysis')))('no analysis variable: %s', (mode) => {
      expect(Object.keys(environmentOf(template(MODES[mode]))).filter((name) => name.startsWith('ANALYSIS_'))).toEqual([]);
    });
  });

  describe('sets environment variables as lambda/env-vars.json declares them', () => {
    const declared: { required: string[]; salesforceSourceOneOf: string[][]; optional: string[] } = JSON.parse(
      fs.readFileSync(path.join(__dirname, '..', 'lambda', 'env-vars.json'), 'utf8'),
    );
    const tuning = { contactConcurrency: '4', uploadBatchSize: '20', contactLensQuotaPerSecond: '3' };

    test.each(Object.entries(MODES))('%s', (_mode, context) => {
      const known = new Set([...declared.required, ...declared.salesforceSourceOneOf.flat(), ...declared.optional]);
      for (const settings of [context, { ...context, ...tuning }]) {
        const names = Object.keys(environmentOf(template(settings)));
        expect(names.filter((name) => !known.has(name))).toEqual([]);
        expect(declared.required.filter((name) => !names.includes(name))).toEqual([]);
        // Exactly one source group is complete, and no variable of another group is set.
        const complete = declared.salesforceSourceOneOf.filter((group) => group.every((name) => names.includes(name)));
        const touched = declared.salesforceSourceOneOf.filter((group) => group.some((name) => names.includes(name)));
        expect(complete).toHaveLength(1);
        expect(touched).toEqual(complete);
      }
    });
  });

  test('the cargo-lambda build gets the same function settings as prebuilt code', () => {
    // Answer `cargo lambda --version` with a failure so the test never runs cargo, and skip
    // bundling (an empty bundling-stacks list) so nothing is compiled.
    const spawnSync = jest
      .spyOn(childProcess, 'spawnSync')
      .mockReturnValue({ status: 1, pid: 0, output: [], stdout: '', stderr: '', signal: null });
    try {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const rustStack = new ContactDataSyncStack(app, 'ContactDataSync', { settings: { connectInstanceId: INSTANCE_ID } });
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

  test.each([
    ['a directory', 'arm64'],
    ['a zip file', 'function.zip'],
  ])('deploys prebuilt code from %s given as functionCode, and never calls cargo', (_, fixture) => {
    const spawnSync = jest.spyOn(childProcess, 'spawnSync');
    try {
      const code = path.join(__dirname, '..', 'tests', 'fixtures', 'prebuilt', fixture);
      const settings = propsFromContext((key) => ({ connectInstanceId: INSTANCE_ID, functionCode: code })[key]);
      const stack = new ContactDataSyncStack(new App(), 'ContactDataSync', { settings });
      expect(spawnSync).not.toHaveBeenCalled();

      const t = Template.fromStack(stack);
      t.hasResourceProperties('AWS::Lambda::Function', {
        Architectures: ['arm64'],
        Runtime: 'provided.al2023',
        Handler: 'bootstrap',
        Code: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('\\.zip$') },
      });
      // The same function as the one cargo-lambda builds, but for its code.
      const { Code, ...properties } = functionOf(t).resource.Properties;
      const { Code: _built, ...built } = functionOf(template()).resource.Properties;
      expect(Code).toBeDefined();
      expect(properties).toEqual(built);
    } finally {
      spawnSync.mockRestore();
    }
  });
});

describe('IAM', () => {
  const connectArn = (suffix: string) => stackArn('connect', `instance/${INSTANCE_ID}${suffix}`);
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
  /** The role's statements after the log group and Connect ones every mode shares. */
  const salesforceStatements = (t: Template) => {
    const [logs, connect, ...rest] = rolePolicyStatements(t);
    expect([logs, connect]).toEqual([logsStatement(t), connectStatement]);
    return rest;
  };
  const viaSecretsManager = { StringEquals: { 'kms:ViaService': regionalService('secretsmanager') } };
  const scvSecretsRead = {
    Effect: 'Allow',
    Action: 'secretsmanager:GetSecretValue',
    Resource: [SECRET_ARN, scvSecretArn('Emea'), scvSecretArn('Apac'), scvTokenSecretArn('Main'), scvTokenSecretArn('Emea')],
  };
  const tokenCachesWrite = {
    Effect: 'Allow',
    Action: 'secretsmanager:PutSecretValue',
    Resource: [scvTokenSecretArn('Main'), scvTokenSecretArn('Emea')],
  };

  test('a created secret: exactly its log group, the Connect instance and the secret', () => {
    const t = template();
    expect(salesforceStatements(t)).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
      },
    ]);
  });

  test('a created secret and an extra SCV org: both are read', () => {
    const t = template(MODES['created secret and an extra SCV org']);
    expect(salesforceStatements(t)).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: [{ Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id }, scvSecretArn('Emea')],
      },
    ]);
  });

  test('an imported secret is read by its ARN; the AWS managed key needs no grant', () => {
    expect(salesforceStatements(template(MODES['imported SCV secret']))).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN },
    ]);
  });

  test('an imported secret with a customer managed key is decrypted only through Secrets Manager', () => {
    expect(salesforceStatements(template(MODES['imported KMS-encrypted secret without token caches']))).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: KMS_KEY_ARN, Condition: viaSecretsManager },
    ]);
  });

  test('SCV secrets: every secret is read, only the token caches are written', () => {
    expect(salesforceStatements(template(MODES['SCV secrets with extras and token caches']))).toEqual([
      scvSecretsRead,
      tokenCachesWrite,
    ]);
  });

  test('SCV secrets with customer managed keys: writing a token also generates a data key', () => {
    expect(salesforceStatements(template(MODES['SCV secrets with extras and token caches, KMS keys']))).toEqual([
      scvSecretsRead,
      tokenCachesWrite,
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: [KMS_KEY_ARN, KMS_KEY_ARN_2],
        Condition: viaSecretsManager,
      },
    ]);
  });

  describe.each([
    ['SCV SSM parameters', stackArn('kms', 'key/*')],
    ['SCV SSM parameters, KMS key', KMS_KEY_ARN],
  ])('%s', (mode, key) => {
    test('reads the five parameters, writes the access token, and uses the key for those SecureStrings only', () => {
      const t = template(MODES[mode]);
      t.resourceCountIs('AWS::SecretsManager::Secret', 0);
      const viaParameterStore = (parameters: Json) => ({
        StringEquals: {
          'kms:ViaService': regionalService('ssm'),
          'kms:EncryptionContext:PARAMETER_ARN': parameters,
        },
      });
      expect(salesforceStatements(t)).toEqual([
        { Effect: 'Allow', Action: 'ssm:GetParameters', Resource: SSM_PARAMETERS },
        { Effect: 'Allow', Action: 'ssm:PutParameter', Resource: ACCESS_TOKEN_PARAMETER },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: key,
          Condition: viaParameterStore([PRIVATE_KEY_PARAMETER, ACCESS_TOKEN_PARAMETER]),
        },
        { Effect: 'Allow', Action: 'kms:Encrypt', Resource: key, Condition: viaParameterStore(ACCESS_TOKEN_PARAMETER) },
      ]);
    });

    test('the parameter ARNs name the parameters without a leading slash', () => {
      expect(SSM_PARAMETERS.map(render)).toEqual(
        ['auth-private-key', 'auth-consumer-key', 'audience', 'subject', 'access-token'].map(
          (suffix) => `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/AcmeCallCenter-salesforce-rest-api-${suffix}`,
        ),
      );
    });
  });

  describe('Contact Lens analysis bucket', () => {
    const s3Arn = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${resource}`]] });
    const BUCKET_ARN = s3Arn(ANALYSIS_BUCKET);
    const FILES_ARN = s3Arn(`${ANALYSIS_BUCKET}/Analysis/Voice/*`);
    const listAndRead = [
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: BUCKET_ARN,
        Condition: { StringLike: { 's3:prefix': ['Analysis/Voice/*'] } },
      },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: FILES_ARN },
    ];
    const decryptThroughS3 = (key: string) => ({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: key,
      Condition: {
        StringEquals: { 'kms:ViaService': regionalService('s3') },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': [FILES_ARN, BUCKET_ARN] },
      },
    });

    test('the ARNs name the bucket and the analysis prefix in the stack\'s partition', () => {
      expect(render(BUCKET_ARN)).toBe(`arn:\${AWS::Partition}:s3:::${ANALYSIS_BUCKET}`);
      expect(render(FILES_ARN)).toBe(`arn:\${AWS::Partition}:s3:::${ANALYSIS_BUCKET}/Analysis/Voice/*`);
    });

    test('without a KMS key: lists below Analysis/Voice/ and reads the files there, after the Salesforce grants', () => {
      const t = template(MODES['created secret, analysis bucket']);
      expect(salesforceStatements(t)).toEqual([
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
        },
        ...listAndRead,
      ]);
    });

    test('with a KMS key: also decrypts, only through S3 and only for the analysis files or the bucket key', () => {
      const mode = 'SCV SSM parameters, KMS-encrypted analysis bucket preferring redacted files';
      expect(salesforceStatements(template(MODES[mode]))).toEqual([
        ...salesforceStatements(template(MODES['SCV SSM parameters'])),
        ...listAndRead,
        decryptThroughS3(KMS_KEY_ARN_2),
      ]);
    });

    test('the preference for redacted files changes no grant', () => {
      const context = { analysisBucket: ANALYSIS_BUCKET, analysisBucketKmsKeyArn: KMS_KEY_ARN };
      const statements = salesforceStatements(template({ ...context, analysisPreferRedacted: 'true' }));
      expect(statements.slice(1)).toEqual([...listAndRead, decryptThroughS3(KMS_KEY_ARN)]);
      expect(salesforceStatements(template(context))).toEqual(statements);
    });

    test.each(Object.keys(MODES).filter((mode) => !mode.includes('analysis')))('no S3 grant without the bucket: %s', (mode) => {
      const actions = allStatements(template(MODES[mode])).flatMap(({ statement }) => asArray<string>(statement.Action));
      expect(actions.filter((action) => action.startsWith('s3:'))).toEqual([]);
    });
  });

  test('the role is assumable by Lambda only and has no managed policies', () => {
    const { resource } = onlyResource(template(), 'AWS::IAM::Role');
    expect(resource.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resource.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
  });

  test.each(Object.entries(MODES))(
    'no statement has a wildcard action or a "*" resource (%s, alarm email), except the alarm key policy',
    (_mode, context) => {
      const statements = allStatements(template({ ...context, alarmEmail: 'ops@example.com' }));
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

  test.each(Object.keys(MODES).filter((mode) => !mode.startsWith('created')))('is not created: %s', (mode) => {
    template(MODES[mode]).resourceCountIs('AWS::SecretsManager::Secret', 0);
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
      'ContactDataSync-SalesforceApiUsageAtCeiling',
    ]);
    expect(alarms['ContactDataSync-SalesforceApiUsageAtCeiling']).toMatchObject({
      ...common,
      Namespace: 'ContactDataSync',
      MetricName: 'SalesforceApiUsagePercent',
      Statistic: 'Maximum',
      Threshold: 80,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
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

  test('the API usage alarm fires at the configured ceiling', () => {
    const alarms = alarmsByName(template({ salesforceApiUsageCeilingPercent: '65' }));
    expect(alarms['ContactDataSync-SalesforceApiUsageAtCeiling'].Threshold).toBe(65);
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
      'Contacts requested / uploaded / skipped / failed',
      'Contacts failed by reason',
      'Duration (ms)',
      'Throttles',
      'Concurrent executions',
      'Salesforce API usage (%)',
    ]);
    expect(widgets['Salesforce API usage (%)'].annotations.horizontal).toEqual([
      expect.objectContaining({ value: 80, label: 'Ceiling' }),
    ]);
    expect(widgets['Contacts failed by reason'].metrics).toEqual([
      [
        expect.objectContaining({
          expression: `SEARCH('{ContactDataSync,FunctionName,Reason} FunctionName="\${${fn}}" MetricName="ContactsFailed"', 'Sum', 300)`,
        }),
      ],
    ]);
    expect(widgets['Contacts requested / uploaded / skipped / failed'].metrics.map((m: Json[]) => m.slice(0, 4))).toEqual(
      ['ContactsRequested', 'ContactsUploaded', 'ContactsSkipped', 'ContactsFailed'].map((name) => [
        'ContactDataSync',
        name,
        'FunctionName',
        `\${${fn}}`,
      ]),
    );
    expect(widgets['Duration (ms)'].metrics.map((m: Json[]) => m[4].label)).toEqual([
      'Manual Average',
      'Manual p99',
      'Manual Maximum',
    ]);
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
    t.hasOutput('SalesforceSecretArn', {
      Value: { Ref: onlyResource(t, 'AWS::SecretsManager::Secret').id },
      Description: Match.stringLikeRegexp('put-secret-value'),
    });
    t.hasOutput('FunctionName', { Value: { Ref: fn } });
    t.hasOutput('FunctionArn', { Value: { 'Fn::GetAtt': [fn, 'Arn'] } });
    t.hasOutput('AlarmTopicArn', { Value: { Ref: onlyResource(t, 'AWS::SNS::Topic').id } });
    t.hasOutput('DashboardName', { Value: { Ref: onlyResource(t, 'AWS::CloudWatch::Dashboard').id } });
    expect(render(t.findOutputs('InvokeExample').InvokeExample.Value)).toBe(
      `aws lambda invoke --function-name \${${fn}} --cli-binary-format raw-in-base64-out ` +
        `--payload '{"operation":"uploadTranscript","payload":[{"contactId":"faaa3a21-5990-48cd-a035-e85ca8c861ff","relatedRecords":["0LQ1Q000002TZtn"]}]}' response.json`,
    );
  });

  test('name the imported default secret, which belongs to SCV and is not to be overwritten', () => {
    const t = template(MODES['SCV secrets with extras and token caches']);
    const outputs = t.findOutputs('*');
    expect(outputs.SalesforceSecretArn.Value).toBe(SECRET_ARN);
    expect(outputs.SalesforceSecretArn.Description).not.toMatch(/put-secret-value/);
  });

  test('name the SCV call center instead of a secret in SSM mode, and keep the invoke command', () => {
    const t = template(MODES['SCV SSM parameters']);
    expect(Object.keys(t.findOutputs('*')).sort()).toEqual(
      ['AlarmTopicArn', 'DashboardName', 'FunctionArn', 'FunctionName', 'InvokeExample', 'SalesforceSsmCallCenter'],
    );
    t.hasOutput('SalesforceSsmCallCenter', {
      Value: 'AcmeCallCenter',
      Description: Match.stringLikeRegexp('salesforce-rest-api-'),
    });
    expect(render(t.findOutputs('InvokeExample').InvokeExample.Value)).toMatch(/^aws lambda invoke --function-name /);
  });
});

describe('logical IDs', () => {
  // Listed from stacks synthesized before the ContactDataSync construct existed: the stack adds it
  // as `Default`, which CDK leaves out of logical IDs, so updating such a stack replaces nothing
  // (not the retained log group, not the created secret).
  const BEFORE_THE_CONSTRUCT: Record<string, [Record<string, string>, string[]]> = {
         'created secret, analysis bucket, alarm email, backfill and auto repair': [
           {
             autoRepair: 'true',
             backfill: 'true',
             reservedConcurrency: '5',
             analysisBucket: ANALYSIS_BUCKET,
             alarmEmail: 'ops@example.com',
           },
           [
         'AutoRepairCallEnded6FB9692F', 'AutoRepairDeadLetterQueue0114605C', 'AutoRepairDeadLetterQueuePolicyE6D539A0',
         'AutoRepairEventSourceMappingF54CC3CC', 'AutoRepairQueue12DA712B', 'AutoRepairQueuePolicyBC3CDE4B',
         'BackfillBucket53F2FF3F', 'BackfillBucketPolicyCED6F80E', 'BackfillStateMachine395F6B27',
         'BackfillStateMachineLogs3E950448', 'BackfillStateMachineRoleA80C4BB3',
         'BackfillStateMachineRoleDefaultPolicy985794CC', 'ContactDataSyncFunctionEEE32109',
         'ContactDataSyncLogGroup4A0B6086', 'ContactDataSyncRole3F544687', 'ContactDataSyncRoleDefaultPolicy29F4A9E6',
         'ContactDataSyncWorker63108D7A', 'ContactDataSyncWorkerRole7ECD3331',
         'ContactDataSyncWorkerRoleDefaultPolicyA3832A5B', 'MonitoringAlarmTopicAF62D4F1',
         'MonitoringAlarmTopicKeyFFA45DC9', 'MonitoringAlarmTopicPolicyCB9CCFB0',
         'MonitoringAlarmTopicopsexamplecomF2F02329', 'MonitoringAutoRepairBacklogB89F7D01',
         'MonitoringAutoRepairCallWaitingLongC828E90D', 'MonitoringAutoRepairDeadLetters206379A5',
         'MonitoringBackfillExecutionsFailed5A91A934', 'MonitoringContactsFailedC3944FAB', 'MonitoringDashboard0C3675C6',
         'MonitoringFunctionDurationNearTimeout3BD14277', 'MonitoringFunctionErrors40FB895E',
         'MonitoringFunctionThrottles03791191', 'MonitoringSalesforceApiUsageAtCeiling405818F3',
         'MonitoringWorkerDurationNearTimeoutEBDBC30E', 'MonitoringWorkerErrors9950FBB3',
         'MonitoringWorkerThrottles705AC86D', 'Output:AlarmTopicArn', 'Output:AutoRepairDeadLetterQueueUrl',
         'Output:AutoRepairQueueUrl', 'Output:AutoRepairRedriveExample', 'Output:BackfillBucketName',
         'Output:BackfillStartExample', 'Output:BackfillStateMachineArn', 'Output:DashboardName', 'Output:FunctionArn',
         'Output:FunctionName', 'Output:InvokeExample', 'Output:SalesforceSecretArn', 'Output:WorkerFunctionName',
         'SalesforceSecretC770C87D',
           ],
         ],
         'SCV SSM parameters': [
           MODES['SCV SSM parameters'],
           [
         'ContactDataSyncFunctionEEE32109', 'ContactDataSyncLogGroup4A0B6086', 'ContactDataSyncRole3F544687',
         'ContactDataSyncRoleDefaultPolicy29F4A9E6', 'MonitoringAlarmTopicAF62D4F1', 'MonitoringAlarmTopicKeyFFA45DC9',
         'MonitoringAlarmTopicPolicyCB9CCFB0', 'MonitoringContactsFailedC3944FAB', 'MonitoringDashboard0C3675C6',
         'MonitoringFunctionDurationNearTimeout3BD14277', 'MonitoringFunctionErrors40FB895E',
         'MonitoringFunctionThrottles03791191', 'MonitoringSalesforceApiUsageAtCeiling405818F3', 'Output:AlarmTopicArn',
         'Output:DashboardName', 'Output:FunctionArn', 'Output:FunctionName', 'Output:InvokeExample',
         'Output:SalesforceSsmCallCenter',
           ],
         ],
  };
  test.each(Object.entries(BEFORE_THE_CONSTRUCT))('are those of the stack before the construct (%s)', (_mode, [context, ids]) => {
         const t = template(context).toJSON();
         const found = [...Object.keys(t.Resources), ...Object.keys(t.Outputs).map((id) => `Output:${id}`)];
         expect(found.sort()).toEqual(ids);
  });
});
