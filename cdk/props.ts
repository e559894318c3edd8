import * as fs from 'fs';
import * as path from 'path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { InstanceCounts, MANUAL_REQUEST_CONTACTS, QuotaBudgets, QuotaShares, quotaShares } from './quota-shares';

/** Validated settings of one contact-data-sync deployment, defaults applied. */
export interface ContactDataSyncSettings {
  /** Amazon Connect instance whose contacts the function reads (lower-case UUID). */
  readonly connectInstanceId: string;
  /** Where the function reads the Salesforce credentials: Secrets Manager or SCV's SSM parameters. */
  readonly salesforce: SalesforceSecretsSettings | ScvSsmSettings;
  /** Address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Salesforce REST API version, e.g. "64.0". */
  readonly salesforceApiVersion: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /**
   * Function executions the deployment reserves in all: the worker's (automatic repair's and
   * backfills' maximum concurrency) and the rest, at least one, for manual invocations.
   */
  readonly reservedConcurrency: number;
  /** How many instances of each function may run at once; they size the quota shares. */
  readonly concurrency: InstanceCounts;
  /** What the whole deployment may spend of each external quota. */
  readonly budgets: QuotaBudgets;
  /** Each function instance's share of the budgets (see quota-shares.ts). */
  readonly shares: QuotaShares;
  /**
   * The org's API usage (percent of its rolling 24-hour allocation) at which the function stops
   * spending it (`salesforceApiUsageCeilingPercent`).
   */
  readonly apiUsageCeilingPercent: number;
  readonly logRetentionDays: RetentionDays;
  /** Contacts processed in parallel by one invocation; the function's own default applies when absent. */
  readonly contactConcurrency?: number;
  /** Transcripts per Salesforce upload request; the function's own default applies when absent. */
  readonly uploadBatchSize?: number;
  /** Failed contacts within 5 minutes that raise the ContactsFailed alarm. */
  readonly failedContactsAlarmThreshold: number;
  /**
   * The Amazon Connect instance's bucket of Contact Lens post-call analysis files, which the
   * function reads for contacts older than the 24 hours Contact Lens serves; absent means no fallback.
   */
  readonly analysisBucket?: AnalysisBucketSettings;
  /**
   * The backfill bucket and state machine, which upload the transcripts of every contact in a
   * manifest (`backfill`); absent means no backfill resources.
   */
  readonly backfill?: BackfillSettings;
  /**
   * The queue of Amazon Connect's DISCONNECTED voice call events that has the function check and
   * repair each call shortly after it ends (`autoRepair`); absent means no auto-repair resources.
   */
  readonly autoRepair?: AutoRepairSettings;
  /**
   * The function's code built elsewhere (`functionCode`), as an absolute path: a zip file, or a
   * directory holding the arm64 `bootstrap` executable. Absent means cargo-lambda builds it at synth.
   */
  readonly functionCodePath?: string;
}

/**
 * How calls reach the worker function after they end. Each message is one call; each
 * invocation spends one worker instance's share of every budget.
 */
export interface AutoRepairSettings {
  /**
   * Seconds each call's event waits in the queue before the function sees it (`autoRepairDelaySeconds`):
   * Contact Lens real-time analysis finishes after the call ends.
   */
  readonly delaySeconds: number;
  /** Calls per function invocation (`autoRepairBatchSize`); one Salesforce query resolves a whole batch. */
  readonly batchSize: number;
  /** Invocations the queue may run at once (`autoRepairMaxConcurrency`), at most the reserved concurrency. */
  readonly maxConcurrency: number;
  /** Receives of a call before SQS moves it to the dead-letter queue (`autoRepairMaxReceiveCount`). */
  readonly maxReceiveCount: number;
  /**
   * Hours after a call during which a transcript that is not there yet is waited for
   * (`autoRepairTranscriptHorizonHours`, the function's REPAIR_TRANSCRIPT_HORIZON_HOURS); the
   * function's own default (48) when absent.
   */
  readonly transcriptHorizonHours?: number;
}

/**
 * How a backfill runs. Each Distributed Map child execution is one worker invocation processing
 * 100 contacts, paced to one worker instance's share of every budget.
 */
export interface BackfillSettings {
  /**
   * Child executions (worker invocations) running at once (`backfillMaxConcurrency`). Defaults to
   * one per Contact Lens request per second of the quota, but at most what automatic repair leaves
   * of the reserved concurrency minus one, which is kept for manual invocations.
   */
  readonly maxConcurrency: number;
  /** Days the manifests and results stay in the backfill bucket (`backfillRetentionDays`). */
  readonly retentionDays: number;
}

