import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DEFINITION_FILE, MAP_STATES, withMapSizing } from './backfill';
import { BACKFILL_MODES, Json, MODES, buildStack, manualFunctionOf, onlyResource, render, workerFunctionOf } from './test-support';

const template = (context: Record<string, string> = {}) => Template.fromStack(buildStack(context));
const BACKFILL = BACKFILL_MODES['created secret, backfill'];
const OWN_SIZING = BACKFILL_MODES['SCV SSM parameters, backfill with its own concurrency and retention'];
const QUOTA_SIZING = BACKFILL_MODES['SCV secrets with KMS keys, analysis bucket, backfill sized by the Contact Lens quota'];


const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The logical IDs the backfill's resources are referred to by. */
function ids(t: Template) {
  return {
    bucket: onlyResource(t, 'AWS::S3::Bucket').id,
    fn: workerFunctionOf(t).id,
    stateMachine: onlyResource(t, 'AWS::StepFunctions::StateMachine').id,
  };
}

/** The statements of the IAM policy attached to the role whose logical ID starts with `rolePrefix`. */
function roleStatements(t: Template, rolePrefix: string): Json[] {
  const policies = Object.values<Json>(t.findResources('AWS::IAM::Policy')).filter((policy) =>
    policy.Properties.Roles.some((role: Json) => role.Ref.startsWith(rolePrefix)),
  );
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement;
}

/** The state machine's definition with each substitution rendered as a `${...}` placeholder. */
function definitionOf(t: Template): Json {
  const { DefinitionString, DefinitionSubstitutions } = onlyResource(t, 'AWS::StepFunctions::StateMachine').resource.Properties;
  let text = render(DefinitionString);
  for (const [name, value] of Object.entries<Json>(DefinitionSubstitutions)) {
    text = text.split(`\${${name}}`).join(render(value));
  }
  return JSON.parse(text);
}

const fileDefinition = () => JSON.parse(fs.readFileSync(DEFINITION_FILE, 'utf8'));

describe('without the setting', () => {
  test.each(Object.entries({ ...MODES, 'backfill off': { backfill: 'false' } }))(
    'no backfill resource, variable, output or alarm: %s',
    (_mode, context) => {
      const t = template(context);
      t.resourceCountIs('AWS::S3::Bucket', 0);
      t.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
      expect(Object.keys(manualFunctionOf(t).resource.Properties.Environment.Variables)).not.toContain(
        'BACKFILL_BUCKET',
      );
      expect(Object.keys(t.findOutputs('*')).filter((name) => name.startsWith('Backfill'))).toEqual([]);
      expect(Object.keys(t.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.includes('Backfill'))).toEqual([]);
    },
  );
});

