import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { InstanceCounts } from './quota-shares';

/** Namespace of the Embedded Metric Format metrics the function writes to its log. */
export const METRIC_NAMESPACE = 'ContactDataSync';
const PERIOD = Duration.minutes(5);
/** Duration above this share of the timeout means the batches are too big for one invocation. */
const DURATION_ALARM_SHARE = 0.8;

export interface MonitoringProps {
  /** The function of manual invocations. */
  readonly function: lambda.Function;
  /**
   * The function of automatic repair and backfills.
   *
   * @default - no worker alarms or dashboard lines
   */
  readonly worker?: lambda.Function;
  readonly timeout: Duration;
  /** Each function's reserved concurrency, drawn on the concurrency graph. */
  readonly concurrency: InstanceCounts;
  /** The org's API usage at which the function stops spending it; the usage alarm fires there. */
  readonly apiUsageCeilingPercent: number;
  readonly failedContactsAlarmThreshold: number;
  readonly alarmEmail?: string;
  /**
   * The backfill state machine, whose failed executions raise an alarm too.
   *
   * @default - no backfill alarm or dashboard row
   */
  readonly backfillStateMachine?: sfn.IStateMachine;
  /**
   * The automatic repair queues, whose dead letters and backlog raise alarms too.
   *
   * @default - no auto-repair alarms or dashboard row
   */
  readonly autoRepair?: AutoRepairQueues;
}

/** What the automatic repair alarms and dashboard row watch. */
export interface AutoRepairQueues {
  /** The queue of calls to check. */
  readonly queue: sqs.IQueue;
  /** Where the calls that could not be repaired after every receive end up. */
  readonly deadLetterQueue: sqs.IQueue;
  /** How long each call waits before the function may receive it; the backlog alarm allows for it. */
  readonly deliveryDelay: Duration;
  /** How long a received call stays hidden; a retried call waits it out, which the alarm allows for too. */
  readonly visibilityTimeout: Duration;
}

/** Age beyond the delivery delay and one retry at which the auto-repair queue counts as backed up. */
const AUTO_REPAIR_BACKLOG_ALLOWANCE = Duration.hours(1);
/**
 * Age of a waiting call that raises an alarm: Contact Lens keeps real-time segments 24 hours, so
 * this leaves 4 hours to raise a quota or clear the cause before its transcript is gone.
 */
const WAITING_CALL_ALARM_AGE = Duration.hours(20);

/** Alarms on the function and its contact metrics, an SNS topic they notify, and a dashboard. */
export class Monitoring extends Construct {
  public readonly topic: sns.Topic;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const fn = props.function;
    const stackName = Stack.of(this).stackName;

