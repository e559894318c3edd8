#!/usr/bin/env bash
# Every check of the project, offline: formatting and lints, Rust unit and integration tests
# (against the emulators), the end-to-end run under cargo-lambda's runtime emulator, the CDK
# app's Jest tests, the backfill CLI against moto, and real `cdk synth`s (one arm64 release
# build; with and without the backfill and automatic repair constructs) checked by cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test"
cargo test --workspace --locked
step "tsc --noEmit"
npx tsc --noEmit
step "jest"
npx jest --ci
instance=11111111-2222-3333-4444-555555555555
step "cdk synth (builds the arm64 release binary with cargo-lambda)"
rm -rf cdk.out cdk.out.backfill
time npx cdk synth --quiet -c connectInstanceId=$instance >/dev/null
step "cdk synth -c backfill=true -c autoRepair=true (the same binary, built once)"
npx cdk synth --quiet -o cdk.out.backfill -c connectInstanceId=$instance -c backfill=true -c autoRepair=true >/dev/null
step "cfn-lint"
cfn-lint cdk.out/*.template.json cdk.out.backfill/*.template.json
echo "asset size: $(du -sh cdk.out/asset.*/bootstrap | cut -f1) (bootstrap, uncompressed)"