/** Where the Contact Lens post-call analysis files are (`Analysis/Voice/...` in the bucket). */
export interface AnalysisBucketSettings {
  /** Name of the bucket (`analysisBucket`). */
  readonly bucketName: string;
  /** Customer managed KMS key encrypting the files (`analysisBucketKmsKeyArn`); absent means SSE-S3 or aws/s3. */
  readonly kmsKeyArn?: string;
  /** Read the redacted copies under `Analysis/Voice/Redacted/` first (`analysisPreferRedacted`). */
  readonly preferRedacted: boolean;
}

/**
 * Salesforce credentials in Secrets Manager: a secret the stack creates, or Service Cloud Voice's
 * own secrets (one per org, each with a token-cache secret) that the function reads as they are.
 */
export interface SalesforceSecretsSettings {
  readonly kind: 'secrets';
  /** Complete ARN of the default org's existing secret (`salesforceSecretArn`); absent means the stack creates one. */
  readonly secretArn?: string;
  /** Complete ARNs of other orgs' secrets a request may select (`extraSalesforceSecretArns`). */
  readonly extraSecretArns: readonly string[];
  /** Complete ARN of the default org's token-cache secret (`tokenSecretArn`), which the function rewrites. */
  readonly tokenSecretArn?: string;
  /**
   * The token-cache secrets of orgs of `extraSecretArns`, at most one per org (`extraTokenSecretArns`,
   * entries `<org secret ARN>|<token-cache secret ARN>`). Each belongs to its org alone: a request for
   * one org may never have its token written into another org's cache.
   */
  readonly extraTokenSecretArns: readonly TokenCachePairing[];
  /** Customer managed KMS keys encrypting the imported secrets (`salesforceSecretKmsKeyArn`). */
  readonly kmsKeyArns: readonly string[];
}

/** An extra org's secret and the token-cache secret that belongs to it. */
export interface TokenCachePairing {
  /** Complete ARN of the org's secret, one of `extraSalesforceSecretArns`. */
  readonly secretArn: string;
  /** Complete ARN of its token-cache secret. */
  readonly tokenSecretArn: string;
}

/**
 * Salesforce credentials in the SSM parameters of an older Service Cloud Voice deployment,
 * `<callCenter>-salesforce-rest-api-*`, which hold no URLs; so the settings carry them.
 */
export interface ScvSsmSettings {
  readonly kind: 'scvSsm';
  /** The SCV call center API name that prefixes the parameter names (`scvSsmCallCenter`). */
  readonly callCenter: string;
  /** Full OAuth token URL of the org (`salesforceAuthEndpoint`). */
  readonly authEndpoint: string;
  /** REST base URL of the org (`salesforceRestApiEndpointBase`). */
  readonly restApiEndpointBase: string;
  /**
   * Customer managed KMS key of the SecureString parameters (`scvSsmKmsKeyArn`); absent means aws/ssm.
   * The function writes the access token back with it (SALESFORCE_SSM_KMS_KEY_ID).
   */
  readonly kmsKeyArn?: string;
}