    // CloudWatch cannot publish to a topic encrypted with the AWS managed aws/sns key, whose
    // policy cannot be changed, so the topic gets its own key.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: `${stackName}: encrypts the contact-data-sync alarm topic`,
      enableKeyRotation: true,
      // The key protects only alarm notifications in transit; nothing needs it after the topic is gone.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'contact-data-sync alarms',
      masterKey: key,
      enforceSSL: true,
    });

    // Alarm names start with the stack name so CloudWatch's grants can be confined to these alarms.
    const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${stackName}-*` },
    };
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [cloudwatchPrincipal],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        // In a key policy "*" is the key itself.
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [cloudwatchPrincipal],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: fromOurAlarms,
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    const functions = props.worker === undefined ? [fn] : [fn, props.worker];
    const contactMetric = (metricName: string) =>
      combinedMetric(functions, metricName, cloudwatch.Stats.SUM, 'SUM', metricName);
    const contactsRequested = contactMetric('ContactsRequested');
    const contactsUploaded = contactMetric('ContactsUploaded');
    // Contacts whose Salesforce conversation already held the transcript (re-run backfills).
    const contactsSkipped = contactMetric('ContactsSkipped');
    const contactsFailed = contactMetric('ContactsFailed');
    const timeoutMs = props.timeout.toMilliseconds();

    this.addFunctionAlarms(fn, 'Function', timeoutMs);
    if (props.worker !== undefined) this.addFunctionAlarms(props.worker, 'Worker', timeoutMs);
    this.addAlarm('ContactsFailed', {
      alarmDescription:
        'Contacts could not be uploaded to Salesforce; the dashboard shows the reason codes and the log one line per contact.',
      metric: contactsFailed,
      threshold: props.failedContactsAlarmThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });


    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      // Dashboards are global to the account, so the region keeps deployments in different regions apart.
      dashboardName: `${stackName}-${Aws.REGION}`,
      defaultInterval: Duration.days(1),
    });
    // One line per function, labelled with its role.
    const perFunction = <T>(metric: (f: lambda.Function, label: string) => T): T[] =>
      props.worker === undefined ? [metric(fn, 'Manual')] : [metric(fn, 'Manual'), metric(props.worker, 'Worker')];
    const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
    this.dashboard.addWidgets(
      graph('Invocations', perFunction((f, label) => f.metricInvocations({ ...sum, label }))),
      graph('Errors', perFunction((f, label) => f.metricErrors({ ...sum, label }))),
    );
    this.dashboard.addWidgets(
      graph('Contacts requested / uploaded / skipped / failed', [
        contactsRequested,
        contactsUploaded,
        contactsSkipped,
        contactsFailed,
      ]),
      graph('Contacts failed by reason', functions.map((f) => byReason(f, 'ContactsFailed'))),
    );
    this.dashboard.addWidgets(
      graph(
        'Duration (ms)',
        perFunction((f, label) =>
          [cloudwatch.Stats.AVERAGE, cloudwatch.Stats.p(99), cloudwatch.Stats.MAXIMUM].map((statistic) =>
            f.metricDuration({ period: PERIOD, statistic, label: `${label} ${statistic}` }),
          ),
        ).flat(),
        { value: timeoutMs, label: 'Timeout', color: cloudwatch.Color.RED },
      ),
      graph('Throttles', perFunction((f, label) => f.metricThrottles({ ...sum, label }))),
    );
    // Both functions read the same org's usage; the period's highest reading of either counts.
    const usage = combinedMetric(functions, 'SalesforceApiUsagePercent', cloudwatch.Stats.MAXIMUM, 'MAX', "Org's API usage (%)");
    this.addAlarm('SalesforceApiUsageAtCeiling', {
      alarmDescription:
        `The org has used ${props.apiUsageCeilingPercent}% or more of its rolling 24-hour API allocation: the function ` +
        'defers repair and backfill work (SALESFORCE_API_CEILING) until usage falls, and manual requests report that code. ' +
        "Find the org's biggest API consumers, or raise salesforceApiUsageCeilingPercent.",
      metric: usage,
      threshold: props.apiUsageCeilingPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.dashboard.addWidgets(
      graph(
        'Concurrent executions',
        perFunction((f, label) => f.metric('ConcurrentExecutions', { period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM, label })),
        { value: props.concurrency.manual, label: 'Manual reserved concurrency', color: cloudwatch.Color.ORANGE },
      ),
      graph('Salesforce API usage (%)', [usage], {
        value: props.apiUsageCeilingPercent,
        label: 'Ceiling',
        color: cloudwatch.Color.RED,
      }),
    );
    if (props.backfillStateMachine !== undefined) this.addBackfill(props.backfillStateMachine);
    if (props.autoRepair !== undefined && props.worker !== undefined) this.addAutoRepair(props.worker, props.autoRepair);
  }

  /** An alarm on backfill executions that did not succeed, and a dashboard row of executions. */
  private addBackfill(stateMachine: sfn.IStateMachine): void {
    const options = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
    this.addAlarm('BackfillExecutionsFailed', {
      alarmDescription:
        'A backfill execution failed, timed out or was aborted, so its summary may be missing: ' +
        'the execution\'s events in the Step Functions console show where it stopped.',
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: stateMachine.metricFailed(options),
          timedOut: stateMachine.metricTimedOut(options),
          aborted: stateMachine.metricAborted(options),
        },
        label: 'Backfill executions failed, timed out or aborted',
        period: PERIOD,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.dashboard.addWidgets(
      graph('Backfill executions started / succeeded / failed', [
        stateMachine.metricStarted({ ...options, label: 'Started' }),
        stateMachine.metricSucceeded({ ...options, label: 'Succeeded' }),
        stateMachine.metricFailed({ ...options, label: 'Failed' }),
      ]),
      graph('Backfill executions timed out / aborted', [
        stateMachine.metricTimedOut({ ...options, label: 'Timed out' }),
        stateMachine.metricAborted({ ...options, label: 'Aborted' }),
      ]),
    );
  }

  /** Alarms on calls that could not be repaired and on a queue that is not drained, and a dashboard row of repairs. */
  private addAutoRepair(fn: lambda.IFunction, queues: AutoRepairQueues): void {
    const deadLetters = queues.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: PERIOD,
      statistic: cloudwatch.Stats.MAXIMUM,
    });
    this.addAlarm('AutoRepairDeadLetters', {
      alarmDescription:
        'Calls could not be repaired after every receive and wait in the dead-letter queue: the dashboard and the ' +
        'log show why; once the cause is fixed, the AutoRepairRedriveExample output moves them back to the queue.',
      metric: deadLetters,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const backlogSeconds =
      queues.deliveryDelay.toSeconds() + queues.visibilityTimeout.toSeconds() + AUTO_REPAIR_BACKLOG_ALLOWANCE.toSeconds();
    this.addAlarm('AutoRepairBacklog', {
      alarmDescription:
        `A call has waited in the auto-repair queue more than ${backlogSeconds} s, an hour beyond its delay and one ` +
        'retry (a retried call waits out the visibility timeout): the function is not keeping up, or calls keep failing.',
      metric: queues.queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: backlogSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    const repairMetric = (metricName: string, label: string) => functionMetric(fn, metricName, label);
    this.dashboard.addWidgets(
      graph(
        'Calls checked / gaps repaired / already complete / covered by last leg',
        [
          repairMetric('CallsChecked', 'Checked'),
          repairMetric('GapsRepaired', 'Repaired'),
          repairMetric('AlreadyComplete', 'Already complete'),
          repairMetric('CoveredByLastLeg', 'Earlier legs of transferred calls'),
        ],
        undefined,
        8,
      ),
      graph(
        'Repairs failed / retried by reason',
        [byReason(fn, 'RepairFailed', 'Failed '), byReason(fn, 'RepairRetried', 'Retried ')],
        undefined,
        8,
      ),
      graph('Auto-repair dead letters', [deadLetters.with({ label: 'Dead letters' })], undefined, 8),
    );

    // A deferred call goes back to the queue as a new message, so the queue's own age metric
    // restarts: the function reports the age of the calls it defers or returns.
    // Unlabelled: a label would make the alarm's metric a metric-math query.
    const waitingCallAge = functionMetric(fn, 'OldestWaitingCallAgeSeconds').with({ statistic: cloudwatch.Stats.MAXIMUM });
    this.addAlarm('AutoRepairCallWaitingLong', {
      alarmDescription:
        `A call has waited ${WAITING_CALL_ALARM_AGE.toHours()} hours for its repair: Contact Lens drops its real-time ` +
        'segments at 24 hours. Repair is short of a quota budget (see the deferred calls on the dashboard) or its ' +
        'calls keep failing: raise the budget with the quota, or clear the cause.',
      metric: waitingCallAge,
      threshold: WAITING_CALL_ALARM_AGE.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.dashboard.addWidgets(
      graph('Calls deferred for a quota budget', [repairMetric('RepairDeferred', 'Deferred')]),
      graph('Oldest waiting call (s)', [waitingCallAge.with({ label: 'Oldest waiting call' })], {
        value: WAITING_CALL_ALARM_AGE.toSeconds(),
        label: 'Alarm',
        color: cloudwatch.Color.RED,
      }),
    );
  }

  /** Errors, throttles and durations near the timeout of one function; `prefix` names its alarms. */
  private addFunctionAlarms(fn: lambda.Function, prefix: string, timeoutMs: number): void {
    const role = prefix === 'Worker' ? 'The worker (automatic repair and backfills)' : 'The function';
    this.addAlarm(`${prefix}Errors`, {
      alarmDescription: `${role} failed an invocation (an error, a crash or a timeout).`,
      metric: fn.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.addAlarm(`${prefix}Throttles`, {
      alarmDescription: `${role} had an invocation throttled: more requests arrived than its reserved concurrency allows.`,
      metric: fn.metricThrottles({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.addAlarm(`${prefix}DurationNearTimeout`, {
      alarmDescription:
        `${role} ran an invocation longer than ${DURATION_ALARM_SHARE * 100}% of the ${timeoutMs / 1000} s timeout: ` +
        'send fewer contacts per request, or contacts may be left unprocessed.',
      metric: fn.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: timeoutMs * DURATION_ALARM_SHARE,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }

  private addAlarm(id: string, props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${Stack.of(this).stackName}-${id}`,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      // No data means no invocations, which is not a problem.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
  }
}

