import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BackfillFiles } from './function';
import { BackfillSettings } from './props';

/*
 * The backfill bucket's layout, which the operator CLI, the state machine and the function share:
 *
 *   manifests/                 the manifests to upload (CSV with a header row, or JSON Lines), put by the operator CLI
 *   manifests/windows/         <execution name>.csv: the manifest of a time window's VoiceCalls, put by the
 *                              function's buildBackfillManifest step
 *   results/<map run id>/      one Distributed Map run: Step Functions' ResultWriter files manifest.json,
 *                              SUCCEEDED_n.json, FAILED_n.json and PENDING_n.json, then summary.json and
 *                              failed.csv from the function's summarizeBackfill step. failed.csv is itself
 *                              a manifest, so a run's failures can be started again as they are.
 */
export const MANIFESTS_PREFIX = 'manifests/';
export const WINDOW_MANIFESTS_PREFIX = `${MANIFESTS_PREFIX}windows/`;
export const RESULTS_PREFIX = 'results/';

/** The state machine in Amazon States Language, also read by a Rust test: the one source of the definition. */
export const DEFINITION_FILE = path.join(__dirname, 'backfill-state-machine.asl.json');
/** The Distributed Map states, whose `MaxConcurrency` the file holds as a placeholder. */
export const MAP_STATES = ['UploadCsv', 'UploadJsonLines'] as const;

// The definition is untyped JSON.
type Json = any;

/**
 * The definition with `MaxConcurrency` set in each Distributed Map state.
 *
 * @throws Error unless the Map states are exactly {@link MAP_STATES}, so a renamed or added one
 * cannot keep the placeholder.
 */
export function withMapSizing(definition: Json, maxConcurrency: number, itemsPerBatch: number): Json {
  const states: Record<string, Json> = definition.States ?? {};
  const maps = Object.keys(states).filter((name) => states[name].Type === 'Map');
  if (maps.length !== MAP_STATES.length || !MAP_STATES.every((name) => maps.includes(name))) {
    throw new Error(
      `${path.basename(DEFINITION_FILE)} must have exactly the Map states ${MAP_STATES.join(', ')}, ` +
        `found ${maps.join(', ') || 'none'}`,
    );
  }
  const result = structuredClone(definition);
  for (const name of MAP_STATES) {
    result.States[name].MaxConcurrency = maxConcurrency;
    result.States[name].ItemBatcher.MaxItemsPerBatch = itemsPerBatch;
  }
  return result;
}

export interface BackfillProps {
  readonly settings: BackfillSettings;
  /** Retention of the state machine's log group. */
  readonly logRetentionDays: logs.RetentionDays;
}

/**
 * Backfills of any size: a bucket for manifests and results, and a state machine whose Distributed
 * Map hands the function 100 contacts per invocation, then has it summarize the run.
 * The bucket comes first, because the function needs its name; {@link addStateMachine} follows.
 */
