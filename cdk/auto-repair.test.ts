import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import {
  AUTO_REPAIR_MODES,
  BACKFILL_MODES,
  INSTANCE_ID,
  Json,
  MODES,
  allStatements,
  buildStack,
  manualFunctionOf,
  onlyResource,
  render,
  workerFunctionOf,
} from './test-support';

const template = (context: Record<string, string> = {}) => Template.fromStack(buildStack(context));
const AUTO_REPAIR = AUTO_REPAIR_MODES['created secret, auto repair'];
const TUNED = AUTO_REPAIR_MODES['imported SCV secret, auto repair with its own delay, batches, concurrency and receives'];
const WITH_BACKFILL = AUTO_REPAIR_MODES['SCV SSM parameters, backfill and auto repair'];

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
/** The same settings without automatic repair. */
const withoutAutoRepair = (context: Record<string, string>) =>
  Object.fromEntries(Object.entries(context).filter(([key]) => !key.startsWith('autoRepair')));

/** The logical IDs the auto-repair resources are referred to by. */
function ids(t: Template) {
  const queues = Object.entries<Json>(t.findResources('AWS::SQS::Queue'));
  expect(queues).toHaveLength(2);
  const queue = queues.find(([, resource]) => resource.Properties.RedrivePolicy !== undefined);
  const deadLetterQueue = queues.find(([, resource]) => resource.Properties.RedrivePolicy === undefined);
  return {
    queue: queue![0],
    deadLetterQueue: deadLetterQueue![0],
    rule: onlyResource(t, 'AWS::Events::Rule').id,
    fn: workerFunctionOf(t).id,
  };
}

/** The statements of the policy of the worker's role, or of the manual function's. */
function functionStatements(t: Template, role: 'WorkerRole' | 'Role' = 'WorkerRole'): Json[] {
  const policies = Object.values<Json>(t.findResources('AWS::IAM::Policy')).filter((policy) =>
    policy.Properties.Roles.some((r: Json) => r.Ref.startsWith(`ContactDataSync${role}`)),
  );
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement;
}

/** The statements of the queue policy attached to `queue`. */
function queuePolicyStatements(t: Template, queue: string): Json[] {
  const policies = Object.values<Json>(t.findResources('AWS::SQS::QueuePolicy')).filter(
    (policy) => JSON.stringify(policy.Properties.Queues) === JSON.stringify([{ Ref: queue }]),
  );
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement;
}

const tlsOnly = (queue: string) => ({
  Effect: 'Deny',
  Action: 'sqs:*',
  Principal: { AWS: '*' },
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  Resource: arnOf(queue),
});

describe('without the setting', () => {
  test.each(Object.entries({ ...MODES, ...BACKFILL_MODES, 'auto repair off': { autoRepair: 'false' } }))(
    'no queue, rule, mapping, SQS grant, output, alarm or dashboard row: %s',
    (_mode, context) => {
      const t = template(context);
      t.resourceCountIs('AWS::SQS::Queue', 0);
      t.resourceCountIs('AWS::SQS::QueuePolicy', 0);
      t.resourceCountIs('AWS::Events::Rule', 0);
      t.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
      const sqsActions = allStatements(t).flatMap(({ statement }) =>
        asArray<string>(statement.Action).filter((action) => action.startsWith('sqs:')),
      );
      expect(sqsActions).toEqual([]);
      expect(Object.keys(t.findOutputs('*')).filter((name) => name.startsWith('AutoRepair'))).toEqual([]);
      expect(Object.keys(t.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.includes('AutoRepair'))).toEqual([]);
      const body = render(onlyResource(t, 'AWS::CloudWatch::Dashboard').resource.Properties.DashboardBody);
      expect(body).not.toMatch(/repair|AWS\/SQS/i);
    },
  );
});

