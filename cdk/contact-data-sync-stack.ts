import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ContactDataSyncFunction } from './function';
import { Monitoring } from './monitoring';
import { ContactDataSyncSettings } from './props';
import { SalesforceSecret } from './salesforce-secret';

export interface ContactDataSyncStackProps extends StackProps {
  readonly settings: ContactDataSyncSettings;
  /**
   * Prebuilt function code (a directory with a `bootstrap` executable), used by tests.
   *
   * @default - cargo-lambda builds the Rust crate during synth
   */
  readonly functionCode?: lambda.Code;
}

/** A sample request for one contact, ready to paste into `aws lambda invoke` or the console Test tab. */
export const EXAMPLE_PAYLOAD = JSON.stringify({
  operation: 'uploadTranscript',
  payload: [{ contactId: 'faaa3a21-5990-48cd-a035-e85ca8c861ff', relatedRecords: ['0LQ1Q000002TZtn'] }],
});

/** Everything contact-data-sync needs, deployed with one `cdk deploy`. */
export class ContactDataSyncStack extends Stack {
  constructor(scope: Construct, id: string, props: ContactDataSyncStackProps) {
    const { settings, functionCode, ...stackProps } = props;
    super(scope, id, {
      description: 'contact-data-sync: uploads Amazon Connect Contact Lens transcripts to Salesforce',
      ...stackProps,
    });

    const salesforceSecret = new SalesforceSecret(this, 'SalesforceSecret', {
      existingSecretArn: settings.salesforceSecretArn,
      existingSecretKmsKeyArn: settings.salesforceSecretKmsKeyArn,
    });
    const { function: fn } = new ContactDataSyncFunction(this, 'ContactDataSync', {
      settings,
      salesforceSecret,
      code: functionCode,
    });
    const monitoring = new Monitoring(this, 'Monitoring', {
      function: fn,
      timeout: Duration.seconds(settings.timeoutSeconds),
      reservedConcurrency: settings.reservedConcurrency,
      failedContactsAlarmThreshold: settings.failedContactsAlarmThreshold,
      alarmEmail: settings.alarmEmail,
    });

    new CfnOutput(this, 'FunctionName', { value: fn.functionName });
    new CfnOutput(this, 'FunctionArn', { value: fn.functionArn });
    new CfnOutput(this, 'SalesforceSecretArn', {
      description: 'Put the Salesforce OAuth settings here (aws secretsmanager put-secret-value)',
      value: salesforceSecret.secret.secretArn,
    });
    new CfnOutput(this, 'DashboardName', { value: monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn });
    new CfnOutput(this, 'InvokeExample', {
      description: 'Uploads one contact transcript from the AWS CLI',
      value:
        `aws lambda invoke --function-name ${fn.functionName} --cli-binary-format raw-in-base64-out ` +
        `--payload '${EXAMPLE_PAYLOAD}' response.json`,
    });
  }
}