export const DEFAULTS = {
  salesforceApiVersion: '64.0',
  memorySize: 256,
  // Contact Lens allows ~1-10 requests/s and a 100-contact backfill needs up to 300 of them;
  // the function stops starting new contacts near its deadline, so the maximum is safe.
  timeoutSeconds: 900,
  // Function executions kept for manual invocations when "reservedConcurrency" is not given;
  // more would split the manual share of each quota thinner.
  manualConcurrency: 1,
  logRetentionDays: RetentionDays.THREE_MONTHS,
  failedContactsAlarmThreshold: 1,
  analysisPreferRedacted: false,
  backfill: false,
  // Contact Lens ListRealtimeContactAnalysisSegments requests per second the account may make
  // (Amazon Connect service quotas: 1/s, burst 2, for the account and region).
  contactLensQuotaPerSecond: 1,
  // Half of DescribeContact's account quota (about 10/s): the rest is the customer's own.
  describeContactQuotaPerSecond: 5,
  // Under Salesforce's default 1,000 per connected app user and hour, with room for SCV's own reads.
  salesforceEntriesReadsPerHour: 800,
  salesforceApiUsageCeilingPercent: 80,
  // The contract's largest request: the manual function's share lets one finish within the timeout.
  manualRequestContacts: MANUAL_REQUEST_CONTACTS,
  backfillRetentionDays: 90,
  autoRepair: false,
  // Contact Lens real-time analysis finishes after the call; 900 is SQS's maximum delay.
  autoRepairDelaySeconds: 600,
  // One SOQL query resolves a whole batch; each contact costs about one Contact Lens request at the paced rate.
  autoRepairBatchSize: 10,
  // The minimum Lambda allows for an SQS event source mapping.
  autoRepairMaxConcurrency: 2,
  autoRepairMaxReceiveCount: 5,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The complete ARN (with the 6-character suffix Secrets Manager appends) names exactly one
// secret, so the IAM grant needs no wildcard.
const SECRET_ARN_BODY = 'arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}';
const SECRET_ARN = new RegExp(`^${SECRET_ARN_BODY}$`);
const SECRET_ARN_EXPECTED = 'the complete ARN of a Secrets Manager secret (ending in the 6-character suffix)';
// `|` appears in no ARN, so a pair splits in one way only.
const TOKEN_CACHE_PAIR = new RegExp(`^${SECRET_ARN_BODY}\\s*\\|\\s*${SECRET_ARN_BODY}$`);
const TOKEN_CACHE_PAIR_EXPECTED =
  "an extra org's secret and its token-cache secret as <org secret ARN>|<token-cache secret ARN>, both complete ARNs";
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]+$/;
// SCV call center API names; they prefix the SSM parameter names, so nothing else may slip in.
const CALL_CENTER = /^[A-Za-z][A-Za-z0-9_]{0,79}$/;
// S3 bucket names; the name goes into IAM resource ARNs, so no wildcard character may slip in.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const API_VERSION = /^\d+\.\d$/;
/** The function's least pace (lambda/src/config.rs): about one request an hour. */
const MIN_REQUESTS_PER_SECOND = 0.0003;
const RETENTION_DAYS = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'),
);

/**
 * Every key {@link parseSettings} reads: the CDK context values, and the ContactDataSync
 * construct's props (but for `contactLensRequestsPerSecond`, read only to say it was replaced).
 */