/** One line per reason code of one of the function's metrics with a Reason dimension, labelled with the code. */
function byReason(fn: lambda.IFunction, metricName: string, labelPrefix = ''): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression:
      `SEARCH('{${METRIC_NAMESPACE},FunctionName,Reason} FunctionName="${fn.functionName}" ` +
      `MetricName="${metricName}"', 'Sum', ${PERIOD.toSeconds()})`,
    usingMetrics: {},
    label: `${labelPrefix}\${PROP('Dim.Reason')}`,
    period: PERIOD,
  });
}

function graph(
  title: string,
  metrics: cloudwatch.IMetric[],
  annotation?: cloudwatch.HorizontalAnnotation,
  // Two graphs fill a row of the 24-column dashboard; rows of three are 8 wide.
  width = 12,
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({
    title,
    left: metrics,
    leftAnnotations: annotation === undefined ? undefined : [annotation],
    width,
    height: 6,
  });
}

/**
 * One of the functions' EMF metrics over every function: each function's 5-minute `statistic`,
 * combined with `combine` (SUM or MAX of the series, point by point); alarms accept it, unlike SEARCH.
 */
function combinedMetric(
  functions: lambda.IFunction[],
  metricName: string,
  statistic: string,
  combine: 'SUM' | 'MAX',
  label: string,
): cloudwatch.IMetric {
  const metrics = functions.map((f) => functionMetric(f, metricName).with({ statistic }));
  // A label would make an alarm's single metric a metric-math query.
  if (metrics.length === 1) return metrics[0];
  // Ids are unique per graph: several of these share the contacts graph.
  const id = metricName.charAt(0).toLowerCase() + metricName.slice(1);
  const usingMetrics = Object.fromEntries(metrics.map((m, i) => [`${id}${i}`, m]));
  return new cloudwatch.MathExpression({
    expression: `${combine}([${Object.keys(usingMetrics).join(', ')}])`,
    usingMetrics,
    label,
    period: PERIOD,
  });
}

/** The 5-minute sum of one of the function's EMF counts. */
function functionMetric(fn: lambda.IFunction, metricName: string, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    dimensionsMap: { FunctionName: fn.functionName },
    statistic: cloudwatch.Stats.SUM,
    period: PERIOD,
    label,
  });
}
