import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { AnalysisBucket } from './analysis-bucket';
import { AutoRepair } from './auto-repair';
import { Backfill } from './backfill';
import { ContactDataSyncFunction, SalesforceCredentials } from './function';
import { Monitoring } from './monitoring';
import { ContactDataSyncSettings } from './props';
import { contactsWithinTimeout } from './quota-shares';
import { SalesforceSecrets } from './salesforce-secret';
import { ScvSsmParameters } from './scv-ssm-parameters';

export interface ContactDataSyncStackProps extends StackProps {
  readonly settings: ContactDataSyncSettings;
  /**
   * Prebuilt function code (a directory with a `bootstrap` executable), used by tests; it takes
   * precedence over `settings.functionCodePath`.
   *
   * @default - `settings.functionCodePath`, else cargo-lambda builds the Rust crate during synth
   */
  readonly functionCode?: lambda.Code;
}

/** A sample request for one contact, ready to paste into `aws lambda invoke` or the console Test tab. */
export const EXAMPLE_PAYLOAD = JSON.stringify({
  operation: 'uploadTranscript',
  payload: [{ contactId: 'faaa3a21-5990-48cd-a035-e85ca8c861ff', relatedRecords: ['0LQ1Q000002TZtn'] }],
});

/** A backfill execution's input: the manifest's key in the backfill bucket. */
export const EXAMPLE_BACKFILL_INPUT = JSON.stringify({ manifestKey: 'manifests/calls.csv' });

/** Everything contact-data-sync needs, deployed with one `cdk deploy`. */
export class ContactDataSyncStack extends Stack {
  constructor(scope: Construct, id: string, props: ContactDataSyncStackProps) {
    const { settings, functionCode, ...stackProps } = props;
    super(scope, id, {
      description: 'contact-data-sync: uploads Amazon Connect Contact Lens transcripts to Salesforce',
      ...stackProps,
    });

    const salesforce = this.salesforceCredentials(settings.salesforce);
    const analysisFiles =
      settings.analysisBucket === undefined ? undefined : new AnalysisBucket(this, 'AnalysisBucket', settings.analysisBucket);
    const backfill =
      settings.backfill === undefined
        ? undefined
        : new Backfill(this, 'Backfill', { settings: settings.backfill, logRetentionDays: settings.logRetentionDays });
    const { function: fn, worker } = new ContactDataSyncFunction(this, 'ContactDataSync', {
      settings,
      salesforce,
      analysisFiles,
      backfillFiles: backfill,
      code:
        functionCode ??
        (settings.functionCodePath === undefined ? undefined : lambda.Code.fromAsset(settings.functionCodePath)),
    });
    // The settings create a worker whenever there is a backfill or automatic repair.
    const backfillStateMachine =
      backfill === undefined || worker === undefined || settings.shares.worker === undefined
        ? undefined
        : backfill.addStateMachine(worker, contactsWithinTimeout(settings.shares.worker, settings.timeoutSeconds));
    const autoRepair =
      settings.autoRepair === undefined || worker === undefined
        ? undefined
        : new AutoRepair(this, 'AutoRepair', {
            settings: settings.autoRepair,
            connectInstanceId: settings.connectInstanceId,
            function: worker,
            functionTimeout: Duration.seconds(settings.timeoutSeconds),
          });
    const monitoring = new Monitoring(this, 'Monitoring', {
      function: fn,
      worker,
      timeout: Duration.seconds(settings.timeoutSeconds),
      concurrency: settings.concurrency,
      apiUsageCeilingPercent: settings.apiUsageCeilingPercent,
      failedContactsAlarmThreshold: settings.failedContactsAlarmThreshold,
      alarmEmail: settings.alarmEmail,
      backfillStateMachine,
      autoRepair,
    });

    new CfnOutput(this, 'FunctionName', { value: fn.functionName });
    new CfnOutput(this, 'FunctionArn', { value: fn.functionArn });
    if (worker !== undefined) {
      new CfnOutput(this, 'WorkerFunctionName', {
        description: 'Runs automatic repair and backfill batches; invoke FunctionName for manual requests',
        value: worker.functionName,
      });
    }
    new CfnOutput(this, 'DashboardName', { value: monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn });
    new CfnOutput(this, 'InvokeExample', {
      description: 'Uploads one contact transcript from the AWS CLI',
      value:
        `aws lambda invoke --function-name ${fn.functionName} --cli-binary-format raw-in-base64-out ` +
        `--payload '${EXAMPLE_PAYLOAD}' response.json`,
    });
    if (backfill !== undefined && backfillStateMachine !== undefined) {
      // The operator CLI reads these two by name.
      new CfnOutput(this, 'BackfillStateMachineArn', { value: backfillStateMachine.stateMachineArn });
      new CfnOutput(this, 'BackfillBucketName', { value: backfill.bucket.bucketName });
      new CfnOutput(this, 'BackfillStartExample', {
        description: 'Starts a backfill of a manifest uploaded to the backfill bucket',
        value:
          `aws stepfunctions start-execution --state-machine-arn ${backfillStateMachine.stateMachineArn} ` +
          `--input '${EXAMPLE_BACKFILL_INPUT}'`,
      });
    }
    if (autoRepair !== undefined) {
      new CfnOutput(this, 'AutoRepairQueueUrl', { value: autoRepair.queue.queueUrl });
      new CfnOutput(this, 'AutoRepairDeadLetterQueueUrl', { value: autoRepair.deadLetterQueue.queueUrl });
      new CfnOutput(this, 'AutoRepairRedriveExample', {
        description: 'Moves the calls of the dead-letter queue back to the auto-repair queue, once their cause is fixed',
        value:
          `aws sqs start-message-move-task --source-arn ${autoRepair.deadLetterQueue.queueArn} ` +
          `--destination-arn ${autoRepair.queue.queueArn}`,
      });
    }
  }

  /** The Salesforce credentials the settings point at, with an output saying where they are. */
  private salesforceCredentials(settings: ContactDataSyncSettings['salesforce']): SalesforceCredentials {
    if (settings.kind === 'scvSsm') {
      new CfnOutput(this, 'SalesforceSsmCallCenter', {
        description:
          'SCV call center whose SSM parameters <name>-salesforce-rest-api-* the function reads ' +
          '(and whose access token it rewrites)',
        value: settings.callCenter,
      });
      return new ScvSsmParameters(this, 'SalesforceSsmParameters', settings);
    }
    // The construct ID keeps the created secret's logical ID, so updating a stack keeps its secret.
    const secrets = new SalesforceSecrets(this, 'SalesforceSecret', settings);
    new CfnOutput(this, 'SalesforceSecretArn', {
      // An imported secret belongs to SCV, which reads it too: nobody should overwrite it from here.
      description:
        settings.secretArn === undefined
          ? 'Put the Salesforce OAuth settings here (aws secretsmanager put-secret-value)'
          : "The default org's existing Salesforce secret the function reads",
      value: secrets.secretArn,
    });
    return secrets;
  }
}
