import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { AnalysisBucket } from './analysis-bucket';
import { AutoRepair } from './auto-repair';
import { Backfill } from './backfill';
import { ContactDataSyncFunction, SalesforceCredentials } from './function';
import { Monitoring } from './monitoring';
import { ContactDataSyncSettings, SETTING_KEYS, SettingKey, SettingLookup, parseSettings } from './props';
import { contactsWithinTimeout } from './quota-shares';
import { SalesforceSecrets } from './salesforce-secret';
import { ScvSsmParameters } from './scv-ssm-parameters';

/**
 * Above this many repair instances the stack warns: more meet at random in Contact Lens'
 * account-wide burst of 2 without adding capacity (docs/quotas.md).
 */
const MAX_ADVISED_REPAIR_INSTANCES = 3;

/**
 * The settings of one contact-data-sync deployment: the CDK context values of the app
 * (docs/configuration.md#cdk-settings and the pages it links), same names, typed. They are
 * validated exactly as the context values are, and an invalid one fails with the same message.
 */
export interface ContactDataSyncProps {
  /** Amazon Connect instance id (UUID). */
  readonly connectInstanceId: string;
  /** @default - a new secret, with placeholders to replace after the first deploy */
  readonly salesforceSecretArn?: string;
  /** Customer managed KMS key(s) of the imported secrets. */
  readonly salesforceSecretKmsKeyArn?: string | readonly string[];
  /** SCV's token-cache secret of the imported secret's org. */
  readonly tokenSecretArn?: string;
  /** Other orgs' secrets (complete ARNs). */
  readonly extraSalesforceSecretArns?: readonly string[];
  /** Their token caches, each as `<org secret ARN>|<token-cache secret ARN>`. */
  readonly extraTokenSecretArns?: readonly string[];
  /** Instead of a secret: SCV's SSM parameters of this call center. */
  readonly scvSsmCallCenter?: string;
  /** Required with `scvSsmCallCenter`. */
  readonly salesforceAuthEndpoint?: string;
  /** Required with `scvSsmCallCenter`. */
  readonly salesforceRestApiEndpointBase?: string;
  /** @default - aws/ssm */
  readonly scvSsmKmsKeyArn?: string;
  /** The instance's bucket of Contact Lens post-call analysis files (calls older than 24 hours). */
  readonly analysisBucket?: string;
  readonly analysisBucketKmsKeyArn?: string;
  /** @default false */
  readonly analysisPreferRedacted?: boolean;
  /** Email subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** @default '64.0' */
  readonly salesforceApiVersion?: string;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default 900 */
  readonly timeoutSeconds?: number;
  /** @default - the worker's concurrency + 1 */
  readonly reservedConcurrency?: number;
  /** A CloudWatch Logs retention value. @default 90 */
  readonly logRetentionDays?: number;
  readonly contactConcurrency?: number;
  readonly uploadBatchSize?: number;
  /** @default 1 */
  readonly contactLensQuotaPerSecond?: number;
  /** @default 5 */
  readonly describeContactQuotaPerSecond?: number;
  /** @default 800 */
  readonly salesforceEntriesReadsPerHour?: number;
  /** @default 80 */
  readonly salesforceApiUsageCeilingPercent?: number;
  /** The largest manual request the manual function's share is sized for (1 to 100). @default 100 */
  readonly manualRequestContacts?: number;
  /** @default 1 */
  readonly failedContactsAlarmThreshold?: number;
  /**
   * The function's code built elsewhere, so the deploying machine needs no Rust: the path of the
   * zip of `cargo lambda build --release --arm64 --output-format zip` or of a directory holding
   * its `bootstrap` (checked to be an arm64 Linux executable; a relative path is read from the
   * working directory), or any `lambda.Code` (used as it is).
   *
   * @default - cargo-lambda builds the crate at synth
   */
  readonly functionCode?: string | lambda.Code;
  /** A backfill bucket and state machine ([Backfills](docs/backfills.md)). @default false */
  readonly backfill?: boolean;
  readonly backfillMaxConcurrency?: number;
  readonly backfillRetentionDays?: number;
  /** Automatic repair after every call ([Automatic repair](docs/automatic-repair.md)). @default false */
  readonly autoRepair?: boolean;
  readonly autoRepairDelaySeconds?: number;
  readonly autoRepairBatchSize?: number;
  readonly autoRepairMaxConcurrency?: number;
  readonly autoRepairMaxReceiveCount?: number;
  readonly autoRepairTranscriptHorizonHours?: number;
}

// Every setting is a prop and every prop a setting, but for the one read only to reject it.
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const PROPS_ARE_THE_SETTINGS: SameKeys<keyof ContactDataSyncProps, Exclude<SettingKey, 'contactLensRequestsPerSecond'>> = true;
void PROPS_ARE_THE_SETTINGS;

/**
 * The props as CDK context holds them: a string from `-c key=value`, or a JSON value from
 * cdk.json, for every setting given. The construct validates those exactly as typed props
 * (`parseSettings` reads each as text), so the cast only hands them on unconverted.
 */
export function propsFromContext(lookup: SettingLookup): ContactDataSyncProps {
  const given = SETTING_KEYS.map((key) => [key, lookup(key)] as const).filter(([, value]) => value !== undefined);
  return Object.fromEntries(given) as unknown as ContactDataSyncProps;
}

