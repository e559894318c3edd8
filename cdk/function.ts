import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { ContactDataSyncSettings } from './props';
import { shareEnvironment } from './quota-shares';

/** The Cargo workspace at the repository root; cargo-lambda builds the binary from there. */
const CARGO_MANIFEST = path.join(__dirname, '..', 'Cargo.toml');
const BINARY_NAME = 'contact-data-sync';

/** Where the function finds the Salesforce credentials: Secrets Manager secrets or SSM parameters. */
export interface SalesforceCredentials {
  /** The variables that tell the function where to look (names declared in lambda/env-vars.json). */
  readonly environment: Readonly<Record<string, string>>;
  /** Grants the role exactly the reads and writes the function makes on the credentials. */
  grantUse(role: iam.IRole): void;
}

/** Where the function finds Contact Lens post-call analysis files of contacts older than 24 hours. */
export interface AnalysisFiles {
  /** The variables that tell the function where to look (names declared in lambda/env-vars.json). */
  readonly environment: Readonly<Record<string, string>>;
  /** Grants the role exactly the listing and reading the function does. */
  grantRead(role: iam.IRole): void;
}

/**
 * Where the function writes a time window's manifest (the `buildBackfillManifest` operation), and reads
 * a backfill's results and writes its summary (the `summarizeBackfill` operation).
 */
export interface BackfillFiles {
  /** The variables that tell the function where to look (names declared in lambda/env-vars.json). */
  readonly environment: Readonly<Record<string, string>>;
  /** Grants the role exactly the writing of window manifests, the reading of the results and the writing of the summary. */
  grantBackfillSteps(role: iam.IRole): void;
}

export interface ContactDataSyncFunctionProps {
  readonly settings: ContactDataSyncSettings;
  readonly salesforce: SalesforceCredentials;
  /**
   * The Contact Lens analysis files the function falls back to for older contacts.
   *
   * @default - no fallback to the analysis files
   */
  readonly analysisFiles?: AnalysisFiles;
  /**
   * The backfill bucket where the function writes window manifests and summarizes results.
   *
   * @default - no backfills
   */
  readonly backfillFiles?: BackfillFiles;
  /**
   * Prebuilt code: a directory holding the `bootstrap` executable.
   *
   * @default - cargo-lambda builds the `contact-data-sync` binary locally (no Docker)
   */
  readonly code?: lambda.Code;
}

/**
 * The Lambda functions, one code, one role and one log group: `function` serves manual
 * invocations, `worker` automatic repair and backfills. Each function's reserved concurrency caps
 * its instances, so each gets its own per-instance share of every quota (quota-shares.ts) and
 * repair or backfills can never take what manual invocations need.
 */