describe('rule', () => {
  test('matches exactly the DISCONNECTED voice calls of the configured instance, on the default bus', () => {
    const { resource } = onlyResource(template(AUTO_REPAIR), 'AWS::Events::Rule');
    const { instanceArn, ...detail } = resource.Properties.EventPattern.detail;
    expect(resource.Properties.EventPattern).toEqual({
      source: ['aws.connect'],
      'detail-type': ['Amazon Connect Contact Event'],
      detail: { ...detail, instanceArn },
    });
    expect(detail).toEqual({ eventType: ['DISCONNECTED'], channel: ['VOICE'] });
    expect(instanceArn.map(render)).toEqual([
      `arn:\${AWS::Partition}:connect:\${AWS::Region}:\${AWS::AccountId}:instance/${INSTANCE_ID}`,
    ]);
    expect(resource.Properties.EventBusName).toBeUndefined();
    expect(resource.Properties.State).toBe('ENABLED');
  });

  test('matches the DISCONNECTED event the function is tested with, and not that event of another type, channel or instance', () => {
    const event = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'tests', 'fixtures', 'events', 'contact-disconnected.json'), 'utf8'));
    const instanceId = event.detail.instanceArn.split('/').pop();
    const { resource } = onlyResource(template({ ...AUTO_REPAIR, connectInstanceId: instanceId }), 'AWS::Events::Rule');
    // The pattern as EventBridge sees it in the event's own partition, region and account.
    const pattern = JSON.parse(
      JSON.stringify(resource.Properties.EventPattern, (_key, value) =>
        value?.['Fn::Join'] === undefined
          ? value
          : render(value)
              .replace('${AWS::Partition}', 'aws')
              .replace('${AWS::Region}', event.region)
              .replace('${AWS::AccountId}', event.account),
      ),
    );
    // Exact-value matching, the only kind the pattern uses.
    const matches = (p: Json, e: Json): boolean =>
      Object.entries<Json>(p).every(([key, expected]) =>
        Array.isArray(expected) ? expected.includes(e?.[key]) : matches(expected, e?.[key]),
      );
    expect(matches(pattern, event)).toBe(true);
    const changed = (detail: Json) => ({ ...event, detail: { ...event.detail, ...detail } });
    expect(matches(pattern, changed({ eventType: 'CONNECTED_TO_AGENT' }))).toBe(false);
    expect(matches(pattern, changed({ channel: 'CHAT' }))).toBe(false);
    expect(matches(pattern, changed({ instanceArn: event.detail.instanceArn.replace(instanceId, INSTANCE_ID) }))).toBe(false);
  });

  test('sends the whole event to the queue, without a role or an input transformer', () => {
    const t = template(AUTO_REPAIR);
    const { resource } = onlyResource(t, 'AWS::Events::Rule');
    expect(resource.Properties.Targets).toEqual([{ Id: 'Target0', Arn: arnOf(ids(t).queue) }]);
  });
});