export class Backfill extends Construct implements BackfillFiles {
  public readonly bucket: s3.Bucket;
  public readonly environment: Readonly<Record<string, string>>;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: BackfillProps,
  ) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          expiration: Duration.days(props.settings.retentionDays),
          // Left behind by interrupted CLI uploads or ResultWriter writes.
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // The results are the record of what was uploaded; the lifecycle rule bounds them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'The bucket holds only contact IDs, VoiceCall IDs and per-contact outcomes, written by the operator ' +
        'and this stack; CloudTrail S3 data events are the audit trail if one is needed.',
    });
    this.environment = { BACKFILL_BUCKET: this.bucket.bucketName };
  }

  /**
   * Grants writing a time window's manifest under manifests/windows/ (a multipart upload, aborted when it
   * fails), and reading the ResultWriter files and writing summary.json and failed.csv under results/:
   * nothing else in the bucket.
   */
  public grantBackfillSteps(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects(`${RESULTS_PREFIX}*`)],
      }),
    );
    // The manifest streams in as a multipart upload: s3:PutObject covers creating it, its parts and
    // completing it; aborting one that failed needs its own action.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects(`${WINDOW_MANIFESTS_PREFIX}*`)],
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: this.objectsFinding(RESULTS_PREFIX),
        reason:
          'Step Functions names each run\'s result files after its map run, so their keys end in a wildcard; ' +
          'the grant is confined to results/ of the backfill bucket.',
      },
      {
        id: this.objectsFinding(WINDOW_MANIFESTS_PREFIX),
        reason:
          'A time window\'s manifest is named after the execution that builds it, so the key ends in a wildcard; ' +
          'the grant is writing (and aborting a failed multipart upload) only, confined to manifests/windows/ of ' +
          'the backfill bucket.',
      },
    );
  }

  /**
   * The state machine that uploads a manifest's contacts through `fn`, `itemsPerBatch` per
   * invocation, and summarizes the run.
   */
  public addStateMachine(fn: lambda.IFunction, itemsPerBatch: number): sfn.StateMachine {
    const stack = Stack.of(this);
    // A fixed name lets the role name the state machine's ARN without depending on it.
    const stateMachineName = `${stack.stackName}-Backfill`;
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // The Distributed Map's child executions: execution:<state machine>/<map run>:<execution>.
    const childExecutionsArn = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // Built by hand: CDK's grant helpers would add wildcard actions and whole-bucket resources.
    const role = new iam.Role(this, 'StateMachineRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'states',
              resource: 'stateMachine',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
      description: 'contact-data-sync backfill: invoke the function per batch, read manifests, write results',
    });
    // The definition invokes the unqualified ARN.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    // The ItemReader reads a manifest; a run's failed.csv under results/ can be fed straight back in.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${MANIFESTS_PREFIX}*`), this.bucket.arnForObjects(`${RESULTS_PREFIX}*`)],
      }),
    );
    // The ResultWriter's multipart uploads.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [this.bucket.arnForObjects(`${RESULTS_PREFIX}*`)],
      }),
    );
    // What a Distributed Map needs to run its child executions (IAM policies for using Distributed Map states).
    role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachineArn] }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [childExecutionsArn],
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The CloudWatch Logs delivery and X-Ray actions Step Functions needs for logging and tracing ' +
          '(added by CDK) have no resource-level permissions; every other statement names its resources.',
      },
      {
        id: this.objectsFinding(MANIFESTS_PREFIX),
        reason:
          'The operator names the manifest when starting an execution, so the key ends in a wildcard; ' +
          'reading is confined to manifests/ of the backfill bucket.',
      },
      {
        id: this.objectsFinding(RESULTS_PREFIX),
        reason:
          'Step Functions names the result files after each map run, so their keys end in a wildcard; ' +
          'the grant is confined to results/ of the backfill bucket.',
      },
      {
        id:
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:' +
          `execution:${stateMachineName}/*]`,
        reason:
          'Step Functions names the Distributed Map child executions at run time; the grant is confined to ' +
          'executions of this state machine, as the Distributed Map documentation prescribes.',
      },
    );

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      // The prefix keeps the account's CloudWatch Logs resource policy from growing with each log group.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: this.props.logRetentionDays,
      // Only state transitions are logged; the results in the bucket are the record of a run, and
      // a retained group of this fixed name would block deploying the stack again.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const definition = withMapSizing(
      JSON.parse(fs.readFileSync(DEFINITION_FILE, 'utf8')),
      this.props.settings.maxConcurrency,
      itemsPerBatch,
    );
    return new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)),
      definitionSubstitutions: { FunctionArn: fn.functionArn, BackfillBucket: this.bucket.bucketName },
      role,
      logs: {
        destination: logGroup,
        level: sfn.LogLevel.ALL,
        // Execution data would put contact IDs and Salesforce record IDs of customer calls in the log.
        includeExecutionData: false,
      },
      tracingEnabled: true,
    });
  }

  /** The cdk-nag IAM5 finding for the objects under `prefix` of the bucket. */
  private objectsFinding(prefix: string): string {
    const logicalId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`;
  }
}
