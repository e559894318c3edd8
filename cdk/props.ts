import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** Validated settings of one contact-data-sync deployment, defaults applied. */
export interface ContactDataSyncSettings {
  /** Amazon Connect instance whose contacts the function reads (lower-case UUID). */
  readonly connectInstanceId: string;
  /** Complete ARN of an existing Salesforce OAuth secret; absent means the stack creates one. */
  readonly salesforceSecretArn?: string;
  /** Customer managed KMS key encrypting the imported secret, if any. */
  readonly salesforceSecretKmsKeyArn?: string;
  /** Address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Salesforce REST API version, e.g. "64.0". */
  readonly salesforceApiVersion: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  readonly reservedConcurrency: number;
  readonly logRetentionDays: RetentionDays;
  /** Contacts processed in parallel by one invocation; the function's own default applies when absent. */
  readonly contactConcurrency?: number;
  /** Transcripts per Salesforce upload request; the function's own default applies when absent. */
  readonly uploadBatchSize?: number;
  /**
   * Contact Lens requests per second from one function instance; the function's own default (1)
   * applies when absent. Set it to the account's quota divided by the reserved concurrency.
   */
  readonly contactLensRequestsPerSecond?: number;
  /** Failed contacts within 5 minutes that raise the ContactsFailed alarm. */
  readonly failedContactsAlarmThreshold: number;
}

export const DEFAULTS = {
  salesforceApiVersion: '64.0',
  memorySize: 256,
  // Contact Lens allows ~1-10 requests/s and a 100-contact backfill needs up to 300 of them;
  // the function stops starting new contacts near its deadline, so the maximum is safe.
  timeoutSeconds: 900,
  // Two parallel backfills stay within the Contact Lens request quota.
  reservedConcurrency: 2,
  logRetentionDays: RetentionDays.THREE_MONTHS,
  failedContactsAlarmThreshold: 1,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The complete ARN (with the 6-character suffix Secrets Manager appends) names exactly one
// secret, so the IAM grant needs no wildcard.
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const API_VERSION = /^\d+\.\d$/;
const RETENTION_DAYS = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'),
);

/** Reads one raw setting, e.g. `(key) => app.node.tryGetContext(key)`. */
export type SettingLookup = (key: string) => unknown;

/**
 * Validates the raw settings (CDK context values: strings from `-c key=value`, or JSON
 * values from cdk.json) and applies defaults.
 *
 * @throws Error listing every missing or malformed setting by name.
 */
export function parseSettings(lookup: SettingLookup): ContactDataSyncSettings {
  const errors: string[] = [];
  const raw = (key: string): string | undefined => {
    const value = lookup(key);
    if (value === undefined || value === null || value === '') return undefined;
    return String(value).trim();
  };
  const text = (key: string, pattern: RegExp, expected: string): string | undefined => {
    const value = raw(key);
    if (value !== undefined && !pattern.test(value)) {
      errors.push(`"${key}" must be ${expected}, got "${value}"`);
      return undefined;
    }
    return value;
  };
  const integer = (key: string, min: number, max: number): number | undefined => {
    const value = raw(key);
    if (value === undefined) return undefined;
    const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(parsed >= min && parsed <= max)) {
      errors.push(`"${key}" must be an integer from ${min} to ${max}, got "${value}"`);
      return undefined;
    }
    return parsed;
  };

  const connectInstanceId = text('connectInstanceId', UUID, 'an Amazon Connect instance ID (UUID)');
  if (raw('connectInstanceId') === undefined) {
    errors.push('"connectInstanceId" is required: pass -c connectInstanceId=<Amazon Connect instance ID>');
  }
  const salesforceSecretArn = text(
    'salesforceSecretArn',
    SECRET_ARN,
    'the complete ARN of a Secrets Manager secret (ending in the 6-character suffix)',
  );
  const salesforceSecretKmsKeyArn = text('salesforceSecretKmsKeyArn', KMS_KEY_ARN, 'a KMS key ARN');
  if (salesforceSecretKmsKeyArn !== undefined && raw('salesforceSecretArn') === undefined) {
    errors.push('"salesforceSecretKmsKeyArn" applies only to an imported secret: set "salesforceSecretArn" too');
  }
  const alarmEmail = text('alarmEmail', EMAIL, 'an email address');
  const salesforceApiVersion = text('salesforceApiVersion', API_VERSION, 'a Salesforce API version like "64.0"');
  const memorySize = integer('memorySize', 128, 10240);
  const timeoutSeconds = integer('timeoutSeconds', 1, 900);
  const reservedConcurrency = integer('reservedConcurrency', 1, 1000);
  const logRetentionDays = integer('logRetentionDays', 1, RetentionDays.INFINITE);
  if (logRetentionDays !== undefined && !RETENTION_DAYS.has(logRetentionDays)) {
    errors.push(
      `"logRetentionDays" must be one of ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}, got "${logRetentionDays}"`,
    );
  }
  // Same bounds as the function's own configuration check (lambda/src/config.rs).
  const contactConcurrency = integer('contactConcurrency', 1, 100);
  const uploadBatchSize = integer('uploadBatchSize', 1, 100);
  const contactLensRequestsPerSecond = integer('contactLensRequestsPerSecond', 1, 1000);
  const failedContactsAlarmThreshold = integer('failedContactsAlarmThreshold', 1, 100000);

  if (errors.length > 0 || connectInstanceId === undefined) {
    throw new Error(`Invalid contact-data-sync settings:\n  - ${errors.join('\n  - ')}`);
  }
  return {
    // IAM matches resource ARNs case-sensitively and Connect writes instance IDs in lower case.
    connectInstanceId: connectInstanceId.toLowerCase(),
    salesforceSecretArn,
    salesforceSecretKmsKeyArn,
    alarmEmail,
    salesforceApiVersion: salesforceApiVersion ?? DEFAULTS.salesforceApiVersion,
    memorySize: memorySize ?? DEFAULTS.memorySize,
    timeoutSeconds: timeoutSeconds ?? DEFAULTS.timeoutSeconds,
    reservedConcurrency: reservedConcurrency ?? DEFAULTS.reservedConcurrency,
    logRetentionDays: (logRetentionDays as RetentionDays | undefined) ?? DEFAULTS.logRetentionDays,
    contactConcurrency,
    uploadBatchSize,
    contactLensRequestsPerSecond,
    failedContactsAlarmThreshold: failedContactsAlarmThreshold ?? DEFAULTS.failedContactsAlarmThreshold,
  };
}