describe('queues', () => {
  test.each([
    // [mode, delay, visibility timeout (6 × the function timeout), receives]
    ['by default', AUTO_REPAIR, 600, 6 * 900, 5],
    ['as configured', TUNED, 900, 6 * 300, 3],
  ])('the queue delays, hides and keeps the calls %s, then hands them to the dead-letter queue', (_name, context, delay, visibility, receives) => {
    const t = template(context);
    const { queue, deadLetterQueue } = ids(t);
    expect(t.findResources('AWS::SQS::Queue')[queue].Properties).toEqual({
      DelaySeconds: delay,
      VisibilityTimeout: visibility,
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: arnOf(deadLetterQueue), maxReceiveCount: receives },
    });
  });

  test('a transcript horizon reaches the function, and only when given', () => {
    const t = template({ ...AUTO_REPAIR, autoRepairTranscriptHorizonHours: '72' });
    const environment = workerFunctionOf(t).resource.Properties.Environment.Variables;
    expect(environment.REPAIR_TRANSCRIPT_HORIZON_HOURS).toBe('72');
    const byDefault = workerFunctionOf(template(AUTO_REPAIR)).resource.Properties.Environment.Variables;
    expect(byDefault).not.toHaveProperty('REPAIR_TRANSCRIPT_HORIZON_HOURS');
  });

  test('a delay of 0 is kept, not dropped', () => {
    const t = template({ ...AUTO_REPAIR, autoRepairDelaySeconds: '0' });
    expect(t.findResources('AWS::SQS::Queue')[ids(t).queue].Properties.DelaySeconds).toBe(0);
  });

  test('the dead-letter queue is SSE-SQS encrypted and keeps calls 14 days, without a delay or a redrive of its own', () => {
    const t = template(TUNED);
    expect(t.findResources('AWS::SQS::Queue')[ids(t).deadLetterQueue].Properties).toEqual({
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  test.each(Object.entries(AUTO_REPAIR_MODES))(
    'both are TLS-only, and only EventBridge may send, and only for the rule (%s)',
    (_mode, context) => {
      const t = template(context);
      const { queue, deadLetterQueue, rule } = ids(t);
      t.resourceCountIs('AWS::SQS::QueuePolicy', 2);
      expect(queuePolicyStatements(t, deadLetterQueue)).toEqual([tlsOnly(deadLetterQueue)]);
      expect(queuePolicyStatements(t, queue)).toEqual([
        tlsOnly(queue),
        {
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Resource: arnOf(queue),
          Condition: { ArnEquals: { 'aws:SourceArn': arnOf(rule) } },
        },
      ]);
    },
  );

  test.each(Object.entries(AUTO_REPAIR_MODES))(
    'only EventBridge and the worker (deferring a call) may send, and only to the queue (%s)',
    (_mode, context) => {
      const t = template({ ...context, alarmEmail: 'ops@example.com' });
      const { queue } = ids(t);
      const senders = allStatements(t)
        .map(({ statement }) => statement)
        .filter(
          (statement) =>
            statement.Effect === 'Allow' &&
            asArray<string>(statement.Action).some((action) => ['sqs:SendMessage', 'sqs:*', '*'].includes(action)),
        );
      expect(senders).toEqual([
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(queue) },
        expect.objectContaining({ Principal: { Service: 'events.amazonaws.com' } }),
      ]);
      expect(functionStatements(t)).toContainEqual(senders[0]);
    },
  );
});

describe('event source mapping', () => {
  test.each([
    ['by default', AUTO_REPAIR, 10, 2],
    ['as configured', TUNED, 50, 3],
  ])('hands the function batches of calls from the queue %s, reporting the failed ones', (_name, context, batchSize, concurrency) => {
    const t = template(context);
    const { queue, fn } = ids(t);
    expect(onlyResource(t, 'AWS::Lambda::EventSourceMapping').resource.Properties).toEqual({
      EventSourceArn: arnOf(queue),
      FunctionName: { Ref: fn },
      BatchSize: batchSize,
      MaximumBatchingWindowInSeconds: 30,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: concurrency },
    });
  });

  test('is created after the function may receive from the queue', () => {
    const t = template(AUTO_REPAIR);
    const policy = Object.keys(t.findResources('AWS::IAM::Policy')).find((id) => id.startsWith('ContactDataSyncWorkerRole'));
    expect(onlyResource(t, 'AWS::Lambda::EventSourceMapping').resource.DependsOn).toEqual([policy]);
  });
});

describe('function', () => {
  test.each(Object.entries(AUTO_REPAIR_MODES))(
    'the worker may receive, delete and read the attributes of the queue\'s messages and send to it, nothing else of SQS (%s)',
    (_mode, context) => {
      const t = template(context);
      const { queue, deadLetterQueue } = ids(t);
      const statements = functionStatements(t);
      const sqsStatements = statements.filter((statement) =>
        asArray<string>(statement.Action).some((action) => action.startsWith('sqs:')),
      );
      expect(sqsStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
          Resource: arnOf(queue),
        },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(queue) },
      ]);
      expect(JSON.stringify(statements)).not.toContain(deadLetterQueue);
      // The manual function gets nothing of SQS, and its grants stay as they were.
      const without = template(withoutAutoRepair(context));
      expect(JSON.stringify(functionStatements(t, 'Role'))).not.toContain('sqs:');
      expect(functionStatements(t, 'Role')).toEqual(functionStatements(without, 'Role'));
      // The worker's other grants are the manual function's, plus the backfill's where there is one.
      const backfillGrants = context.backfill === 'true' ? functionStatements(without) : functionStatements(without, 'Role');
      expect(statements.filter((statement) => !sqsStatements.includes(statement))).toEqual(backfillGrants);
      // Only the worker learns the queue's URL.
      expect(workerFunctionOf(t).resource.Properties.Environment.Variables.REPAIR_QUEUE_URL).toEqual({ Ref: queue });
      expect(manualFunctionOf(t).resource.Properties.Environment.Variables).not.toHaveProperty('REPAIR_QUEUE_URL');
    },
  );

  test.each(Object.entries(AUTO_REPAIR_MODES))(
    'no auto-repair statement has a wildcard action or a "*" resource (%s)',
    (_mode, context) => {
      const t = template(context);
      const { queue, deadLetterQueue } = ids(t);
      const touching = allStatements(t)
        .map(({ statement }) => statement)
        .filter((statement) => [queue, deadLetterQueue].some((id) => JSON.stringify(statement.Resource ?? '').includes(id)));
      // The worker's two grants, EventBridge's send, and the two TLS-only denials.
      expect(touching).toHaveLength(5);
      for (const statement of touching.filter(({ Effect }) => Effect === 'Allow')) {
        expect(asArray<string>(statement.Action).filter((action) => action.includes('*'))).toEqual([]);
        expect(asArray(statement.Resource)).toEqual([arnOf(queue)]);
      }
    },
  );
});

