// Checks the package a customer's CDK app installs, after `npm run build`: what `npm pack` would
// publish, and that the entry point named by package.json loads and composes the construct, the
// backfill state machine's definition included, into a stack of the customer's own.
// Run from the repository root: npx tsx scripts/check-package.ts
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';

const root = path.resolve(__dirname, '..');
const fail = (message: string): never => {
  console.error(`check-package: ${message}`);
  process.exit(1);
};

// The published set: the built library and npm's own files, nothing of the app, the crate or the tests.
const [packed] = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }),
);
const files: string[] = packed.files.map((f: { path: string }) => f.path).sort();
const outside = files.filter((f) => !f.startsWith('lib/') && !['package.json', 'README.md', 'LICENSE'].includes(f));
if (outside.length > 0) fail(`files outside lib/ in the package: ${outside.join(', ')}`);
for (const needed of ['lib/index.js', 'lib/index.d.ts', 'lib/contact-data-sync.js', 'lib/backfill-state-machine.asl.json']) {
  if (!files.includes(needed)) fail(`${needed} is not in the package (run npm run build first)`);
}
if (files.some((f) => f.endsWith('.test.js') || f.includes('test-support') || f.includes('contact-data-sync-stack'))) {
  fail(`the app's or the tests' files are in the package: ${files.join(', ')}`);
}
const declarations = fs.readFileSync(path.join(root, 'lib', 'index.d.ts'), 'utf8');
for (const name of ['ContactDataSync', 'ContactDataSyncProps', 'parseSettings']) {
  if (!new RegExp(`\\b${name}\\b`).test(declarations)) fail(`lib/index.d.ts does not export ${name}`);
}

// The entry point as `require('contact-data-sync-cdk')` resolves it: package.json's "main".
const pkg = require(root) as typeof import('../cdk/index');
const code = fs.mkdtempSync(path.join(os.tmpdir(), 'contact-data-sync-package-'));
fs.writeFileSync(path.join(code, 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
const stack = new Stack(new App(), 'CustomerStack');
const sync = new pkg.ContactDataSync(stack, 'Transcripts', {
  connectInstanceId: '11111111-2222-3333-4444-555555555555',
  autoRepair: true,
  backfill: true,
  reservedConcurrency: 4,
  functionCode: lambda.Code.fromAsset(code),
});
const t = Template.fromStack(stack);
t.resourceCountIs('AWS::Lambda::Function', 2);
t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
t.resourceCountIs('AWS::SQS::Queue', 2);
if (sync.backfillStateMachine === undefined || sync.autoRepairQueue === undefined) fail('the construct exposes no state machine or queue');
console.log(`check-package: ${files.length} files in the package; lib/ composes into CustomerStack with ${Object.keys(t.toJSON().Resources).length} resources`);