export const SETTING_KEYS = [
  'connectInstanceId',
  'salesforceSecretArn',
  'salesforceSecretKmsKeyArn',
  'tokenSecretArn',
  'extraSalesforceSecretArns',
  'extraTokenSecretArns',
  'scvSsmCallCenter',
  'salesforceAuthEndpoint',
  'salesforceRestApiEndpointBase',
  'scvSsmKmsKeyArn',
  'analysisBucket',
  'analysisBucketKmsKeyArn',
  'analysisPreferRedacted',
  'alarmEmail',
  'salesforceApiVersion',
  'memorySize',
  'timeoutSeconds',
  'reservedConcurrency',
  'logRetentionDays',
  'contactConcurrency',
  'uploadBatchSize',
  'contactLensQuotaPerSecond',
  'contactLensRequestsPerSecond',
  'describeContactQuotaPerSecond',
  'salesforceEntriesReadsPerHour',
  'salesforceApiUsageCeilingPercent',
  'manualRequestContacts',
  'failedContactsAlarmThreshold',
  'functionCode',
  'backfill',
  'backfillMaxConcurrency',
  'backfillRetentionDays',
  'autoRepair',
  'autoRepairDelaySeconds',
  'autoRepairBatchSize',
  'autoRepairMaxConcurrency',
  'autoRepairMaxReceiveCount',
  'autoRepairTranscriptHorizonHours',
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

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
  const read = new SettingReader(lookup, errors);

  const connectInstanceId = read.text('connectInstanceId', UUID, 'an Amazon Connect instance ID (UUID)');
  if (!read.given('connectInstanceId')) {
    errors.push('"connectInstanceId" is required: pass -c connectInstanceId=<Amazon Connect instance ID>');
  }
  const salesforce = parseSalesforce(read, errors);
  const alarmEmail = read.text('alarmEmail', EMAIL, 'an email address');
  const salesforceApiVersion = read.text('salesforceApiVersion', API_VERSION, 'a Salesforce API version like "64.0"');
  const memorySize = read.integer('memorySize', 128, 10240);
  const timeoutSeconds = read.integer('timeoutSeconds', 1, 900);
  const reservedConcurrency = read.integer('reservedConcurrency', 1, 1000);
  const logRetentionDays = read.integer('logRetentionDays', 1, RetentionDays.INFINITE);
  if (logRetentionDays !== undefined && !RETENTION_DAYS.has(logRetentionDays)) {
    errors.push(
      `"logRetentionDays" must be one of ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}, got "${logRetentionDays}"`,
    );
  }
  // Same bounds as the function's own configuration check (lambda/src/config.rs).
  const contactConcurrency = read.integer('contactConcurrency', 1, 100);
  const uploadBatchSize = read.integer('uploadBatchSize', 1, 100);
  if (read.given('contactLensRequestsPerSecond')) {
    errors.push(
      '"contactLensRequestsPerSecond" is computed now: set "contactLensQuotaPerSecond" to the account\'s quota, ' +
        'and the stack gives each function instance its share',
    );
  }
  const budgetValues = {
    contactLensPerSecond: read.integer('contactLensQuotaPerSecond', 1, 1000),
    describeContactPerSecond: read.integer('describeContactQuotaPerSecond', 1, 1000),
    entriesReadsPerHour: read.integer('salesforceEntriesReadsPerHour', 1, 1_000_000),
  };
  const budgets: QuotaBudgets = {
    contactLensPerSecond: budgetValues.contactLensPerSecond ?? DEFAULTS.contactLensQuotaPerSecond,
    describeContactPerSecond: budgetValues.describeContactPerSecond ?? DEFAULTS.describeContactQuotaPerSecond,
    entriesReadsPerHour: budgetValues.entriesReadsPerHour ?? DEFAULTS.salesforceEntriesReadsPerHour,
  };
  const apiUsageCeilingPercent = read.integer('salesforceApiUsageCeilingPercent', 1, 100);
  const manualRequestContacts = read.integer('manualRequestContacts', 1, MANUAL_REQUEST_CONTACTS);
  const failedContactsAlarmThreshold = read.integer('failedContactsAlarmThreshold', 1, 100000);
  const analysisBucket = parseAnalysisBucket(read, errors);
  const reservedGiven = read.given('reservedConcurrency');
  const autoRepair = parseAutoRepair(read, errors, reservedGiven ? reservedConcurrency : undefined, reservedGiven);
  const autoRepairShare = autoRepair?.maxConcurrency ?? 0;
  const functionCodePath = parseFunctionCode(read, errors);
  const backfill = parseBackfill(read, errors, {
    // What automatic repair leaves; absent when not given (or malformed, which is reported already).
    reservedConcurrency: reservedConcurrency === undefined ? undefined : reservedConcurrency - autoRepairShare,
    autoRepairShare,
    contactLensQuotaPerSecond: budgets.contactLensPerSecond,
  });
  const workerConcurrency = autoRepairShare + (backfill?.maxConcurrency ?? 0);
  // Without a reservedConcurrency of the operator's choosing, the worker's paths get theirs and
  // manual invocations one more.
  const reserved = reservedConcurrency ?? workerConcurrency + DEFAULTS.manualConcurrency;
  const concurrency: InstanceCounts = { manual: reserved - workerConcurrency, worker: workerConcurrency };
  const shares = quotaShares(
    budgets,
    concurrency,
    timeoutSeconds ?? DEFAULTS.timeoutSeconds,
    manualRequestContacts ?? DEFAULTS.manualRequestContacts,
  );
  if (errors.length === 0) checkShares(shares, concurrency, errors);

  if (errors.length > 0 || connectInstanceId === undefined || salesforce === undefined) {
    throw new Error(`Invalid contact-data-sync settings:\n  - ${errors.join('\n  - ')}`);
  }
  return {
    // IAM matches resource ARNs case-sensitively and Connect writes instance IDs in lower case.
    connectInstanceId: connectInstanceId.toLowerCase(),
    salesforce,
    alarmEmail,
    salesforceApiVersion: salesforceApiVersion ?? DEFAULTS.salesforceApiVersion,
    memorySize: memorySize ?? DEFAULTS.memorySize,
    timeoutSeconds: timeoutSeconds ?? DEFAULTS.timeoutSeconds,
    reservedConcurrency: reserved,
    concurrency,
    budgets,
    shares,
    apiUsageCeilingPercent: apiUsageCeilingPercent ?? DEFAULTS.salesforceApiUsageCeilingPercent,
    logRetentionDays: (logRetentionDays as RetentionDays | undefined) ?? DEFAULTS.logRetentionDays,
    contactConcurrency,
    uploadBatchSize,
    failedContactsAlarmThreshold: failedContactsAlarmThreshold ?? DEFAULTS.failedContactsAlarmThreshold,
    analysisBucket,
    backfill,
    autoRepair,
    functionCodePath,
  };
}