describe('monitoring', () => {
  const alarmsByName = (t: Template) =>
    Object.fromEntries(
      Object.values<Json>(t.findResources('AWS::CloudWatch::Alarm')).map((alarm) => [alarm.Properties.AlarmName, alarm.Properties]),
    );
  const queueDimension = (id: string) => [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id, 'QueueName'] } }];

  test.each([
    // [mode, backlog threshold: the delay, one visibility timeout (6 × the 900 s timeout) and an hour]
    ['by default', AUTO_REPAIR, 600 + 5400 + 3600],
    ['with the configured delay', TUNED, 900 + 6 * 300 + 3600],
  ])('alarms on dead letters and on a backlog beyond the delay %s, notifying the alarm topic', (_name, context, backlog) => {
    const t = template(context);
    const { queue, deadLetterQueue } = ids(t);
    const topic = [{ Ref: onlyResource(t, 'AWS::SNS::Topic').id }];
    const common = { AlarmActions: topic, Period: 300, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: 'notBreaching' };
    const alarms = alarmsByName(t);
    expect(Object.keys(alarms).filter((name) => name.includes('AutoRepair')).sort()).toEqual([
      'ContactDataSync-AutoRepairBacklog',
      'ContactDataSync-AutoRepairCallWaitingLong',
      'ContactDataSync-AutoRepairDeadLetters',
    ]);
    // Contact Lens keeps real-time segments 24 hours: the alarm leaves four to act.
    expect(alarms['ContactDataSync-AutoRepairCallWaitingLong']).toMatchObject({
      ...common,
      Namespace: 'ContactDataSync',
      MetricName: 'OldestWaitingCallAgeSeconds',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids(t).fn } }],
      Statistic: 'Maximum',
      Threshold: 20 * 3600,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms['ContactDataSync-AutoRepairDeadLetters']).toMatchObject({
      ...common,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: queueDimension(deadLetterQueue),
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms['ContactDataSync-AutoRepairBacklog']).toMatchObject({
      ...common,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: queueDimension(queue),
      Statistic: 'Maximum',
      Threshold: backlog,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    // The functions' own alarms stay, and the worker gets its own.
    expect(Object.keys(alarms).filter((name) => name.includes('-Worker')).sort()).toEqual([
      'ContactDataSync-WorkerDurationNearTimeout',
      'ContactDataSync-WorkerErrors',
      'ContactDataSync-WorkerThrottles',
    ]);
    expect(Object.keys(alarms)).toHaveLength(11);
  });

  test('the backfill alarm stays alongside', () => {
    expect(Object.keys(alarmsByName(template(WITH_BACKFILL))).sort()).toEqual([
      'ContactDataSync-AutoRepairBacklog',
      'ContactDataSync-AutoRepairCallWaitingLong',
      'ContactDataSync-AutoRepairDeadLetters',
      'ContactDataSync-BackfillExecutionsFailed',
      'ContactDataSync-ContactsFailed',
      'ContactDataSync-FunctionDurationNearTimeout',
      'ContactDataSync-FunctionErrors',
      'ContactDataSync-FunctionThrottles',
      'ContactDataSync-SalesforceApiUsageAtCeiling',
      'ContactDataSync-WorkerDurationNearTimeout',
      'ContactDataSync-WorkerErrors',
      'ContactDataSync-WorkerThrottles',
    ]);
  });

  test('the dashboard gets rows of calls checked, failures and retries by reason, dead letters, deferrals and waiting calls, after the backfill\'s', () => {
    const t = template(WITH_BACKFILL);
    const { fn, deadLetterQueue } = ids(t);
    const body = JSON.parse(render(onlyResource(t, 'AWS::CloudWatch::Dashboard').resource.Properties.DashboardBody));
    const widgets = Object.fromEntries(body.widgets.map((w: Json) => [w.properties.title, w]));
    expect(Object.keys(widgets).slice(-7)).toEqual([
      'Backfill executions started / succeeded / failed',
      'Backfill executions timed out / aborted',
      'Calls checked / gaps repaired / already complete / covered by last leg',
      'Repairs failed / retried by reason',
      'Auto-repair dead letters',
      'Calls deferred for a quota budget',
      'Oldest waiting call (s)',
    ]);
    expect(widgets['Calls deferred for a quota budget'].properties.metrics.map((m: Json[]) => m.slice(0, 4))).toEqual([
      ['ContactDataSync', 'RepairDeferred', 'FunctionName', `\${${fn}}`],
    ]);
    expect(widgets['Oldest waiting call (s)'].properties.annotations.horizontal).toEqual([
      expect.objectContaining({ value: 72_000, label: 'Alarm' }),
    ]);
    const row = Object.values<Json>(widgets).slice(-5, -2);
    expect(row.map((w) => [w.width, w.y])).toEqual([
      [8, row[0].y],
      [8, row[0].y],
      [8, row[0].y],
    ]);
    expect(widgets['Calls checked / gaps repaired / already complete / covered by last leg'].properties.metrics.map((m: Json[]) => m.slice(0, 4))).toEqual(
      ['CallsChecked', 'GapsRepaired', 'AlreadyComplete', 'CoveredByLastLeg'].map((name) => ['ContactDataSync', name, 'FunctionName', `\${${fn}}`]),
    );
    expect(widgets['Repairs failed / retried by reason'].properties.metrics).toEqual(
      [
        ['RepairFailed', 'Failed'],
        ['RepairRetried', 'Retried'],
      ].map(([name, label]) => [
        expect.objectContaining({
          expression: `SEARCH('{ContactDataSync,FunctionName,Reason} FunctionName="\${${fn}}" MetricName="${name}"', 'Sum', 300)`,
          label: `${label} \${PROP('Dim.Reason')}`,
        }),
      ]),
    );
    expect(widgets['Auto-repair dead letters'].properties.metrics.map((m: Json[]) => m.slice(0, 4))).toEqual([
      ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', `\${${deadLetterQueue}.QueueName}`],
    ]);
  });
});

describe('outputs', () => {
  test('name both queues, and show how to move the dead letters back into the queue', () => {
    const t = template(AUTO_REPAIR);
    const { queue, deadLetterQueue } = ids(t);
    expect(Object.keys(t.findOutputs('*')).filter((name) => name.startsWith('AutoRepair')).sort()).toEqual([
      'AutoRepairDeadLetterQueueUrl',
      'AutoRepairQueueUrl',
      'AutoRepairRedriveExample',
    ]);
    t.hasOutput('AutoRepairQueueUrl', { Value: { Ref: queue } });
    t.hasOutput('AutoRepairDeadLetterQueueUrl', { Value: { Ref: deadLetterQueue } });
    expect(render(t.findOutputs('AutoRepairRedriveExample').AutoRepairRedriveExample.Value)).toBe(
      `aws sqs start-message-move-task --source-arn \${${deadLetterQueue}.Arn} --destination-arn \${${queue}.Arn}`,
    );
  });

  test('the backfill outputs stay alongside', () => {
    const names = Object.keys(template(WITH_BACKFILL).findOutputs('*'));
    expect(names).toEqual(expect.arrayContaining(['BackfillStateMachineArn', 'BackfillBucketName', 'AutoRepairQueueUrl']));
  });
});
