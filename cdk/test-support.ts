import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ContactDataSyncStack } from './contact-data-sync-stack';
import { parseSettings } from './props';

export const INSTANCE_ID = '11111111-2222-3333-4444-555555555555';

/** Stands in for the cargo-lambda build so tests never compile Rust. */
export function dummyBootstrapCode(): lambda.Code {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contact-data-sync-code-'));
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
  return lambda.Code.fromAsset(dir);
}

/** Builds the stack from context-style settings, exactly as bin/app.ts does, with prebuilt code. */
export function buildStack(context: Record<string, string> = {}, app = new App()): ContactDataSyncStack {
  const settings = parseSettings((key) => ({ connectInstanceId: INSTANCE_ID, ...context })[key]);
  return new ContactDataSyncStack(app, 'ContactDataSync', { settings, functionCode: dummyBootstrapCode() });
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
  extraTokenSecretArns: scvTokenSecretArn('Emea'),
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
