import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { propsFromContext } from './contact-data-sync';
import { ContactDataSyncStack } from './contact-data-sync-stack';

export const INSTANCE_ID = '11111111-2222-3333-4444-555555555555';

/** Stands in for the cargo-lambda build so tests never compile Rust. */
export function dummyBootstrapCode(): lambda.Code {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contact-data-sync-code-'));
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
  return lambda.Code.fromAsset(dir);
}

/** Builds the stack from context-style settings, exactly as bin/app.ts does, with prebuilt code. */
export function buildStack(context: Record<string, string> = {}, app = new App()): ContactDataSyncStack {
  const settings = propsFromContext((key) => ({ connectInstanceId: INSTANCE_ID, ...context })[key]);
  return new ContactDataSyncStack(app, 'ContactDataSync', { settings: { ...settings, functionCode: dummyBootstrapCode() } });
}

export const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
export const KMS_KEY_ARN_2 = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
/** A Service Cloud Voice org secret, named after its call center as SCV names them. */
export const scvSecretArn = (callCenter: string) =>
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${callCenter}-salesforce-secret-Ab12Cd`;
/** The token-cache secret SCV keeps next to each org secret. */
export const scvTokenSecretArn = (callCenter: string) =>
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${callCenter}-salesforce-access-token-secret-Ef34Gh`;

/** The bucket Amazon Connect creates for an instance's recordings and Contact Lens output. */
export const ANALYSIS_BUCKET = 'amazon-connect-0123456789ab';

const SCV_SECRETS = {
  salesforceSecretArn: scvSecretArn('Main'),
  extraSalesforceSecretArns: `${scvSecretArn('Emea')},${scvSecretArn('Apac')}`,
  tokenSecretArn: scvTokenSecretArn('Main'),
  extraTokenSecretArns: `${scvSecretArn('Emea')}|${scvTokenSecretArn('Emea')}`,
};
const SCV_SSM = {
  scvSsmCallCenter: 'AcmeCallCenter',
  salesforceAuthEndpoint: 'https://acme.my.salesforce.com/services/oauth2/token',
  salesforceRestApiEndpointBase: 'https://acme.my.salesforce.com',
};

/**
 * One context per way of reaching the Salesforce credentials, plus the Contact Lens analysis
 * bucket fallback with and without its KMS key; tests run each of them.
 */
export const MODES: Record<string, Record<string, string>> = {
  'created secret': {},
  'created secret and an extra SCV org': { extraSalesforceSecretArns: scvSecretArn('Emea') },
  'imported SCV secret': { salesforceSecretArn: scvSecretArn('Main') },
  'imported KMS-encrypted secret without token caches': {
    salesforceSecretArn: scvSecretArn('Main'),
    salesforceSecretKmsKeyArn: KMS_KEY_ARN,
  },
  'SCV secrets with extras and token caches': SCV_SECRETS,
  'SCV secrets with extras and token caches, KMS keys': {
    ...SCV_SECRETS,
    salesforceSecretKmsKeyArn: `${KMS_KEY_ARN},${KMS_KEY_ARN_2}`,
  },
  'SCV SSM parameters': SCV_SSM,
  'SCV SSM parameters, KMS key': { ...SCV_SSM, scvSsmKmsKeyArn: KMS_KEY_ARN },
  'created secret, analysis bucket': { analysisBucket: ANALYSIS_BUCKET },
  'SCV SSM parameters, KMS-encrypted analysis bucket preferring redacted files': {
    ...SCV_SSM,
    analysisBucket: ANALYSIS_BUCKET,
    analysisBucketKmsKeyArn: KMS_KEY_ARN_2,
    analysisPreferRedacted: 'true',
  },
};

/**
 * The backfill bucket and state machine in a few of the modes above. Kept apart from MODES because
 * they add S3 grants and the Step Functions logging and X-Ray statements, whose resource is "*",
 * which the per-mode checks of the stack test rule out; backfill.test.ts and nag.test.ts run these.
 */