export class ContactDataSyncFunction extends Construct {
  /** The function administrators invoke (and the one existing runbooks name). */
  public readonly function: lambda.Function;
  /** The function of automatic repair and backfills; absent when neither is deployed. */
  public readonly worker?: lambda.Function;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ContactDataSyncFunctionProps) {
    super(scope, id);
    const { settings } = props;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: settings.logRetentionDays,
      // The logs are the record of which transcripts reached Salesforce; retention bounds them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const manualRole = this.role('Role', 'read Contact Lens transcripts of one Connect instance and the Salesforce credentials', props);
    // Only the worker runs the backfill steps.
    const workerRole =
      settings.shares.worker === undefined
        ? undefined
        : this.role('WorkerRole', 'repair calls and run backfill batches of one Connect instance', props);
    if (workerRole !== undefined) props.backfillFiles?.grantBackfillSteps(workerRole);

    const environment: Record<string, string> = {
      CONNECT_INSTANCE_ID: settings.connectInstanceId,
      ...props.salesforce.environment,
      SALESFORCE_API_VERSION: settings.salesforceApiVersion,
      ...props.analysisFiles?.environment,
    };
    if (settings.contactConcurrency !== undefined) {
      environment.CONTACT_CONCURRENCY = String(settings.contactConcurrency);
    }
    if (settings.uploadBatchSize !== undefined) {
      environment.UPLOAD_BATCH_SIZE = String(settings.uploadBatchSize);
    }
    if (settings.autoRepair?.transcriptHorizonHours !== undefined) {
      environment.REPAIR_TRANSCRIPT_HORIZON_HOURS = String(settings.autoRepair.transcriptHorizonHours);
    }

    // Shared by both code paths, so a test with prebuilt code checks what gets deployed.
    const options: lambda.FunctionOptions = {
      architecture: lambda.Architecture.ARM_64,
      memorySize: settings.memorySize,
      timeout: Duration.seconds(settings.timeoutSeconds),
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    };
    if (props.code === undefined && !fs.existsSync(CARGO_MANIFEST)) {
      // The package holds the construct's JavaScript only, not the crate.
      throw new Error(
        `contact-data-sync: no Rust crate at ${path.dirname(CARGO_MANIFEST)} to build the function from: give "functionCode", ` +
          'the zip of `cargo lambda build --release --arm64 --output-format zip` run in a clone of the repository',
      );
    }
    const create = (id: string, functionOptions: lambda.FunctionOptions) =>
      props.code === undefined
        ? // Both functions bundle the same crate with the same options: CDK stages the asset once.
          new RustFunction(this, id, {
            ...options,
            ...functionOptions,
            runtime: 'provided.al2023',
            manifestPath: CARGO_MANIFEST,
            binaryName: BINARY_NAME,
          })
        : new lambda.Function(this, id, {
            ...options,
            ...functionOptions,
            runtime: lambda.Runtime.PROVIDED_AL2023,
            handler: 'bootstrap',
            code: props.code,
          });
    const { shares, concurrency, apiUsageCeilingPercent } = settings;
    this.function = create('Function', {
      description: 'Uploads Amazon Connect Contact Lens transcripts to Salesforce',
      role: manualRole,
      reservedConcurrentExecutions: concurrency.manual,
      environment: { ...environment, ...shareEnvironment(shares.manual, apiUsageCeilingPercent) },
    });
    if (shares.worker !== undefined && workerRole !== undefined) {
      this.worker = create('Worker', {
        description: 'contact-data-sync automatic repair and backfill batches',
        role: workerRole,
        reservedConcurrentExecutions: concurrency.worker,
        environment: {
          ...environment,
          ...props.backfillFiles?.environment,
          ...shareEnvironment(shares.worker, apiUsageCeilingPercent),
        },
      });
    }
  }
  /**
   * A role built by hand rather than with AWSLambdaBasicExecutionRole, whose Logs grant covers
   * every log group: the log group, the instance's contacts and the Salesforce credentials.
   */
  private role(id: string, purpose: string, props: ContactDataSyncFunctionProps): iam.Role {
    const { settings } = props;
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `contact-data-sync: ${purpose}`,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const instanceArn = connectInstanceArn(this, settings.connectInstanceId);
    const contactsArn = `${instanceArn}/contact/*`;
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['connect:DescribeContact', 'connect:ListRealtimeContactAnalysisSegments'],
        resources: [instanceArn, contactsArn],
      }),
    );
    props.salesforce.grantUse(role);
    props.analysisFiles?.grantRead(role);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(settings.connectInstanceId)}]`,
      reason:
        'Contact IDs arrive in each invocation payload, so the contact ARN ends in a wildcard; ' +
        'it is confined to the one configured Connect instance.',
    });
    return role;
  }
}

/** The Amazon Connect instance's ARN in the stack's partition, region and account. */
export function connectInstanceArn(scope: Construct, connectInstanceId: string): string {
  return Stack.of(scope).formatArn({
    service: 'connect',
    resource: 'instance',
    resourceName: connectInstanceId,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** The contact ARN as cdk-nag prints it: pseudo parameters in angle brackets. */
function nagArn(connectInstanceId: string): string {
  return `arn:<AWS::Partition>:connect:<AWS::Region>:<AWS::AccountId>:instance/${connectInstanceId}/contact/*`;
}
