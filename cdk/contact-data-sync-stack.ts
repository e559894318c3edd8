import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ContactDataSync, ContactDataSyncProps } from './contact-data-sync';

export interface ContactDataSyncStackProps extends StackProps {
  /**
   * The deployment's settings: bin/app.ts hands on the context values (`propsFromContext`), which
   * the construct validates as it does typed props.
   */
  readonly settings: ContactDataSyncProps;
}

/** A sample request for one contact, ready to paste into `aws lambda invoke` or the console Test tab. */
export const EXAMPLE_PAYLOAD = JSON.stringify({
  operation: 'uploadTranscript',
  payload: [{ contactId: 'faaa3a21-5990-48cd-a035-e85ca8c861ff', relatedRecords: ['0LQ1Q000002TZtn'] }],
});

/** A backfill execution's input: the manifest's key in the backfill bucket. */
export const EXAMPLE_BACKFILL_INPUT = JSON.stringify({ manifestKey: 'manifests/calls.csv' });

/**
 * Everything contact-data-sync needs, deployed with one `cdk deploy`: the ContactDataSync
 * construct and the stack's outputs.
 */
export class ContactDataSyncStack extends Stack {
  constructor(scope: Construct, id: string, props: ContactDataSyncStackProps) {
    const { settings, ...stackProps } = props;
    super(scope, id, {
      description: 'contact-data-sync: uploads Amazon Connect Contact Lens transcripts to Salesforce',
      ...stackProps,
    });

    // `Default` is left out of logical IDs: the resources keep the IDs they had before the construct.
    const sync = new ContactDataSync(this, 'Default', settings);
    const { function: fn, worker, backfillStateMachine, backfillBucket, autoRepairQueue, autoRepairDeadLetterQueue } = sync;
    const salesforce = sync.settings.salesforce;
    if (salesforce.kind === 'scvSsm') {
      new CfnOutput(this, 'SalesforceSsmCallCenter', {
        description:
          'SCV call center whose SSM parameters <name>-salesforce-rest-api-* the function reads ' +
          '(and whose access token it rewrites)',
        value: salesforce.callCenter,
      });
    } else if (sync.salesforceSecretArn !== undefined) {
      new CfnOutput(this, 'SalesforceSecretArn', {
        // An imported secret belongs to SCV, which reads it too: nobody should overwrite it from here.
        description:
          salesforce.secretArn === undefined
            ? 'Put the Salesforce OAuth settings here (aws secretsmanager put-secret-value)'
            : "The default org's existing Salesforce secret the function reads",
        value: sync.salesforceSecretArn,
      });
    }

    new CfnOutput(this, 'FunctionName', { value: fn.functionName });
    new CfnOutput(this, 'FunctionArn', { value: fn.functionArn });
    if (worker !== undefined) {
      new CfnOutput(this, 'WorkerFunctionName', {
        description: 'Runs automatic repair and backfill batches; invoke FunctionName for manual requests',
        value: worker.functionName,
      });
    }
    new CfnOutput(this, 'DashboardName', { value: sync.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: sync.alarmTopic.topicArn });
    new CfnOutput(this, 'InvokeExample', {
      description: 'Uploads one contact transcript from the AWS CLI',
      value:
        `aws lambda invoke --function-name ${fn.functionName} --cli-binary-format raw-in-base64-out ` +
        `--payload '${EXAMPLE_PAYLOAD}' response.json`,
    });
    if (backfillBucket !== undefined && backfillStateMachine !== undefined) {
      // The operator CLI reads these two by name.
      new CfnOutput(this, 'BackfillStateMachineArn', { value: backfillStateMachine.stateMachineArn });
      new CfnOutput(this, 'BackfillBucketName', { value: backfillBucket.bucketName });
      new CfnOutput(this, 'BackfillStartExample', {
        description: 'Starts a backfill of a manifest uploaded to the backfill bucket',
        value:
          `aws stepfunctions start-execution --state-machine-arn ${backfillStateMachine.stateMachineArn} ` +
          `--input '${EXAMPLE_BACKFILL_INPUT}'`,
      });
    }
    if (autoRepairQueue !== undefined && autoRepairDeadLetterQueue !== undefined) {
      new CfnOutput(this, 'AutoRepairQueueUrl', { value: autoRepairQueue.queueUrl });
      new CfnOutput(this, 'AutoRepairDeadLetterQueueUrl', { value: autoRepairDeadLetterQueue.queueUrl });
      new CfnOutput(this, 'AutoRepairRedriveExample', {
        description: 'Moves the calls of the dead-letter queue back to the auto-repair queue, once their cause is fixed',
        value:
          `aws sqs start-message-move-task --source-arn ${autoRepairDeadLetterQueue.queueArn} ` +
          `--destination-arn ${autoRepairQueue.queueArn}`,
      });
    }
  }
}