/** ELF's `e_machine` of AArch64, at byte 18 of the header (little-endian). */
const ELF_MACHINE_AARCH64 = 183;

/**
 * The prebuilt code's absolute path, or undefined when none is given or after recording why it
 * cannot be deployed. A directory's `bootstrap` is checked to be an arm64 executable, because
 * the function runs on arm64 and a wrong binary only fails at its first invocation; a zip's
 * content is taken as `cargo lambda build --arm64 --output-format zip` wrote it.
 */
function parseFunctionCode(read: SettingReader, errors: string[]): string | undefined {
  const given = read.text('functionCode', /./, 'a path');
  if (given === undefined) return undefined;
  const location = path.resolve(given);
  const stat = fs.statSync(location, { throwIfNoEntry: false });
  const problem = (rule: string) => {
    errors.push(`"functionCode" must be ${rule}, got "${given}"`);
    return undefined;
  };
  if (stat === undefined) return problem('an existing zip file or directory');
  if (stat.isFile()) return location.endsWith('.zip') ? location : problem('a .zip file or a directory');
  if (!stat.isDirectory()) return problem('a zip file or a directory');
  const bootstrap = path.join(location, 'bootstrap');
  const binary = fs.statSync(bootstrap, { throwIfNoEntry: false });
  if (binary === undefined || !binary.isFile()) return problem('a directory holding the `bootstrap` executable');
  if ((binary.mode & 0o111) === 0) return problem('a directory whose `bootstrap` is executable');
  const header = Buffer.alloc(20);
  const fd = fs.openSync(bootstrap, 'r');
  const bytesRead = fs.readSync(fd, header, 0, header.length, 0);
  fs.closeSync(fd);
  const elf = bytesRead === header.length && header.readUInt32BE(0) === 0x7f454c46;
  if (!elf || header.readUInt16LE(18) !== ELF_MACHINE_AARCH64) {
    return problem('a directory whose `bootstrap` is an arm64 (aarch64) Linux executable');
  }
  return location;
}

/** The settings only automatic repair reads. */
const AUTO_REPAIR_KEYS = [
  'autoRepairDelaySeconds',
  'autoRepairBatchSize',
  'autoRepairMaxConcurrency',
  'autoRepairMaxReceiveCount',
  'autoRepairTranscriptHorizonHours',
];

/**
 * The automatic repair settings, or undefined when it is off or after recording why they are invalid.
 * See {@link AutoRepairSettings}.
 */
function parseAutoRepair(
  read: SettingReader,
  errors: string[],
  reservedConcurrency: number | undefined,
  reservedGiven: boolean,
): AutoRepairSettings | undefined {
  const enabled = read.boolean('autoRepair');
  // SQS allows delays up to 15 minutes.
  const delaySeconds = read.integer('autoRepairDelaySeconds', 0, 900);
  // At most a backfill batch's 100 contacts, whose paced Contact Lens requests fit in one invocation.
  const batchSize = read.integer('autoRepairBatchSize', 1, 100);
  // Lambda's bounds for an SQS event source mapping's maximum concurrency.
  const maxConcurrency = read.integer('autoRepairMaxConcurrency', 2, 1000);
  // SQS's bounds for a redrive policy.
  const maxReceiveCount = read.integer('autoRepairMaxReceiveCount', 1, 1000);
  // The function's bounds: an hour to 30 days.
  const transcriptHorizonHours = read.integer('autoRepairTranscriptHorizonHours', 1, 720);
  if (enabled !== true) {
    // A malformed "autoRepair" is reported already.
    if (enabled === false || !read.given('autoRepair')) {
      for (const key of AUTO_REPAIR_KEYS.filter((k) => read.given(k))) {
        errors.push(`"${key}" applies only to automatic repair: set "autoRepair" to true too`);
      }
    }
    return undefined;
  }
  // A malformed value is reported already; nothing is compared with it.
  if ((reservedGiven && reservedConcurrency === undefined) || (read.given('autoRepairMaxConcurrency') && maxConcurrency === undefined)) {
    return undefined;
  }
  const concurrency = maxConcurrency ?? DEFAULTS.autoRepairMaxConcurrency;
  if (reservedConcurrency !== undefined && concurrency >= reservedConcurrency) {
    const source = maxConcurrency === undefined ? ', the default and the least Lambda allows' : '';
    errors.push(
      `"autoRepairMaxConcurrency" (${concurrency}${source}) must be less than "reservedConcurrency" (${reservedConcurrency}): ` +
        'one execution at least is kept for manual invocations',
    );
  }
  return {
    delaySeconds: delaySeconds ?? DEFAULTS.autoRepairDelaySeconds,
    batchSize: batchSize ?? DEFAULTS.autoRepairBatchSize,
    maxConcurrency: concurrency,
    maxReceiveCount: maxReceiveCount ?? DEFAULTS.autoRepairMaxReceiveCount,
    transcriptHorizonHours,
  };
}

