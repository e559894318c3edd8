import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { ContactDataSyncSettings } from './props';

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

/** The Lambda function with its own role and log group. */
export class ContactDataSyncFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ContactDataSyncFunctionProps) {
    super(scope, id);
    const { settings } = props;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: settings.logRetentionDays,
      // The logs are the record of which transcripts reached Salesforce; retention bounds them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Built by hand rather than with AWSLambdaBasicExecutionRole, whose Logs grant covers every log group.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description:
        'contact-data-sync: read Contact Lens transcripts of one Connect instance and the Salesforce credentials',
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
    props.backfillFiles?.grantBackfillSteps(role);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(settings.connectInstanceId)}]`,
      reason:
        'Contact IDs arrive in each invocation payload, so the contact ARN ends in a wildcard; ' +
        'it is confined to the one configured Connect instance.',
    });

    const environment: Record<string, string> = {
      CONNECT_INSTANCE_ID: settings.connectInstanceId,
      ...props.salesforce.environment,
      SALESFORCE_API_VERSION: settings.salesforceApiVersion,
      ...props.analysisFiles?.environment,
      ...props.backfillFiles?.environment,
    };
    if (settings.contactConcurrency !== undefined) {
      environment.CONTACT_CONCURRENCY = String(settings.contactConcurrency);
    }
    if (settings.uploadBatchSize !== undefined) {
      environment.UPLOAD_BATCH_SIZE = String(settings.uploadBatchSize);
    }
    if (settings.contactLensRequestsPerSecond !== undefined) {
      environment.CONTACT_LENS_REQUESTS_PER_SECOND = String(settings.contactLensRequestsPerSecond);
    }
    if (settings.autoRepair?.transcriptHorizonHours !== undefined) {
      environment.REPAIR_TRANSCRIPT_HORIZON_HOURS = String(settings.autoRepair.transcriptHorizonHours);
    }

    // Shared by both code paths, so a test with prebuilt code checks what gets deployed.
    const options: lambda.FunctionOptions = {
      description: 'Uploads Amazon Connect Contact Lens transcripts to Salesforce',
      architecture: lambda.Architecture.ARM_64,
      memorySize: settings.memorySize,
      timeout: Duration.seconds(settings.timeoutSeconds),
      reservedConcurrentExecutions: settings.reservedConcurrency,
      role,
      environment,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    };
    this.function =
      props.code === undefined
        ? new RustFunction(this, 'Function', {
            ...options,
            runtime: 'provided.al2023',
            manifestPath: CARGO_MANIFEST,
            binaryName: BINARY_NAME,
          })
        : new lambda.Function(this, 'Function', {
            ...options,
            runtime: lambda.Runtime.PROVIDED_AL2023,
            handler: 'bootstrap',
            code: props.code,
          });
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
