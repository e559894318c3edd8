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