/**
 * The backfill settings, or undefined when backfill is off or after recording why they are invalid.
 * See {@link BackfillSettings} for the sizing.
 */
function parseBackfill(
  read: SettingReader,
  errors: string[],
  sizing: { reservedConcurrency?: number; autoRepairShare: number; contactLensQuotaPerSecond: number },
): BackfillSettings | undefined {
  const enabled = read.boolean('backfill');
  const maxConcurrency = read.integer('backfillMaxConcurrency', 1, 1000);
  const retentionDays = read.integer('backfillRetentionDays', 1, 3650);
  if (enabled !== true) {
    // A malformed "backfill" is reported already.
    if (enabled === false || !read.given('backfill')) {
      for (const key of ['backfillMaxConcurrency', 'backfillRetentionDays'].filter((k) => read.given(k))) {
        errors.push(`"${key}" applies only to backfills: set "backfill" to true too`);
      }
    }
    return undefined;
  }
  const { reservedConcurrency, autoRepairShare, contactLensQuotaPerSecond } = sizing;
  if (read.given('reservedConcurrency') && reservedConcurrency === undefined) return undefined;
  if (read.given('backfillMaxConcurrency') && maxConcurrency === undefined) return undefined;
  // Without a reserved concurrency to fit into, one batch at a time.
  const concurrency =
    maxConcurrency ??
    (reservedConcurrency === undefined ? 1 : defaultBackfillConcurrency(contactLensQuotaPerSecond, reservedConcurrency));
  if (reservedConcurrency !== undefined && concurrency > reservedConcurrency - 1) {
    // What automatic repair leaves of the reserved concurrency.
    const budget =
      autoRepairShare === 0
        ? `"reservedConcurrency" (${reservedConcurrency})`
        : `"reservedConcurrency" (${reservedConcurrency + autoRepairShare}) minus "autoRepairMaxConcurrency" (${autoRepairShare})`;
    errors.push(
      `"backfillMaxConcurrency" (${concurrency}) must be less than ${budget}: ` +
        'one execution at least is kept for manual invocations',
    );
  }
  return {
    maxConcurrency: concurrency,
    retentionDays: retentionDays ?? DEFAULTS.backfillRetentionDays,
  };
}

/**
 * One child execution per Contact Lens request per second of the quota (more would only split
 * the same shares thinner), leaving one function execution for manual invocations.
 */
function defaultBackfillConcurrency(quotaPerSecond: number, reservedConcurrency: number): number {
  return Math.max(1, Math.min(quotaPerSecond, reservedConcurrency - 1));
}

/**
 * Records why the shares cannot be deployed: each must be within the function's own bounds
 * (lambda/src/config.rs), which a budget split over too many instances falls below.
 */
function checkShares(shares: QuotaShares, concurrency: InstanceCounts, errors: string[]): void {
  const instances = `${concurrency.manual} manual and ${concurrency.worker} worker instances`;
  for (const [name, share] of [
    ['manual', shares.manual],
    ['worker', shares.worker],
  ] as const) {
    if (share === undefined) continue;
    if (share.contactLensPerSecond < MIN_REQUESTS_PER_SECOND) {
      errors.push(
        `"contactLensQuotaPerSecond" is too small for ${instances}: a ${name} instance's share would be ` +
          `${share.contactLensPerSecond} requests per second, below ${MIN_REQUESTS_PER_SECOND}`,
      );
    }
    if (share.describeContactPerSecond < MIN_REQUESTS_PER_SECOND) {
      errors.push(
        `"describeContactQuotaPerSecond" is too small for ${instances}: a ${name} instance's share would be ` +
          `${share.describeContactPerSecond} requests per second, below ${MIN_REQUESTS_PER_SECOND}`,
      );
    }
    if (share.entriesReadsPerHour < 1) {
      errors.push(
        `"salesforceEntriesReadsPerHour" is too small for ${instances}: a ${name} instance's share would be ` +
          'less than one read an hour',
      );
    }
  }
}

