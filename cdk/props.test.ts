import * as path from 'path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULTS, SETTING_KEYS, parseSettings } from './props';

const INSTANCE_ID = '11111111-2222-3333-4444-555555555555';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce/oauth-AbCdEf';
const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const KMS_KEY_ARN_2 = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
// SCV names its secrets after the call center: <name>-salesforce-secret, <name>-salesforce-access-token-secret.
const scvSecret = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-salesforce-secret-Ab12Cd`;
const scvToken = (name: string) =>
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-salesforce-access-token-secret-Ef34Gh`;
const AUTH_ENDPOINT = 'https://acme.my.salesforce.com/services/oauth2/token';
const REST_BASE = 'https://acme.my.salesforce.com';
const SSM = { scvSsmCallCenter: 'AcmeCallCenter', salesforceAuthEndpoint: AUTH_ENDPOINT, salesforceRestApiEndpointBase: REST_BASE };
const NO_SECRETS = { kind: 'secrets', extraSecretArns: [], extraTokenSecretArns: [], kmsKeyArns: [] };
/** An extra org's secret and its token cache, as `extraTokenSecretArns` takes them. */
const scvPair = (name: string) => `${scvSecret(name)}|${scvToken(name)}`;
const scvPairing = (name: string) => ({ secretArn: scvSecret(name), tokenSecretArn: scvToken(name) });

const parse = (context: Record<string, unknown>) => parseSettings((key) => context[key]);

