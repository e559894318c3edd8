import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { connectInstanceArn } from './function';
import { AutoRepairQueues } from './monitoring';
import { AutoRepairSettings } from './props';

/** How long SQS keeps a call, in the queue and in the dead-letter queue: its maximum. */
const RETENTION = Duration.days(14);
/** How long Lambda gathers calls into a batch before invoking the function with fewer than a full one. */
const MAX_BATCHING_WINDOW = Duration.seconds(30);
/** AWS's guidance for an SQS event source: a visibility timeout of six function timeouts leaves room for retries. */
const VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6;
/** What the event source mapping needs of the queue (Lambda's SQS execution permissions). */
const CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

export interface AutoRepairProps {
  readonly settings: AutoRepairSettings;
  /** The Amazon Connect instance whose calls are repaired. */
  readonly connectInstanceId: string;
  /** The function that checks and repairs each call (the worker). */
  readonly function: lambda.Function;
  /** The function's timeout, which sizes the queue's visibility timeout. */
  readonly functionTimeout: Duration;
}

/**
 * Automatic repair after every call: an EventBridge rule puts each DISCONNECTED voice call of the
 * instance into a delay queue, from which the function receives batches of calls to check and repair.
 * Calls it still cannot repair after every receive wait in a dead-letter queue.
 */
export class AutoRepair extends Construct implements AutoRepairQueues {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly deliveryDelay: Duration;
  public readonly visibilityTimeout: Duration;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: AutoRepairProps) {
    super(scope, id);
    const { settings } = props;
    this.deliveryDelay = Duration.seconds(settings.delaySeconds);
    this.visibilityTimeout = Duration.seconds(props.functionTimeout.toSeconds() * VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // No shorter than the queue's: a standard queue's dead-letter queue counts a message's age from its first enqueue.
      retentionPeriod: RETENTION,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deliveryDelay: this.deliveryDelay,
      visibilityTimeout: this.visibilityTimeout,
      retentionPeriod: RETENTION,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });

    this.rule = new events.Rule(this, 'CallEnded', {
      description: 'contact-data-sync: queues each ended voice call of the instance for automatic repair',
      eventPattern: {
        source: ['aws.connect'],
        detailType: ['Amazon Connect Contact Event'],
        detail: {
          eventType: ['DISCONNECTED'],
          channel: ['VOICE'],
          instanceArn: [connectInstanceArn(this, props.connectInstanceId)],
        },
      },
    });
    // Not aws-events-targets' SqsQueue, whose grant adds sqs:GetQueueAttributes and sqs:GetQueueUrl:
    // EventBridge only sends, and only this rule may send.
    this.rule.addTarget({ bind: () => ({ arn: this.queue.queueArn, targetResource: this.queue }) });
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rule.ruleArn } },
      }),
    );

    // Not SqsEventSource, whose grant adds sqs:ChangeMessageVisibility and sqs:GetQueueUrl.
    const mapping = new lambda.EventSourceMapping(this, 'EventSourceMapping', {
      target: props.function,
      eventSourceArn: this.queue.queueArn,
      batchSize: settings.batchSize,
      maxBatchingWindow: MAX_BATCHING_WINDOW,
      // The function answers with the calls to retry; the others are deleted.
      reportBatchItemFailures: true,
      maxConcurrency: settings.maxConcurrency,
    });
    // Lambda checks the permissions when it creates the mapping.
    iam.Grant.addToPrincipal({
      grantee: props.function,
      actions: CONSUME_ACTIONS,
      resourceArns: [this.queue.queueArn],
    }).applyBefore(mapping);
    // A call that waits for a quota's budget goes back to this queue as a new message with a
    // delay, so its waits never count towards the dead-letter queue.
    props.function.addEnvironment('REPAIR_QUEUE_URL', this.queue.queueUrl);
    iam.Grant.addToPrincipal({
      grantee: props.function,
      actions: ['sqs:SendMessage'],
      resourceArns: [this.queue.queueArn],
    });
  }
}