describe('bucket', () => {
  test('is encrypted, private, TLS-only, owner-enforced and retained', () => {
    const t = template(BACKFILL);
    const { id, resource } = onlyResource(t, 'AWS::S3::Bucket');
    expect(resource.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    const policy = onlyResource(t, 'AWS::S3::BucketPolicy').resource.Properties;
    expect(policy.Bucket).toEqual({ Ref: id });
    expect(policy.PolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Resource: [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/*']] }],
      }),
    ]);
  });

  test.each([
    ['by default', BACKFILL, 90],
    ['as configured', OWN_SIZING, 30],
  ])('expires objects %s and aborts incomplete uploads after a day', (_name, context, days) => {
    expect(onlyResource(template(context), 'AWS::S3::Bucket').resource.Properties.LifecycleConfiguration).toEqual({
      Rules: [{ ExpirationInDays: days, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }],
    });
  });
});

describe('state machine', () => {
  test('is the definition file with the configured MaxConcurrency, and its substitutions name the function and the bucket', () => {
    const t = template(OWN_SIZING);
    const { bucket, fn } = ids(t);
    const { DefinitionString, DefinitionSubstitutions } = onlyResource(t, 'AWS::StepFunctions::StateMachine').resource.Properties;
    // Three batches at once, each worker instance with 100 entries reads an hour: 20 in 720 s.
    expect(JSON.parse(render(DefinitionString))).toEqual(withMapSizing(fileDefinition(), 3, 20));
    expect(DefinitionSubstitutions).toEqual({ FunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] }, BackfillBucket: { Ref: bucket } });
  });

  describe.each(MAP_STATES)('the %s Distributed Map', (mapName) => {
    const t = template(BACKFILL);
    const { bucket, fn } = ids(t);
    const definition = definitionOf(t);
    const map = definition.States[mapName];

    test('reads the manifest named in the input from the backfill bucket', () => {
      expect(map.Type).toBe('Map');
      expect(map.ItemReader).toEqual({
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: mapName === 'UploadCsv' ? { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' } : { InputType: 'JSONL' },
        Parameters: { Bucket: `\${${bucket}}`, 'Key.$': '$.manifestKey' },
      });
    });

    test('hands the worker a batch of contacts per invocation as an uploadTranscript request', () => {
      // What the worker's share of 300 entries reads an hour reads in 720 s.
      expect(map.ItemBatcher).toEqual({ MaxItemsPerBatch: 60 });
      expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      const tasks = Object.values<Json>(map.ItemProcessor.States);
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: `\${${fn}.Arn}`, Payload: { operation: 'uploadTranscript', 'payload.$': '$.Items' } },
      });
    });

    test('runs the default number of child executions, tolerates every failure and writes the results', () => {
      expect(map.MaxConcurrency).toBe(1);
      expect(map.ToleratedFailurePercentage).toBe(100);
      expect(map.ResultWriter).toEqual({
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: `\${${bucket}}`, Prefix: 'results' },
      });
      expect(map.Next).toBe('Summarize');
    });
  });

  test('splits the CSV manifest\'s relatedRecords on ";"', () => {
    expect(definitionOf(template(BACKFILL)).States.UploadCsv.ItemSelector).toEqual({
      'contactId.$': '$$.Map.Item.Value.contactId',
      'relatedRecords.$': "States.StringSplit($$.Map.Item.Value.relatedRecords, ';')",
    });
  });

  test('starts from a manifest or a time window, chooses the map by the manifest\'s extension and ends with the summarizeBackfill task', () => {
    const t = template(BACKFILL);
    const definition = definitionOf(t);
    expect(definition.StartAt).toBe('ManifestSource');
    expect(definition.States.ManifestSource).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.from', IsPresent: true, Next: 'BuildWindowManifest' }],
      Default: 'ManifestFormat',
    });
    expect(definition.States.ManifestFormat).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.manifestKey', StringMatches: '*.jsonl', Next: 'UploadJsonLines' }],
      Default: 'UploadCsv',
    });
    expect(definition.States.Summarize).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        FunctionName: `\${${ids(t).fn}.Arn}`,
        Payload: { operation: 'summarizeBackfill', 'manifestKey.$': '$.manifestKey' },
      },
      End: true,
    });
  });

  test('a time window has the function build its manifest, and a rejected window fails the execution with the function\'s reason', () => {
    const t = template(BACKFILL);
    const { States } = definitionOf(t);
    expect(States.BuildWindowManifest).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        FunctionName: `\${${ids(t).fn}.Arn}`,
        Payload: {
          operation: 'buildBackfillManifest',
          'from.$': '$.from',
          'to.$': '$.to',
          'executionName.$': '$$.Execution.Name',
        },
      },
      // The function's answer ({manifestKey} or {statusCode, body}) becomes the state's output.
      OutputPath: '$.Payload',
      Next: 'WindowAccepted',
    });
    expect(States.WindowAccepted).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.statusCode', IsPresent: true, Next: 'WindowRejected' }],
      Default: 'ManifestFormat',
    });
    expect(States.WindowRejected).toEqual({ Type: 'Fail', Error: 'BadRequest', CausePath: '$.body' });
  });

  test.each([
    ['the configured MaxConcurrency', OWN_SIZING, 3],
    // One per request per second of the quota (10), at most the reserved 10 less one for manual invocations.
    ['the MaxConcurrency the Contact Lens quota allows', QUOTA_SIZING, 9],
  ])('both maps run %s', (_name, context, expected) => {
    const definition = definitionOf(template(context));
    expect(MAP_STATES.map((name) => definition.States[name].MaxConcurrency)).toEqual([expected, expected]);
  });

  test.each([
    // The worker's one instance reads 300 entries an hour: 60 in 80 % of the 900 s timeout.
    ['the defaults', BACKFILL, 60],
    ['three batches at once', OWN_SIZING, 20],
    // 7,500 entries reads an hour; 0.7222 Contact Lens requests a second allow 260 contacts: the contract's 100.
    ['a raised entries budget', { ...BACKFILL, salesforceEntriesReadsPerHour: '8000' }, 100],
    // 240 s: manual invocations take three quarters of the Contact Lens budget, the worker's 0.25/s reads 30.
    ['a raised entries budget and a 300 s timeout', { ...BACKFILL, salesforceEntriesReadsPerHour: '8000', timeoutSeconds: '300' }, 30],
  ])('batches as many contacts as one worker share reads within the timeout: %s', (_name, context, expected) => {
    const definition = definitionOf(template(context));
    expect(MAP_STATES.map((name) => definition.States[name].ItemBatcher.MaxItemsPerBatch)).toEqual([expected, expected]);
  });

  test('is a named standard workflow, traced, logging every event without execution data', () => {
    const t = template({ ...BACKFILL, logRetentionDays: '30' });
    const { resource } = onlyResource(t, 'AWS::StepFunctions::StateMachine');
    const stateMachineLogs = Object.entries<Json>(t.findResources('AWS::Logs::LogGroup')).find(([id]) => id.startsWith('Backfill'));
    expect(resource.Properties).toMatchObject({
      StateMachineName: 'ContactDataSync-Backfill',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [stateMachineLogs?.[0], 'Arn'] } } }],
      },
    });
    expect(stateMachineLogs?.[1].Properties).toEqual({
      LogGroupName: '/aws/vendedlogs/states/ContactDataSync-Backfill',
      RetentionInDays: 30,
    });
  });

  test('a definition whose Map states are renamed, missing or added fails loudly', () => {
    const definition = fileDefinition();
    const renamed = structuredClone(definition);
    renamed.States.UploadCsvFile = renamed.States.UploadCsv;
    delete renamed.States.UploadCsv;
    expect(() => withMapSizing(renamed, 3, 100)).toThrow(
      /must have exactly the Map states UploadCsv, UploadJsonLines, found UploadJsonLines, UploadCsvFile/,
    );
    const added = structuredClone(definition);
    added.States.UploadParquet = { ...added.States.UploadCsv };
    expect(() => withMapSizing(added, 3, 100)).toThrow(/found UploadCsv, UploadJsonLines, UploadParquet/);
    expect(() => withMapSizing({ States: {} }, 3, 100)).toThrow(/found none/);
    // The file itself keeps its placeholder.
    withMapSizing(definition, 7, 10);
    expect(MAP_STATES.map((name) => definition.States[name].MaxConcurrency)).toEqual([2, 2]);
    expect(MAP_STATES.map((name) => definition.States[name].ItemBatcher.MaxItemsPerBatch)).toEqual([100, 100]);
  });
});

describe('state machine role', () => {
  const stackArn = (resource: string) => ({
    'Fn::Join': [
      '',
      ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`],
    ],
  });
  const objects = (bucket: string, prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${prefix}*`]] });

  test.each(Object.entries(BACKFILL_MODES))('has exactly the statements the backfill needs (%s)', (_mode, context) => {
    const t = template(context);
    const { bucket, fn } = ids(t);
    expect(roleStatements(t, 'BackfillStateMachineRole')).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [fn, 'Arn'] } },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: [objects(bucket, 'manifests/'), objects(bucket, 'results/')] },
      {
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        Resource: objects(bucket, 'results/'),
      },
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: stackArn('stateMachine:ContactDataSync-Backfill') },
      {
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:StopExecution'],
        Resource: stackArn('execution:ContactDataSync-Backfill/*'),
      },
      {
        Effect: 'Allow',
        Action: [
          'logs:CreateLogDelivery',
          'logs:GetLogDelivery',
          'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies',
          'logs:DescribeLogGroups',
        ],
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
        Resource: '*',
      },
    ]);
  });

  test('names no other function or bucket, no wildcard action, and "*" only for the logging and X-Ray APIs', () => {
    const t = template(QUOTA_SIZING);
    const { bucket, fn } = ids(t);
    for (const statement of roleStatements(t, 'BackfillStateMachineRole')) {
      const actions = asArray<string>(statement.Action);
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);
      for (const resource of asArray<Json>(statement.Resource).map(render)) {
        if (resource === '*') {
          expect(actions.every((action) => /^(logs|xray):/.test(action))).toBe(true);
        } else {
          expect(resource).toMatch(
            new RegExp(
              `^(\\$\\{${fn}\\.Arn\\}|\\$\\{${bucket}\\.Arn\\}/(manifests|results)/\\*|` +
                'arn:\\$\\{AWS::Partition\\}:states:\\$\\{AWS::Region\\}:\\$\\{AWS::AccountId\\}:' +
                '(stateMachine:ContactDataSync-Backfill|execution:ContactDataSync-Backfill/\\*))$',
            ),
          );
        }
      }
    }
  });

  test('is assumable by Step Functions only, for state machines of this account', () => {
    const t = template(BACKFILL);
    const role = Object.entries<Json>(t.findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('BackfillStateMachineRole'));
    expect(role?.[1].Properties.ManagedPolicyArns).toBeUndefined();
    expect(role?.[1].Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'states.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': stackArn('stateMachine:*') },
        },
      },
    ]);
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { RoleArn: { 'Fn::GetAtt': [role?.[0], 'Arn'] } });
  });

  test.each(Object.entries(BACKFILL_MODES))(
    'no other statement in the stack has a wildcard action or a "*" resource (%s)',
    (_mode, context) => {
      const t = template({ ...context, alarmEmail: 'ops@example.com' });
      for (const [id, resource] of Object.entries<Json>(t.toJSON().Resources)) {
        const document = resource.Properties?.PolicyDocument;
        // The alarm key's policy (KeyPolicy) is the stack test's concern; the state machine role's is checked above.
        if (document === undefined || id.startsWith('BackfillStateMachineRole')) continue;
        for (const statement of document.Statement) {
          // The bucket's TLS-only statement denies every action.
          if (statement.Effect === 'Deny') continue;
          expect(asArray<string>(statement.Action).filter((action) => action.includes('*'))).toEqual([]);
          expect(asArray(statement.Resource)).not.toContain('*');
        }
      }
    },
  );
});

describe('function', () => {
  const resultsGrant = (bucket: string) => ({
    Effect: 'Allow',
    Action: ['s3:GetObject', 's3:PutObject'],
    Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/results/*']] },
  });
  // The manifest's multipart upload: PutObject creates, uploads and completes it; a failed one is aborted.
  const windowManifestsGrant = (bucket: string) => ({
    Effect: 'Allow',
    Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
    Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/manifests/windows/*']] },
  });

  test.each(Object.entries(BACKFILL_MODES))(
    'is told the bucket, may read and write its results and write window manifests only (%s)',
    (_mode, context) => {
      const t = template(context);
      const { bucket } = ids(t);
      expect(workerFunctionOf(t).resource.Properties.Environment.Variables).toMatchObject({
        BACKFILL_BUCKET: { Ref: bucket },
      });
      const backfillStatements = roleStatements(t, 'ContactDataSyncWorkerRole').filter((statement: Json) =>
        JSON.stringify(statement.Resource).includes(bucket),
      );
      expect(backfillStatements).toEqual([resultsGrant(bucket), windowManifestsGrant(bucket)]);
      // Manual invocations run no backfill step: the manual function neither knows nor may touch the bucket.
      expect(manualFunctionOf(t).resource.Properties.Environment.Variables).not.toHaveProperty('BACKFILL_BUCKET');
      expect(JSON.stringify(roleStatements(t, 'ContactDataSyncRole'))).not.toContain(bucket);
    },
  );

  test.each(Object.entries(BACKFILL_MODES))('sets only variables lambda/env-vars.json declares (%s)', (_mode, context) => {
    const declared: { required: string[]; salesforceSourceOneOf: string[][]; optional: string[] } = JSON.parse(
      fs.readFileSync(path.join(__dirname, '..', 'lambda', 'env-vars.json'), 'utf8'),
    );
    const known = new Set([...declared.required, ...declared.salesforceSourceOneOf.flat(), ...declared.optional]);
    const names = Object.keys(workerFunctionOf(template(context)).resource.Properties.Environment.Variables);
    expect(names.filter((name) => !known.has(name))).toEqual([]);
  });

  test('the backfill grants come after the Salesforce grants, and the analysis bucket grants stay as they were', () => {
    const t = template(QUOTA_SIZING);
    const { bucket } = ids(t);
    const statements = roleStatements(t, 'ContactDataSyncWorkerRole');
    expect(statements.slice(-2)).toEqual([resultsGrant(bucket), windowManifestsGrant(bucket)]);
    expect(statements.slice(0, -2)).toEqual(roleStatements(template({ ...QUOTA_SIZING, backfill: 'false' }), 'ContactDataSyncRole'));
  });

  test('the state machine role, not the function, reads the window manifests', () => {
    const t = template(BACKFILL);
    const { bucket } = ids(t);
    const functionReads = roleStatements(t, 'ContactDataSyncWorkerRole').filter((statement: Json) =>
      asArray<string>(statement.Action).includes('s3:GetObject'),
    );
    expect(functionReads).toEqual([resultsGrant(bucket)]);
  });
});

describe('outputs', () => {
  test('name the state machine and the bucket, and show a ready-to-paste start command', () => {
    const t = template(BACKFILL);
    const { bucket, stateMachine } = ids(t);
    expect(Object.keys(t.findOutputs('*')).filter((name) => name.startsWith('Backfill')).sort()).toEqual([
      'BackfillBucketName',
      'BackfillStartExample',
      'BackfillStateMachineArn',
    ]);
    t.hasOutput('BackfillStateMachineArn', { Value: { Ref: stateMachine } });
    t.hasOutput('BackfillBucketName', { Value: { Ref: bucket } });
    expect(render(t.findOutputs('BackfillStartExample').BackfillStartExample.Value)).toBe(
      `aws stepfunctions start-execution --state-machine-arn \${${stateMachine}} ` +
        `--input '{"manifestKey":"manifests/calls.csv"}'`,
    );
  });
});

describe('monitoring', () => {
  test('alarms when an execution fails, times out or is aborted, notifying the alarm topic', () => {
    const t = template(BACKFILL);
    const { stateMachine } = ids(t);
    const metric = (id: string, metricName: string) => ({
      Id: id,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/States',
          MetricName: metricName,
          Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachine } }],
        },
        Period: 300,
        Stat: 'Sum',
      },
      ReturnData: false,
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'ContactDataSync-BackfillExecutionsFailed',
      AlarmActions: [{ Ref: onlyResource(t, 'AWS::SNS::Topic').id }],
      Metrics: [
        Match.objectLike({ Expression: 'failed + timedOut + aborted', ReturnData: true }),
        metric('failed', 'ExecutionsFailed'),
        metric('timedOut', 'ExecutionsTimedOut'),
        metric('aborted', 'ExecutionsAborted'),
      ],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  test('the dashboard gets a row of backfill executions after the function\'s', () => {
    const t = template(BACKFILL);
    const { stateMachine } = ids(t);
    const body = JSON.parse(render(onlyResource(t, 'AWS::CloudWatch::Dashboard').resource.Properties.DashboardBody));
    const widgets = Object.fromEntries(body.widgets.map((w: Json) => [w.properties.title, w.properties]));
    expect(Object.keys(widgets).slice(-2)).toEqual([
      'Backfill executions started / succeeded / failed',
      'Backfill executions timed out / aborted',
    ]);
    expect(widgets['Backfill executions started / succeeded / failed'].metrics.map((m: Json[]) => m.slice(0, 4))).toEqual(
      ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed'].map((name) => [
        'AWS/States',
        name,
        'StateMachineArn',
        `\${${stateMachine}}`,
      ]),
    );
  });
});