/** The analysis bucket settings, or undefined when there is no bucket or after recording why they are invalid. */
function parseAnalysisBucket(read: SettingReader, errors: string[]): AnalysisBucketSettings | undefined {
  const bucketName = read.text(
    'analysisBucket',
    BUCKET_NAME,
    'an S3 bucket name (3 to 63 lower-case letters, digits, dots or hyphens, starting and ending with a letter or digit)',
  );
  const kmsKeyArn = read.text('analysisBucketKmsKeyArn', KMS_KEY_ARN, 'a KMS key ARN');
  const preferRedacted = read.boolean('analysisPreferRedacted');
  if (!read.given('analysisBucket')) {
    for (const key of ['analysisBucketKmsKeyArn', 'analysisPreferRedacted'].filter((k) => read.given(k))) {
      errors.push(`"${key}" applies only to the Contact Lens analysis bucket: set "analysisBucket" too`);
    }
    return undefined;
  }
  if (bucketName === undefined) return undefined;
  return { bucketName, kmsKeyArn, preferRedacted: preferRedacted ?? DEFAULTS.analysisPreferRedacted };
}

/** The secret settings, each of which imports a secret; scvSsmCallCenter excludes them all. */
const SECRET_KEYS = ['salesforceSecretArn', 'extraSalesforceSecretArns', 'tokenSecretArn', 'extraTokenSecretArns'];
/** The settings only the SSM parameters need. */
const SSM_ONLY_KEYS = ['salesforceAuthEndpoint', 'salesforceRestApiEndpointBase', 'scvSsmKmsKeyArn'];

/** The Salesforce credential settings, or undefined after recording why they are invalid. */
function parseSalesforce(read: SettingReader, errors: string[]): ContactDataSyncSettings['salesforce'] | undefined {
  const secretArn = read.text('salesforceSecretArn', SECRET_ARN, SECRET_ARN_EXPECTED);
  const extraSecretArns = read.list('extraSalesforceSecretArns', SECRET_ARN, SECRET_ARN_EXPECTED);
  const tokenSecretArn = read.text('tokenSecretArn', SECRET_ARN, SECRET_ARN_EXPECTED);
  const extraTokenSecretArns = read
    .list('extraTokenSecretArns', TOKEN_CACHE_PAIR, TOKEN_CACHE_PAIR_EXPECTED)
    .map((entry): TokenCachePairing => {
      const [secretArn, tokenSecretArn] = entry.split('|').map((arn) => arn.trim());
      return { secretArn, tokenSecretArn };
    });
  const kmsKeyArns = read.list('salesforceSecretKmsKeyArn', KMS_KEY_ARN, 'a KMS key ARN');
  const callCenter = read.text(
    'scvSsmCallCenter',
    CALL_CENTER,
    'an SCV call center API name (a letter, then letters, digits or _, at most 80)',
  );
  const authEndpoint = read.httpsUrl('salesforceAuthEndpoint');
  const restApiEndpointBase = read.httpsUrl('salesforceRestApiEndpointBase');
  const ssmKmsKeyArn = read.text('scvSsmKmsKeyArn', KMS_KEY_ARN, 'a KMS key ARN');

  // One secret in two roles would, for instance, let the function overwrite credentials with a token.
  const roleOf = new Map<string, string>();
  for (const [key, arns] of [
    ['salesforceSecretArn', secretArn === undefined ? [] : [secretArn]],
    ['extraSalesforceSecretArns', extraSecretArns],
    ['tokenSecretArn', tokenSecretArn === undefined ? [] : [tokenSecretArn]],
    ['extraTokenSecretArns', extraTokenSecretArns.map((pair) => pair.tokenSecretArn)],
  ] as const) {
    for (const arn of arns) {
      const earlier = roleOf.get(arn);
      if (earlier === key) {
        // Only token caches can repeat here: the lists reject repeated entries themselves.
        errors.push(`"${key}" gives "${arn}" to more than one org: each token cache belongs to exactly one org`);
      } else if (earlier !== undefined) {
        errors.push(`"${key}" entry "${arn}" is already given in "${earlier}"`);
      }
      roleOf.set(arn, key);
    }
  }
  // Each token cache belongs to exactly one org: a request for one org never has its token
  // written into another org's cache.
  const pairedOrgs = new Set<string>();
  for (const { secretArn: org } of extraTokenSecretArns) {
    if (!extraSecretArns.includes(org)) {
      const hint = org === secretArn ? `: the default org's token cache is "tokenSecretArn"` : '';
      errors.push(`"extraTokenSecretArns" pairs "${org}", which "extraSalesforceSecretArns" does not list${hint}`);
    } else if (pairedOrgs.has(org)) {
      errors.push(`"extraTokenSecretArns" pairs "${org}" more than once: an org has one token cache`);
    }
    pairedOrgs.add(org);
  }
  if (read.given('tokenSecretArn') && !read.given('salesforceSecretArn')) {
    errors.push('"tokenSecretArn" is the token cache of an imported SCV secret: set "salesforceSecretArn" too');
  }
  if (read.given('salesforceSecretKmsKeyArn') && !SECRET_KEYS.some((key) => read.given(key))) {
    errors.push(
      '"salesforceSecretKmsKeyArn" applies only to imported secrets: ' +
        'set "salesforceSecretArn" or "extraSalesforceSecretArns" too',
    );
  }

  if (!read.given('scvSsmCallCenter')) {
    for (const key of SSM_ONLY_KEYS.filter((k) => read.given(k))) {
      errors.push(`"${key}" applies only to SCV's SSM parameters: set "scvSsmCallCenter" too`);
    }
    return { kind: 'secrets', secretArn, extraSecretArns, tokenSecretArn, extraTokenSecretArns, kmsKeyArns };
  }
  const conflicting = SECRET_KEYS.filter((key) => read.given(key));
  if (conflicting.length > 0) {
    errors.push(
      `"scvSsmCallCenter" reads the Salesforce credentials from SSM parameters, not from secrets: ` +
        `remove ${conflicting.map((key) => `"${key}"`).join(', ')} or "scvSsmCallCenter"`,
    );
  }
  for (const [key, example] of [
    ['salesforceAuthEndpoint', 'https://<My Domain>.my.salesforce.com/services/oauth2/token'],
    ['salesforceRestApiEndpointBase', 'https://<My Domain>.my.salesforce.com'],
  ]) {
    if (!read.given(key)) errors.push(`"${key}" is required with "scvSsmCallCenter": pass -c ${key}=${example}`);
  }
  if (callCenter === undefined || authEndpoint === undefined || restApiEndpointBase === undefined) return undefined;
  return { kind: 'scvSsm', callCenter, authEndpoint, restApiEndpointBase, kmsKeyArn: ssmKmsKeyArn };
}