describe('parseSettings', () => {
  test('applies the defaults when only the instance ID is given', () => {
    expect(parse({ connectInstanceId: INSTANCE_ID })).toEqual({
      connectInstanceId: INSTANCE_ID,
      salesforce: NO_SECRETS,
      salesforceApiVersion: '64.0',
      memorySize: 256,
      timeoutSeconds: 900,
      reservedConcurrency: 1,
      concurrency: { manual: 1, worker: 0 },
      budgets: { contactLensPerSecond: 1, describeContactPerSecond: 5, entriesReadsPerHour: 800 },
      shares: { manual: { contactLensPerSecond: 1, describeContactPerSecond: 5, entriesReadsPerHour: 800 } },
      apiUsageCeilingPercent: 80,
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
        contactLensQuotaPerSecond: '4',
        describeContactQuotaPerSecond: '6',
        salesforceEntriesReadsPerHour: '900',
        salesforceApiUsageCeilingPercent: '70',
        failedContactsAlarmThreshold: '3',
      }),
    ).toEqual({
      connectInstanceId: INSTANCE_ID,
      salesforce: { ...NO_SECRETS, secretArn: SECRET_ARN, kmsKeyArns: [KMS_KEY_ARN] },
      alarmEmail: 'ops@example.com',
      salesforceApiVersion: '62.0',
      memorySize: 512,
      timeoutSeconds: 600,
      reservedConcurrency: 1,
      concurrency: { manual: 1, worker: 0 },
      budgets: { contactLensPerSecond: 4, describeContactPerSecond: 6, entriesReadsPerHour: 900 },
      shares: { manual: { contactLensPerSecond: 4, describeContactPerSecond: 6, entriesReadsPerHour: 900 } },
      apiUsageCeilingPercent: 70,
      logRetentionDays: RetentionDays.ONE_MONTH,
      contactConcurrency: 5,
      uploadBatchSize: 50,
      failedContactsAlarmThreshold: 3,
    });
  });

  test('accepts numbers as cdk.json delivers them', () => {
    const settings = parse({ connectInstanceId: INSTANCE_ID, memorySize: 1024, logRetentionDays: 9999 });
    expect(settings.memorySize).toBe(1024);
    expect(settings.logRetentionDays).toBe(RetentionDays.INFINITE);
  });

  test('treats an empty value as not given', () => {
    expect(
      parse({ connectInstanceId: INSTANCE_ID, alarmEmail: '', memorySize: '', extraSalesforceSecretArns: [], tokenSecretArn: '' }),
    ).toEqual(parse({ connectInstanceId: INSTANCE_ID }));
  });

  describe('Service Cloud Voice secrets', () => {
    const expected = {
      ...NO_SECRETS,
      secretArn: scvSecret('Main'),
      extraSecretArns: [scvSecret('Emea'), scvSecret('Apac')],
      tokenSecretArn: scvToken('Main'),
      extraTokenSecretArns: [scvPairing('Emea'), scvPairing('Apac')],
      kmsKeyArns: [KMS_KEY_ARN, KMS_KEY_ARN_2],
    };

    test('takes the lists comma-separated, as `-c key=a,b` delivers them', () => {
      const settings = parse({
        connectInstanceId: INSTANCE_ID,
        salesforceSecretArn: scvSecret('Main'),
        extraSalesforceSecretArns: ` ${scvSecret('Emea')}, ${scvSecret('Apac')} `,
        tokenSecretArn: scvToken('Main'),
        extraTokenSecretArns: `${scvPair('Emea')}, ${scvSecret('Apac')} | ${scvToken('Apac')}`,
        salesforceSecretKmsKeyArn: `${KMS_KEY_ARN},${KMS_KEY_ARN_2}`,
      });
      expect(settings.salesforce).toEqual(expected);
    });

    test('takes the lists as JSON arrays, as cdk.json delivers them', () => {
      const settings = parse({
        connectInstanceId: INSTANCE_ID,
        salesforceSecretArn: scvSecret('Main'),
        extraSalesforceSecretArns: [scvSecret('Emea'), scvSecret('Apac')],
        tokenSecretArn: scvToken('Main'),
        extraTokenSecretArns: [scvPair('Emea'), scvPair('Apac')],
        salesforceSecretKmsKeyArn: [KMS_KEY_ARN, KMS_KEY_ARN_2],
      });
      expect(settings.salesforce).toEqual(expected);
    });

    test('extra org secrets may accompany a created default secret', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID, extraSalesforceSecretArns: scvSecret('Emea') }).salesforce).toEqual({
        ...NO_SECRETS,
        extraSecretArns: [scvSecret('Emea')],
      });
    });

    test.each([
      [{ extraSalesforceSecretArns: `${scvSecret('Emea')},salesforce-secret` }, /"extraSalesforceSecretArns" entries must each be the complete ARN of a Secrets Manager secret[^\n]*, got "salesforce-secret"/],
      [{ extraSalesforceSecretArns: [scvSecret('Emea'), 42] }, /"extraSalesforceSecretArns" entries must each be the complete ARN[^\n]*, got "42"/],
      [{ extraSalesforceSecretArns: `${scvSecret('Emea')},,${scvSecret('Apac')}` }, /"extraSalesforceSecretArns" entries must each be[^\n]*, got ""/],
      [{ extraSalesforceSecretArns: `${scvSecret('Emea')},${scvSecret('Emea')}` }, new RegExp(`"extraSalesforceSecretArns" lists "${scvSecret('Emea')}" more than once`)],
      [{ extraTokenSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:Emea-token' }, /"extraTokenSecretArns" entries must each be an extra org's secret and its token-cache secret as <org secret ARN>\|<token-cache secret ARN>[^\n]*, got "arn:aws:secretsmanager:eu-west-1:123456789012:secret:Emea-token"/],
      [{ extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: scvToken('Emea') }, /"extraTokenSecretArns" entries must each be an extra org's secret and its token-cache secret/],
      [{ extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: `${scvSecret('Emea')}|Emea-token` }, /"extraTokenSecretArns" entries must each be an extra org's secret/],
      [{ extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: scvPair('Apac') }, new RegExp(`"extraTokenSecretArns" pairs "${scvSecret('Apac')}", which "extraSalesforceSecretArns" does not list$`)],
      [{ salesforceSecretArn: scvSecret('Main'), extraTokenSecretArns: scvPair('Main') }, new RegExp(`"extraTokenSecretArns" pairs "${scvSecret('Main')}", which "extraSalesforceSecretArns" does not list: the default org's token cache is "tokenSecretArn"`)],
      [{ extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: [scvPair('Emea'), `${scvSecret('Emea')}|${scvToken('Apac')}`] }, new RegExp(`"extraTokenSecretArns" pairs "${scvSecret('Emea')}" more than once: an org has one token cache`)],
      [{ extraSalesforceSecretArns: [scvSecret('Emea'), scvSecret('Apac')], extraTokenSecretArns: [scvPair('Emea'), `${scvSecret('Apac')}|${scvToken('Emea')}`] }, new RegExp(`"extraTokenSecretArns" gives "${scvToken('Emea')}" to more than one org: each token cache belongs to exactly one org`)],
      [{ extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: `${scvSecret('Emea')}|${scvSecret('Emea')}` }, new RegExp(`"extraTokenSecretArns" entry "${scvSecret('Emea')}" is already given in "extraSalesforceSecretArns"`)],
      [{ salesforceSecretArn: scvSecret('Main'), extraSalesforceSecretArns: scvSecret('Main') }, new RegExp(`"extraSalesforceSecretArns" entry "${scvSecret('Main')}" is already given in "salesforceSecretArn"`)],
      [{ salesforceSecretArn: scvSecret('Main'), tokenSecretArn: scvSecret('Main') }, new RegExp(`"tokenSecretArn" entry "${scvSecret('Main')}" is already given in "salesforceSecretArn"`)],
      [{ salesforceSecretArn: scvSecret('Main'), tokenSecretArn: scvToken('Main'), extraSalesforceSecretArns: scvSecret('Emea'), extraTokenSecretArns: `${scvSecret('Emea')}|${scvToken('Main')}` }, new RegExp(`"extraTokenSecretArns" entry "${scvToken('Main')}" is already given in "tokenSecretArn"`)],
      [{ salesforceSecretArn: scvSecret('Main'), tokenSecretArn: 'Main-salesforce-access-token-secret' }, /"tokenSecretArn" must be the complete ARN of a Secrets Manager secret/],
      [{ tokenSecretArn: scvToken('Main') }, /"tokenSecretArn" is the token cache of an imported SCV secret: set "salesforceSecretArn" too/],
      [{ salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: `${KMS_KEY_ARN},alias/aws/secretsmanager` }, /"salesforceSecretKmsKeyArn" entries must each be a KMS key ARN, got "alias\/aws\/secretsmanager"/],
      [{ salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: [KMS_KEY_ARN, KMS_KEY_ARN] }, new RegExp(`"salesforceSecretKmsKeyArn" lists "${KMS_KEY_ARN}" more than once`)],
    ])('rejects %j naming the setting and the entry', (context, message) => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
    });

    test('a KMS key applies to any imported secret, the extra ones included', () => {
      expect(
        parse({ connectInstanceId: INSTANCE_ID, extraSalesforceSecretArns: scvSecret('Emea'), salesforceSecretKmsKeyArn: KMS_KEY_ARN }).salesforce,
      ).toEqual({ ...NO_SECRETS, extraSecretArns: [scvSecret('Emea')], kmsKeyArns: [KMS_KEY_ARN] });
    });
  });

  describe('Service Cloud Voice SSM parameters', () => {
    test('reads the call center and the org URLs, with or without a KMS key', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID, ...SSM }).salesforce).toEqual({
        kind: 'scvSsm',
        callCenter: 'AcmeCallCenter',
        authEndpoint: AUTH_ENDPOINT,
        restApiEndpointBase: REST_BASE,
      });
      expect(parse({ connectInstanceId: INSTANCE_ID, ...SSM, scvSsmKmsKeyArn: KMS_KEY_ARN }).salesforce).toEqual({
        kind: 'scvSsm',
        callCenter: 'AcmeCallCenter',
        authEndpoint: AUTH_ENDPOINT,
        restApiEndpointBase: REST_BASE,
        kmsKeyArn: KMS_KEY_ARN,
      });
    });

    test.each([
      [{ ...SSM, scvSsmCallCenter: '1CallCenter' }, /"scvSsmCallCenter" must be an SCV call center API name/],
      [{ ...SSM, scvSsmCallCenter: 'Acme-Call-Center' }, /"scvSsmCallCenter" must be an SCV call center API name/],
      [{ ...SSM, scvSsmCallCenter: '/Acme' }, /"scvSsmCallCenter"/],
      [{ ...SSM, scvSsmCallCenter: `A${'b'.repeat(80)}` }, /"scvSsmCallCenter"/],
      [{ ...SSM, salesforceAuthEndpoint: undefined }, /"salesforceAuthEndpoint" is required with "scvSsmCallCenter"/],
      [{ ...SSM, salesforceRestApiEndpointBase: '' }, /"salesforceRestApiEndpointBase" is required with "scvSsmCallCenter"/],
      [{ ...SSM, salesforceAuthEndpoint: 'http://acme.my.salesforce.com/services/oauth2/token' }, /"salesforceAuthEndpoint" must be an https URL, got "http:/],
      [{ ...SSM, salesforceRestApiEndpointBase: 'acme.my.salesforce.com' }, /"salesforceRestApiEndpointBase" must be an https URL, got "acme.my.salesforce.com"/],
      [{ ...SSM, salesforceRestApiEndpointBase: 'https://acme my.salesforce.com' }, /"salesforceRestApiEndpointBase" must be an https URL/],
      [{ ...SSM, scvSsmKmsKeyArn: 'alias/aws/ssm' }, /"scvSsmKmsKeyArn" must be a KMS key ARN, got "alias\/aws\/ssm"/],
      [{ ...SSM, salesforceSecretArn: SECRET_ARN }, /"scvSsmCallCenter" reads the Salesforce credentials from SSM parameters, not from secrets: remove "salesforceSecretArn" or "scvSsmCallCenter"/],
      [{ ...SSM, salesforceSecretArn: SECRET_ARN, tokenSecretArn: scvToken('Main') }, /remove "salesforceSecretArn", "tokenSecretArn" or "scvSsmCallCenter"/],
      [{ ...SSM, extraSalesforceSecretArns: scvSecret('Emea') }, /remove "extraSalesforceSecretArns" or "scvSsmCallCenter"/],
      [{ ...SSM, salesforceSecretKmsKeyArn: KMS_KEY_ARN }, /"salesforceSecretKmsKeyArn" applies only to imported secrets/],
      [{ salesforceAuthEndpoint: AUTH_ENDPOINT }, /"salesforceAuthEndpoint" applies only to SCV's SSM parameters: set "scvSsmCallCenter" too/],
      [{ salesforceRestApiEndpointBase: REST_BASE }, /"salesforceRestApiEndpointBase" applies only to SCV's SSM parameters: set "scvSsmCallCenter" too/],
      [{ scvSsmKmsKeyArn: KMS_KEY_ARN }, /"scvSsmKmsKeyArn" applies only to SCV's SSM parameters: set "scvSsmCallCenter" too/],
    ])('rejects %j naming the setting', (context, message) => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
    });

    test('reports every missing and conflicting setting at once', () => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, scvSsmCallCenter: 'Acme', salesforceSecretArn: SECRET_ARN })).toThrow(
        /remove "salesforceSecretArn"[\s\S]*"salesforceAuthEndpoint" is required[\s\S]*"salesforceRestApiEndpointBase" is required/,
      );
    });
  });

  describe('Contact Lens analysis bucket', () => {
    const BUCKET = 'amazon-connect-0123456789ab';

    test('is absent unless given', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID }).analysisBucket).toBeUndefined();
    });

    test('defaults to the unredacted files and no customer managed key', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID, analysisBucket: BUCKET }).analysisBucket).toEqual({
        bucketName: BUCKET,
        preferRedacted: false,
      });
      expect(DEFAULTS.analysisPreferRedacted).toBe(false);
    });

    test('takes the key and the preference as the strings `-c key=value` delivers', () => {
      expect(
        parse({
          connectInstanceId: INSTANCE_ID,
          analysisBucket: ` ${BUCKET} `,
          analysisBucketKmsKeyArn: KMS_KEY_ARN,
          analysisPreferRedacted: 'true',
        }).analysisBucket,
      ).toEqual({ bucketName: BUCKET, kmsKeyArn: KMS_KEY_ARN, preferRedacted: true });
      expect(
        parse({ connectInstanceId: INSTANCE_ID, analysisBucket: BUCKET, analysisPreferRedacted: 'false' }).analysisBucket,
      ).toEqual({ bucketName: BUCKET, preferRedacted: false });
    });

    test.each([true, false])('takes the preference as a JSON boolean from cdk.json (%s)', (preferRedacted) => {
      expect(
        parse({ connectInstanceId: INSTANCE_ID, analysisBucket: BUCKET, analysisPreferRedacted: preferRedacted }).analysisBucket,
      ).toEqual({ bucketName: BUCKET, preferRedacted });
    });

    test.each(['abc', 'a.b', 'my-bucket.logs-2', `a${'b'.repeat(61)}c`, '123'])('accepts the bucket name %s', (name) => {
      expect(parse({ connectInstanceId: INSTANCE_ID, analysisBucket: name }).analysisBucket?.bucketName).toBe(name);
    });

    test('treats empty values as not given', () => {
      expect(
        parse({ connectInstanceId: INSTANCE_ID, analysisBucket: '', analysisBucketKmsKeyArn: '', analysisPreferRedacted: '' }),
      ).toEqual(parse({ connectInstanceId: INSTANCE_ID }));
    });

    const BUCKET_RULE = /"analysisBucket" must be an S3 bucket name/;
    test.each([
      [{ analysisBucket: 'ab' }, BUCKET_RULE],
      [{ analysisBucket: `a${'b'.repeat(63)}` }, BUCKET_RULE],
      [{ analysisBucket: 'Amazon-Connect-0123' }, /"analysisBucket" must be an S3 bucket name[^\n]*, got "Amazon-Connect-0123"/],
      [{ analysisBucket: '-bucket' }, BUCKET_RULE],
      [{ analysisBucket: 'bucket.' }, BUCKET_RULE],
      [{ analysisBucket: 'my_bucket' }, BUCKET_RULE],
      // A wildcard or a path would widen the IAM grants.
      [{ analysisBucket: 'amazon-connect-*' }, BUCKET_RULE],
      [{ analysisBucket: 'bucket/Analysis' }, BUCKET_RULE],
      [{ analysisBucket: 'arn:aws:s3:::amazon-connect-0123456789ab' }, BUCKET_RULE],
      [{ analysisBucket: 's3://amazon-connect-0123456789ab' }, BUCKET_RULE],
      [{ analysisBucket: BUCKET, analysisBucketKmsKeyArn: 'alias/aws/s3' }, /"analysisBucketKmsKeyArn" must be a KMS key ARN, got "alias\/aws\/s3"/],
      [{ analysisBucket: BUCKET, analysisPreferRedacted: 'yes' }, /"analysisPreferRedacted" must be true or false, got "yes"/],
      [{ analysisBucket: BUCKET, analysisPreferRedacted: 1 }, /"analysisPreferRedacted" must be true or false, got "1"/],
      [{ analysisBucket: BUCKET, analysisPreferRedacted: 'TRUE' }, /"analysisPreferRedacted" must be true or false/],
      [{ analysisBucketKmsKeyArn: KMS_KEY_ARN }, /"analysisBucketKmsKeyArn" applies only to the Contact Lens analysis bucket: set "analysisBucket" too/],
      [{ analysisPreferRedacted: 'true' }, /"analysisPreferRedacted" applies only to the Contact Lens analysis bucket: set "analysisBucket" too/],
      [{ analysisPreferRedacted: false }, /"analysisPreferRedacted" applies only to the Contact Lens analysis bucket/],
    ])('rejects %j naming the setting', (context, message) => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
    });

    test('reports every bad analysis setting along with the others', () => {
      expect(() =>
        parse({ memorySize: 'big', analysisBucket: 'Bucket', analysisBucketKmsKeyArn: 'key', analysisPreferRedacted: 'yes' }),
      ).toThrow(/connectInstanceId[\s\S]*memorySize[\s\S]*"analysisBucket"[\s\S]*"analysisBucketKmsKeyArn"[\s\S]*"analysisPreferRedacted"/);
      expect(() => parse({ connectInstanceId: INSTANCE_ID, analysisBucketKmsKeyArn: KMS_KEY_ARN, analysisPreferRedacted: 'true' })).toThrow(
        /"analysisBucketKmsKeyArn" applies only[\s\S]*"analysisPreferRedacted" applies only/,
      );
    });
  });

  describe('backfill', () => {
    test('is absent unless "backfill" is true', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID }).backfill).toBeUndefined();
      expect(parse({ connectInstanceId: INSTANCE_ID, backfill: 'false' }).backfill).toBeUndefined();
      expect(parse({ connectInstanceId: INSTANCE_ID, backfill: false }).backfill).toBeUndefined();
      expect(DEFAULTS.backfill).toBe(false);
    });

    test('defaults to one child execution and 90 days, as `-c backfill=true` or cdk.json delivers it', () => {
      for (const backfill of ['true', true]) {
        expect(parse({ connectInstanceId: INSTANCE_ID, backfill }).backfill).toEqual({ maxConcurrency: 1, retentionDays: 90 });
      }
      expect(DEFAULTS.backfillRetentionDays).toBe(90);
      expect(DEFAULTS.contactLensQuotaPerSecond).toBe(1);
    });

    test('takes the concurrency and the retention as given', () => {
      expect(
        parse({
          connectInstanceId: INSTANCE_ID,
          backfill: 'true',
          reservedConcurrency: '10',
          backfillMaxConcurrency: '7',
          backfillRetentionDays: '3650',
        }).backfill,
      ).toEqual({ maxConcurrency: 7, retentionDays: 3650 });
      // Without a reserved concurrency, it grows to the backfill's and one more for manual invocations.
      const given = parse({ connectInstanceId: INSTANCE_ID, backfill: 'true', backfillMaxConcurrency: 2 });
      expect(given.backfill).toEqual({ maxConcurrency: 2, retentionDays: 90 });
      expect([given.reservedConcurrency, given.concurrency]).toEqual([3, { manual: 1, worker: 2 }]);
    });

    test.each([
      // [quota, reserved concurrency, default MaxConcurrency]
      [undefined, undefined, 1],
      ['10', undefined, 1], // one batch at a time without a reserved concurrency to fit into
      ['10', '10', 9], // one per request per second of the quota: one execution stays for manual invocations
      ['10', '4', 3],
      ['1', '10', 1],
      ['100', '50', 49],
      ['1000', '1000', 999],
    ])('sizes the default MaxConcurrency from the quota %s and the reserved concurrency %s: %s', (quota, reserved, expected) => {
      const settings = parse({
        connectInstanceId: INSTANCE_ID,
        backfill: 'true',
        contactLensQuotaPerSecond: quota,
        reservedConcurrency: reserved,
        // Enough for every instance to hold a share of at least one read an hour.
        salesforceEntriesReadsPerHour: '10000',
      });
      expect(settings.backfill?.maxConcurrency).toBe(expected);
      expect(settings.concurrency.manual).toBe(settings.reservedConcurrency - expected);
    });

    test('the quota may be given without backfills, where it only sizes the shares', () => {
      const { shares, ...rest } = parse({ connectInstanceId: INSTANCE_ID, contactLensQuotaPerSecond: '5' });
      const { shares: defaultShares, ...defaults } = parse({ connectInstanceId: INSTANCE_ID });
      expect({ ...rest, budgets: defaults.budgets }).toEqual(defaults);
      expect(shares.manual.contactLensPerSecond).toBe(5);
      expect(defaultShares.manual.contactLensPerSecond).toBe(1);
    });

    test.each([
      [{ backfill: 'yes' }, /"backfill" must be true or false, got "yes"/],
      [{ backfill: 'TRUE' }, /"backfill" must be true or false/],
      [{ backfillMaxConcurrency: '1' }, /"backfillMaxConcurrency" applies only to backfills: set "backfill" to true too/],
      [{ backfill: 'false', backfillRetentionDays: '30' }, /"backfillRetentionDays" applies only to backfills: set "backfill" to true too/],
      [
        { backfill: 'true', reservedConcurrency: '3', backfillMaxConcurrency: '3' },
        /"backfillMaxConcurrency" \(3\) must be less than "reservedConcurrency" \(3\): one execution at least is kept for manual invocations/,
      ],
      [{ backfill: 'true', reservedConcurrency: '4', backfillMaxConcurrency: '5' }, /"backfillMaxConcurrency" \(5\) must be less than "reservedConcurrency" \(4\)/],
      [{ backfill: 'true', reservedConcurrency: '1' }, /"backfillMaxConcurrency" \(1\) must be less than "reservedConcurrency" \(1\)/],
      [{ backfill: 'true', backfillMaxConcurrency: '0' }, /"backfillMaxConcurrency" must be an integer from 1 to 1000, got "0"/],
      [{ backfill: 'true', reservedConcurrency: '1000', backfillMaxConcurrency: '1001' }, /"backfillMaxConcurrency" must be an integer from 1 to 1000/],
      [{ backfill: 'true', backfillRetentionDays: '0' }, /"backfillRetentionDays" must be an integer from 1 to 3650, got "0"/],
      [{ backfill: 'true', backfillRetentionDays: '3651' }, /"backfillRetentionDays" must be an integer from 1 to 3650/],
      [{ backfill: 'true', backfillRetentionDays: '1.5' }, /"backfillRetentionDays"/],
      [{ contactLensQuotaPerSecond: '0' }, /"contactLensQuotaPerSecond" must be an integer from 1 to 1000, got "0"/],
      [{ backfill: 'true', contactLensQuotaPerSecond: '1001' }, /"contactLensQuotaPerSecond" must be an integer from 1 to 1000/],
    ])('rejects %j naming the setting', (context, message) => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
    });

    test('compares the concurrency only with a valid reserved concurrency', () => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, backfill: 'true', reservedConcurrency: '0', backfillMaxConcurrency: '3' })).toThrow(
        /^(?![\s\S]*must be less than)[\s\S]*"reservedConcurrency" must be an integer/,
      );
    });

    test('reports every bad backfill setting along with the others', () => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, memorySize: 'big', backfillMaxConcurrency: '2', backfillRetentionDays: '0' })).toThrow(
        /memorySize[\s\S]*"backfillRetentionDays" must be an integer[\s\S]*"backfillMaxConcurrency" applies only[\s\S]*"backfillRetentionDays" applies only/,
      );
    });
  });

  describe('automatic repair', () => {
    const DEFAULT_AUTO_REPAIR = { delaySeconds: 600, batchSize: 10, maxConcurrency: 2, maxReceiveCount: 5 };

    test('is absent unless "autoRepair" is true', () => {
      expect(parse({ connectInstanceId: INSTANCE_ID }).autoRepair).toBeUndefined();
      expect(parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'false' }).autoRepair).toBeUndefined();
      expect(parse({ connectInstanceId: INSTANCE_ID, autoRepair: false }).autoRepair).toBeUndefined();
      expect(DEFAULTS.autoRepair).toBe(false);
    });

    test('defaults to a 600 s delay, batches of 10, 2 at once and 5 receives, as `-c autoRepair=true` or cdk.json delivers it', () => {
      for (const autoRepair of ['true', true]) {
        expect(parse({ connectInstanceId: INSTANCE_ID, autoRepair }).autoRepair).toEqual(DEFAULT_AUTO_REPAIR);
      }
      expect(DEFAULTS).toMatchObject({
        autoRepairDelaySeconds: 600,
        autoRepairBatchSize: 10,
        autoRepairMaxConcurrency: 2,
        autoRepairMaxReceiveCount: 5,
      });
    });

    test('takes every setting as given, from strings or from cdk.json numbers', () => {
      expect(
        parse({
          connectInstanceId: INSTANCE_ID,
          autoRepair: 'true',
          reservedConcurrency: '9',
          autoRepairDelaySeconds: '0',
          autoRepairBatchSize: '100',
          autoRepairMaxConcurrency: '8',
          autoRepairMaxReceiveCount: '1000',
        }).autoRepair,
      ).toEqual({ delaySeconds: 0, batchSize: 100, maxConcurrency: 8, maxReceiveCount: 1000 });
      expect(
        parse({
          connectInstanceId: INSTANCE_ID,
          autoRepair: true,
          autoRepairDelaySeconds: 900,
          autoRepairBatchSize: 1,
          autoRepairMaxConcurrency: 2,
          autoRepairMaxReceiveCount: 1,
        }).autoRepair,
      ).toEqual({ delaySeconds: 900, batchSize: 1, maxConcurrency: 2, maxReceiveCount: 1 });
      expect(
        parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true', autoRepairTranscriptHorizonHours: '720' }).autoRepair
          ?.transcriptHorizonHours,
      ).toBe(720);
    });

    test('goes with a backfill, and changes none of the other settings but the worker\'s concurrency and shares', () => {
      const settings = parse({ connectInstanceId: INSTANCE_ID, reservedConcurrency: '4', backfill: 'true', autoRepair: 'true' });
      expect(settings.autoRepair).toEqual(DEFAULT_AUTO_REPAIR);
      const { concurrency, shares, autoRepair, ...rest } = settings;
      const { concurrency: alone, shares: _shares, ...backfillOnly } = parse({
        connectInstanceId: INSTANCE_ID,
        reservedConcurrency: '4',
        backfill: 'true',
      });
      expect(rest).toEqual(backfillOnly);
      expect([alone, concurrency]).toEqual([
        { manual: 3, worker: 1 },
        { manual: 1, worker: 3 },
      ]);
    });

    test('adds its share to the default reserved concurrency, so backfills and manual invokes keep theirs', () => {
      const alone = parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true' });
      expect([alone.reservedConcurrency, alone.concurrency]).toEqual([3, { manual: 1, worker: 2 }]);
      const both = parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true', autoRepairMaxConcurrency: '3', backfill: 'true' });
      expect([both.reservedConcurrency, both.autoRepair?.maxConcurrency, both.backfill?.maxConcurrency]).toEqual([5, 3, 1]);
      expect(both.concurrency).toEqual({ manual: 1, worker: 4 });
      const given = parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true', backfill: 'true', reservedConcurrency: '4' });
      expect([given.reservedConcurrency, given.backfill?.maxConcurrency, given.concurrency.manual]).toEqual([4, 1, 1]);
    });

    test('treats empty values as not given', () => {
      expect(
        parse({
          connectInstanceId: INSTANCE_ID,
          autoRepair: '',
          autoRepairDelaySeconds: '',
          autoRepairBatchSize: '',
          autoRepairMaxConcurrency: '',
          autoRepairMaxReceiveCount: '',
        }),
      ).toEqual(parse({ connectInstanceId: INSTANCE_ID }));
    });

    test.each([
      [{ autoRepair: 'yes' }, /"autoRepair" must be true or false, got "yes"/],
      [{ autoRepair: 'TRUE' }, /"autoRepair" must be true or false/],
      [{ autoRepairDelaySeconds: '300' }, /"autoRepairDelaySeconds" applies only to automatic repair: set "autoRepair" to true too/],
      [{ autoRepairBatchSize: '20' }, /"autoRepairBatchSize" applies only to automatic repair: set "autoRepair" to true too/],
      [{ autoRepairMaxConcurrency: '2' }, /"autoRepairMaxConcurrency" applies only to automatic repair: set "autoRepair" to true too/],
      [{ autoRepair: 'false', autoRepairMaxReceiveCount: '3' }, /"autoRepairMaxReceiveCount" applies only to automatic repair: set "autoRepair" to true too/],
      [{ autoRepair: 'true', autoRepairDelaySeconds: '901' }, /"autoRepairDelaySeconds" must be an integer from 0 to 900, got "901"/],
      [{ autoRepair: 'true', autoRepairDelaySeconds: '-1' }, /"autoRepairDelaySeconds" must be an integer from 0 to 900/],
      [{ autoRepair: 'true', autoRepairBatchSize: '0' }, /"autoRepairBatchSize" must be an integer from 1 to 100, got "0"/],
      [{ autoRepair: 'true', autoRepairBatchSize: '101' }, /"autoRepairBatchSize" must be an integer from 1 to 100/],
      [{ autoRepair: 'true', autoRepairMaxConcurrency: '1' }, /"autoRepairMaxConcurrency" must be an integer from 2 to 1000, got "1"/],
      [{ autoRepair: 'true', reservedConcurrency: '1000', autoRepairMaxConcurrency: '1001' }, /"autoRepairMaxConcurrency" must be an integer from 2 to 1000/],
      [{ autoRepair: 'true', autoRepairMaxReceiveCount: '0' }, /"autoRepairMaxReceiveCount" must be an integer from 1 to 1000, got "0"/],
      [{ autoRepair: 'true', autoRepairMaxReceiveCount: '1001' }, /"autoRepairMaxReceiveCount" must be an integer from 1 to 1000/],
      [{ autoRepair: 'true', autoRepairMaxReceiveCount: '2.5' }, /"autoRepairMaxReceiveCount"/],
      [{ autoRepair: 'true', autoRepairTranscriptHorizonHours: '0' }, /"autoRepairTranscriptHorizonHours" must be an integer from 1 to 720, got "0"/],
      [{ autoRepairTranscriptHorizonHours: '24' }, /"autoRepairTranscriptHorizonHours" applies only to automatic repair: set "autoRepair" to true too/],
      [
        { autoRepair: 'true', reservedConcurrency: '3', autoRepairMaxConcurrency: '3' },
        /"autoRepairMaxConcurrency" \(3\) must be less than "reservedConcurrency" \(3\): one execution at least is kept for manual invocations/,
      ],
      [
        { autoRepair: 'true', backfill: 'true', reservedConcurrency: '3' },
        /"backfillMaxConcurrency" \(1\) must be less than "reservedConcurrency" \(3\) minus "autoRepairMaxConcurrency" \(2\)/,
      ],
      [
        { autoRepair: 'true', reservedConcurrency: '2' },
        /"autoRepairMaxConcurrency" \(2, the default and the least Lambda allows\) must be less than "reservedConcurrency" \(2\)/,
      ],
    ])('rejects %j naming the setting', (context, message) => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, ...context })).toThrow(message);
    });

    test('compares the concurrency only with valid values', () => {
      expect(() => parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true', reservedConcurrency: '0', autoRepairMaxConcurrency: '3' })).toThrow(
        /^(?![\s\S]*must be less than)[\s\S]*"reservedConcurrency" must be an integer/,
      );
      expect(() => parse({ connectInstanceId: INSTANCE_ID, autoRepair: 'true', reservedConcurrency: '1', autoRepairMaxConcurrency: 'two' })).toThrow(
        /^(?![\s\S]*must be less than)[\s\S]*"autoRepairMaxConcurrency" must be an integer from 2 to 1000, got "two"/,
      );
    });

    test('reports every bad auto-repair setting along with the others', () => {
      expect(() =>
        parse({ connectInstanceId: INSTANCE_ID, memorySize: 'big', autoRepairDelaySeconds: '901', autoRepairBatchSize: '5' }),
      ).toThrow(
        /memorySize[\s\S]*"autoRepairDelaySeconds" must be an integer[\s\S]*"autoRepairDelaySeconds" applies only[\s\S]*"autoRepairBatchSize" applies only/,
      );
    });
  });

  test.each([
    [{ connectInstanceId: undefined }, /"connectInstanceId" is required/],
    [{ connectInstanceId: '' }, /"connectInstanceId" is required/],
    [{ connectInstanceId: 'my-instance' }, /"connectInstanceId" must be an Amazon Connect instance ID/],
    [{ salesforceSecretArn: 'my-secret' }, /"salesforceSecretArn" must be the complete ARN/],
    // A partial ARN (without the random suffix) would need a wildcard in the IAM grant.
    [{ salesforceSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:salesforce' }, /"salesforceSecretArn"/],
    [{ salesforceSecretArn: 'arn:aws:s3:::bucket-AbCdEf' }, /"salesforceSecretArn"/],
    [{ salesforceSecretArn: SECRET_ARN, salesforceSecretKmsKeyArn: 'alias/aws/secretsmanager' }, /"salesforceSecretKmsKeyArn" entries must each be a KMS key ARN/],
    [{ salesforceSecretKmsKeyArn: KMS_KEY_ARN }, /"salesforceSecretKmsKeyArn" applies only to imported secrets: set "salesforceSecretArn" or "extraSalesforceSecretArns" too/],
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
    [{ contactLensRequestsPerSecond: '1' }, /"contactLensRequestsPerSecond" is computed now: set "contactLensQuotaPerSecond"/],
    [{ describeContactQuotaPerSecond: '0' }, /"describeContactQuotaPerSecond" must be an integer from 1 to 1000, got "0"/],
    [{ salesforceEntriesReadsPerHour: '1000001' }, /"salesforceEntriesReadsPerHour" must be an integer from 1 to 1000000/],
    [{ salesforceApiUsageCeilingPercent: '101' }, /"salesforceApiUsageCeilingPercent" must be an integer from 1 to 100/],
    [{ manualRequestContacts: '101' }, /"manualRequestContacts" must be an integer from 1 to 100, got "101"/],
    [
      { reservedConcurrency: '100', autoRepair: 'true', autoRepairMaxConcurrency: '99', salesforceEntriesReadsPerHour: '1' },
      /"salesforceEntriesReadsPerHour" is too small for 1 manual and 99 worker instances: a manual instance's share would be less than one read an hour/,
    ],
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

describe('functionCode', () => {
  const prebuilt = (name: string) => path.join(__dirname, '..', 'tests', 'fixtures', 'prebuilt', name);
  const codeError = (given: string, rule: string) =>
    expect(() => parse({ connectInstanceId: INSTANCE_ID, functionCode: given })).toThrow(
      `"functionCode" must be ${rule}, got "${given}"`,
    );

  test('takes a directory with an arm64 bootstrap, or a zip file, as an absolute path', () => {
    expect(parse({ connectInstanceId: INSTANCE_ID, functionCode: prebuilt('arm64') }).functionCodePath).toBe(prebuilt('arm64'));
    const relative = path.relative(process.cwd(), prebuilt('function.zip'));
    expect(parse({ connectInstanceId: INSTANCE_ID, functionCode: relative }).functionCodePath).toBe(prebuilt('function.zip'));
    expect(parse({ connectInstanceId: INSTANCE_ID }).functionCodePath).toBeUndefined();
  });

  test('refuses what cannot run as the function, naming the rule', () => {
    codeError(prebuilt('missing'), 'an existing zip file or directory');
    codeError(prebuilt('arm64/bootstrap'), 'a .zip file or a directory');
    codeError(prebuilt(''), 'a directory holding the `bootstrap` executable');
    codeError(prebuilt('not-executable'), 'a directory whose `bootstrap` is executable');
    codeError(prebuilt('x86_64'), 'a directory whose `bootstrap` is an arm64 (aarch64) Linux executable');
  });
});

test('SETTING_KEYS are exactly the keys parseSettings reads, which propsFromContext hands on', () => {
  const read = new Set<string>();
  for (const context of [{}, { connectInstanceId: INSTANCE_ID, scvSsmCallCenter: 'Acme', autoRepair: 'true', backfill: 'true' }]) {
    try {
      parseSettings((key) => {
        read.add(key);
        return (context as Record<string, unknown>)[key];
      });
    } catch {
      // Only the keys matter here.
    }
  }
  expect([...read].sort()).toEqual([...SETTING_KEYS].sort());
});