/**
 * Everything contact-data-sync needs for one Amazon Connect instance: the function of manual
 * invocations and its role, the Salesforce secret (or access to SCV's credentials), the analysis
 * bucket's grants, with `backfill` or `autoRepair` the worker function, the backfill bucket and
 * state machine and the repair queues, and the alarms, their topic and the dashboard.
 *
 * Alarm, dashboard and state machine names start with the stack's name, so a stack holds at most
 * one ContactDataSync. The app's own stack adds it with the id `Default`, which CDK leaves out of
 * logical IDs, so stacks deployed before the construct existed keep every resource.
 */
export class ContactDataSync extends Construct {
  /** The validated settings, defaults applied. */
  public readonly settings: ContactDataSyncSettings;
  /** The function administrators and integrations invoke (`FunctionName`). */
  public readonly function: lambda.Function;
  /** The function of automatic repair and backfills; absent without either. */
  public readonly worker?: lambda.Function;
  /** The topic every alarm notifies. */
  public readonly alarmTopic: sns.Topic;
  public readonly dashboard: cloudwatch.Dashboard;
  /** Automatic repair's queue of ended calls; absent without `autoRepair`. */
  public readonly autoRepairQueue?: sqs.Queue;
  /** Where calls that could not be repaired wait; absent without `autoRepair`. */
  public readonly autoRepairDeadLetterQueue?: sqs.Queue;
  /** The backfill state machine; absent without `backfill`. */
  public readonly backfillStateMachine?: sfn.StateMachine;
  /** The bucket of backfill manifests and results; absent without `backfill`. */
  public readonly backfillBucket?: s3.Bucket;
  /** The default org's Salesforce secret, created or imported; absent with SCV's SSM parameters. */
  public readonly salesforceSecretArn?: string;

  constructor(scope: Construct, id: string, props: ContactDataSyncProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const other = stack.node.findAll().find((c) => c !== this && c instanceof ContactDataSync);
    if (other !== undefined) {
      throw new Error(
        `Stack "${stack.node.path}" holds a ContactDataSync already ("${other.node.path}"): its alarm, dashboard and ` +
          'state machine names start with the stack name, so each ContactDataSync needs a stack of its own',
      );
    }

    const code = typeof props.functionCode === 'string' ? undefined : props.functionCode;
    // propsFromContext's props may hold contactLensRequestsPerSecond too, which parseSettings rejects by name.
    const raw = props as Readonly<Partial<Record<SettingKey, unknown>>>;
    const settings = parseSettings((key) =>
      key === 'functionCode' && code !== undefined ? undefined : raw[key as SettingKey],
    );
    this.settings = settings;
    const repairInstances = settings.autoRepair?.maxConcurrency;
    if (repairInstances !== undefined && repairInstances > MAX_ADVISED_REPAIR_INSTANCES) {
      Annotations.of(this).addWarningV2(
        'contact-data-sync:autoRepairMaxConcurrency',
        `"autoRepairMaxConcurrency" is ${repairInstances}: repair instances do not know of each other and collide in ` +
          "Contact Lens' account-wide burst of 2, where each throttled try costs a token, and the budgets, not the " +
          `instances, bound the calls repaired an hour. Keep it at ${MAX_ADVISED_REPAIR_INSTANCES} or below and raise ` +
          'the budgets instead (docs/quotas.md, "When a budget is spent").',
      );
    }

    let salesforce: SalesforceCredentials;
    if (settings.salesforce.kind === 'scvSsm') {
      salesforce = new ScvSsmParameters(this, 'SalesforceSsmParameters', settings.salesforce);
    } else {
      // The construct ID keeps the created secret's logical ID, so updating a stack keeps its secret.
      const secrets = new SalesforceSecrets(this, 'SalesforceSecret', settings.salesforce);
      this.salesforceSecretArn = secrets.secretArn;
      salesforce = secrets;
    }
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
      code: code ?? (settings.functionCodePath === undefined ? undefined : lambda.Code.fromAsset(settings.functionCodePath)),
    });
    this.function = fn;
    this.worker = worker;
    // The settings create a worker whenever there is a backfill or automatic repair.
    this.backfillStateMachine =
      backfill === undefined || worker === undefined || settings.shares.worker === undefined
        ? undefined
        : backfill.addStateMachine(worker, contactsWithinTimeout(settings.shares.worker, settings.timeoutSeconds));
    this.backfillBucket = backfill?.bucket;
    const autoRepair =
      settings.autoRepair === undefined || worker === undefined
        ? undefined
        : new AutoRepair(this, 'AutoRepair', {
            settings: settings.autoRepair,
            connectInstanceId: settings.connectInstanceId,
            function: worker,
            functionTimeout: Duration.seconds(settings.timeoutSeconds),
          });
    this.autoRepairQueue = autoRepair?.queue;
    this.autoRepairDeadLetterQueue = autoRepair?.deadLetterQueue;
    const monitoring = new Monitoring(this, 'Monitoring', {
      function: fn,
      worker,
      timeout: Duration.seconds(settings.timeoutSeconds),
      concurrency: settings.concurrency,
      apiUsageCeilingPercent: settings.apiUsageCeilingPercent,
      failedContactsAlarmThreshold: settings.failedContactsAlarmThreshold,
      alarmEmail: settings.alarmEmail,
      backfillStateMachine: this.backfillStateMachine,
      autoRepair,
    });
    this.alarmTopic = monitoring.topic;
    this.dashboard = monitoring.dashboard;
  }

  /**
   * Grants `lambda:InvokeFunction` on the function of manual invocations (its unqualified ARN),
   * and nothing else: the worker stays reserved to automatic repair and backfills. A principal
   * without a policy of its own (a service principal) gets a resource-based permission instead.
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.function.functionArn],
    });
    return grant.success ? grant : this.function.grantInvoke(grantee);
  }
}