export const BACKFILL_MODES: Record<string, Record<string, string>> = {
  'created secret, backfill': { backfill: 'true' },
  'SCV SSM parameters, backfill with its own concurrency and retention': {
    ...SCV_SSM,
    backfill: 'true',
    reservedConcurrency: '4',
    backfillMaxConcurrency: '3',
    backfillRetentionDays: '30',
  },
  'SCV secrets with KMS keys, analysis bucket, backfill sized by the Contact Lens quota': {
    ...MODES['SCV secrets with extras and token caches, KMS keys'],
    analysisBucket: ANALYSIS_BUCKET,
    backfill: 'true',
    reservedConcurrency: '10',
    contactLensQuotaPerSecond: '10',
  },
};

/**
 * Automatic repair in a few of the modes above, alone and with a backfill. Kept apart from MODES
 * because they add queues, a rule and SQS grants the per-mode checks of the stack test do not expect;
 * auto-repair.test.ts and nag.test.ts run these.
 */
export const AUTO_REPAIR_MODES: Record<string, Record<string, string>> = {
  'created secret, auto repair': { autoRepair: 'true' },
  'imported SCV secret, auto repair with its own delay, batches, concurrency and receives': {
    salesforceSecretArn: scvSecretArn('Main'),
    timeoutSeconds: '300',
    reservedConcurrency: '5',
    autoRepair: 'true',
    autoRepairDelaySeconds: '900',
    autoRepairBatchSize: '50',
    autoRepairMaxConcurrency: '3',
    autoRepairMaxReceiveCount: '3',
  },
  'SCV SSM parameters, backfill and auto repair': {
    ...SCV_SSM,
    reservedConcurrency: '4',
    backfill: 'true',
    autoRepair: 'true',
  },
};

// Synthesized CloudFormation is untyped JSON.
export type Json = any;

/** Renders a CloudFormation string expression with `${Ref}` / `${Resource.Attr}` placeholders. */
export function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (value.Ref !== undefined) return `\${${value.Ref}}`;
  if (value['Fn::GetAtt'] !== undefined) return `\${${value['Fn::GetAtt'].join('.')}}`;
  if (value['Fn::Join'] !== undefined) {
    const [separator, parts] = value['Fn::Join'];
    return parts.map(render).join(separator);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** Every IAM statement in the template: identity policies and resource policies. */
export function allStatements(t: Template): { type: string; statement: Json }[] {
  const documents: { type: string; document: Json }[] = [];
  for (const [, resource] of Object.entries<Json>(t.toJSON().Resources)) {
    const props = resource.Properties ?? {};
    for (const document of [props.PolicyDocument, props.KeyPolicy, props.AssumeRolePolicyDocument]) {
      if (document !== undefined) documents.push({ type: resource.Type, document });
    }
    for (const inline of props.Policies ?? []) documents.push({ type: resource.Type, document: inline.PolicyDocument });
  }
  return documents.flatMap(({ type, document }) =>
    document.Statement.map((statement: Json) => ({ type, statement })),
  );
}

/** The one resource of this type in the template, with its logical ID. */
export function onlyResource(t: Template, type: string): { id: string; resource: Json } {
  const resources = Object.entries(t.findResources(type));
  expect(resources).toHaveLength(1);
  const [id, resource] = resources[0];
  return { id, resource };
}

/** The function of manual invocations: its logical ID and resource. */
export const manualFunctionOf = (t: Template) => functionWithId(t, 'ContactDataSyncFunction');
/** The worker function of automatic repair and backfills: its logical ID and resource. */
export const workerFunctionOf = (t: Template) => functionWithId(t, 'ContactDataSyncWorker');

function functionWithId(t: Template, prefix: string): { id: string; resource: Json } {
  const found = Object.entries(t.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith(prefix));
  expect(found).toHaveLength(1);
  const [id, resource] = found[0];
  return { id, resource };
}
