import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULTS, parseSettings } from './props';

const INSTANCE_ID = '11111111-2222-3333-4444-555555555555';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce/oauth-AbCdEf';
const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const parse = (context: Record<string, unknown>) => parseSettings((key) => context[key]);

describe('parseSettings', () => {
  test('applies the defaults when only the instance ID is given', () => {
    expect(parse({ connectInstanceId: INSTANCE_ID })).toEqual({
      connectInstanceId: INSTANCE_ID,
      salesforceApiVersion: '64.0',
      memorySize: 256,
      timeoutSeconds: 900,
      reservedConcurrency: 2,
      logRetentionDays: RetentionDays.THREE_MONTHS,
      failedContactsAlarmThreshold: 1,
    });
    expect(DEFAULTS.logRetentionDays).toBe(90);
  });

  test('parses every setting from the strings `-c key=value` delivers', () => {
    expect(
      parse({
        connectInstanceId: INSTANCE_ID.toUpperCase(),
        salesforceSecretArn: SECRET_ARN,
        salesforceSecretKmsKeyArn: KMS_KEY_ARN,
        alarmEmail: 'ops@example.com',
        salesforceApiVersion: '62.0',
        memorySize: '512',
        timeoutSeconds: '600',
        reservedConcurrency: '1',
        logRetentionDays: '30',
        contactConcurrency: '5',
        uploadBatchSize: '50',
        contactLensRequestsPerSecond: '4',
        failedContactsAlarmThreshold: '3',
      }),
    ).toEqual({
      connectInstanceId: INSTANCE_ID,
      salesforceSecretArn: SECRET_ARN,
      salesforceSecretKmsKeyArn: KMS_KEY_ARN,
      alarmEmail: 'ops@example.com',
      salesforceApiVersion: '62.0',
      memorySize: 512,
      timeoutSeconds: 600,
      reservedConcurrency: 1,
      logRetentionDays: RetentionDays.ONE_MONTH,
      contactConcurrency: 5,
      uploadBatchSize: 50,
      contactLensRequestsPerSecond: 4,
      failedContactsAlarmThreshold: 3,
    });
  });

  test('accepts numbers as cdk.json delivers them', () => {
    const settings = parse({ connectInstanceId: INSTANCE_ID, memorySize: 1024, logRetentionDays: 9999 });
    expect(settings.memorySize).toBe(1024);
    expect(settings.logRetentionDays).toBe(RetentionDays.INFINITE);
  });

  test('treats an empty value as not given', () => {
    expect(parse({ connectInstanceId: INSTANCE_ID, alarmEmail: '', memorySize: '' })).toEqual(
      parse({ connectInstanceId: INSTANCE_ID }),
    );
  });

  test.each([
    [{ connectInstanceId: undefined }, /"connectInstanceId" is required/],
    [{ connectInstanceId: '' }, /"connectInstanceId" is required/],
    [{ connectInstanceId: 'my-instance' }, /"connectInstanceId" must be an Amazon Connect instance ID/],
    [{ salesforceSecretArn: 'my-secret' }, /"salesforceSecretArn" must be the complete ARN/],
    // A partial ARN (without the random suffix) would need a wildcard in the IAM grant.
    [{ salesforceSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce' }, /"salesforceSecretArn"/],
    [{ salesforceSecretArn: 'arn:aws:s3:::bucket-AbCdEf' }, /"salesforceSecretArn"/],
    [{ salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: 'alias/aws/secretsmanager' }, /"salesforceSecretKmsKeyArn" must be a KMS key ARN/],
    [{ salesforceSecretKmsKeyArn: KMS_KEY_ARN }, /"salesforceSecretKmsKeyArn" applies only to an imported secret/],
    [{ alarmEmail: 'ops' }, /"alarmEmail" must be an email address/],
    [{ salesforceApiVersion: '64' }, /"salesforceApiVersion" must be a Salesforce API version/],
    [{ salesforceApiVersion: 'v64.0' }, /"salesforceApiVersion"/],
    [{ memorySize: '64' }, /"memorySize" must be an integer from 128 to 10240, got "64"/],
    [{ timeoutSeconds: '0' }, /"timeoutSeconds" must be an integer from 1 to 900/],
    [{ timeoutSeconds: '901' }, /"timeoutSeconds" must be an integer from 1 to 900/],
    [{ timeoutSeconds: '1.5' }, /"timeoutSeconds"/],
    [{ timeoutSeconds: 'abc' }, /"timeoutSeconds"/],
    [{ reservedConcurrency: '0' }, /"reservedConcurrency" must be an integer from 1/],
    [{ logRetentionDays: '10' }, /"logRetentionDays" must be one of 1, 3, 5, 7, 14, 30, 60, 90/],
    [{ contactConcurrency: '101' }, /"contactConcurrency" must be an integer from 1 to 100/],
    [{ uploadBatchSize: '0' }, /"uploadBatchSize" must be an integer from 1 to 100/],
    [{ contactLensRequestsPerSecond: '0' }, /"contactLensRequestsPerSecond" must be an integer from 1 to 1000/],
    [{ failedContactsAlarmThreshold: '-1' }, /"failedContactsAlarmThreshold"/],
  ])('rejects %j naming the setting', (context, message) => {
    expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
  });

  test('reports every bad setting at once', () => {
    expect(() => parse({ memorySize: 'big', timeoutSeconds: '0' })).toThrow(
      /connectInstanceId[\s\S]*memorySize[\s\S]*timeoutSeconds/,
    );
  });
});