/** Reads raw settings one by one, recording every malformed one. */
class SettingReader {
  constructor(
    private readonly lookup: SettingLookup,
    private readonly errors: string[],
  ) {}

  /** Whether the setting has a value; empty ones count as not given. */
  public given(key: string): boolean {
    const value = this.lookup(key);
    return !(value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0));
  }

  private raw(key: string): string | undefined {
    return this.given(key) ? String(this.lookup(key)).trim() : undefined;
  }

  public text(key: string, pattern: RegExp, expected: string): string | undefined {
    const value = this.raw(key);
    if (value !== undefined && !pattern.test(value)) {
      this.errors.push(`"${key}" must be ${expected}, got "${value}"`);
      return undefined;
    }
    return value;
  }

  public integer(key: string, min: number, max: number): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(parsed >= min && parsed <= max)) {
      this.errors.push(`"${key}" must be an integer from ${min} to ${max}, got "${value}"`);
      return undefined;
    }
    return parsed;
  }

  /** A boolean: "true" or "false" from `-c key=value`, or a JSON boolean from cdk.json. */
  public boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') {
      this.errors.push(`"${key}" must be true or false, got "${value}"`);
      return undefined;
    }
    return value === 'true';
  }

  /** A list: comma-separated from `-c key=a,b`, or a JSON array from cdk.json. */
  public list(key: string, pattern: RegExp, expected: string): string[] {
    if (!this.given(key)) return [];
    const value = this.lookup(key);
    const entries = (Array.isArray(value) ? value.map(String) : String(value).split(',')).map((entry) => entry.trim());
    const valid: string[] = [];
    for (const entry of entries) {
      if (!pattern.test(entry)) {
        this.errors.push(`"${key}" entries must each be ${expected}, got "${entry}"`);
      } else if (valid.includes(entry)) {
        this.errors.push(`"${key}" lists "${entry}" more than once`);
      } else {
        valid.push(entry);
      }
    }
    return valid;
  }

  public httpsUrl(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    // The function sends the signed JWT and the bearer token there: only TLS to a named host will do.
    if (url === undefined || url.protocol !== 'https:' || url.hostname === '' || /\s/.test(value)) {
      this.errors.push(`"${key}" must be an https URL, got "${value}"`);
      return undefined;
    }
    return value;
  }
}
