#!/usr/bin/env bash
# Every check of the project, offline: formatting and lints, Rust unit and integration tests
# (against the emulators), the end-to-end run under cargo-lambda's runtime emulator, the CDK
# app's Jest tests (the ContactDataSync construct in a customer's stack among them), the
# construct package's build, the backfill CLI against moto, and real `cdk synth`s (one arm64
# release build; with and without the backfill and automatic repair constructs; and from that
# binary as prebuilt code, with no cargo) checked by cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Mostly run cold (CI, a fresh clone), where incremental caches only add gigabytes to target/.
export CARGO_INCREMENTAL=0

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
step "npm run build (the construct package: lib/) and its check"
npm run build >/dev/null
npx tsx scripts/check-package.ts
instance=11111111-2222-3333-4444-555555555555
step "cdk synth (builds the arm64 release binary with cargo-lambda)"
rm -rf cdk.out cdk.out.backfill cdk.out.prebuilt
time npx cdk synth --quiet -c connectInstanceId=$instance >/dev/null
step "cdk synth -c backfill=true -c autoRepair=true (the same binary, built once)"
npx cdk synth --quiet -o cdk.out.backfill -c connectInstanceId=$instance -c backfill=true -c autoRepair=true >/dev/null
step "cdk synth -c functionCode=<the binary built above> (prebuilt code: no cargo on this path)"
prebuilt=$(dirname cdk.out/asset.*/bootstrap)
# A cargo that fails: the synth would need it (or Docker) to build, so passing proves it did not.
no_cargo=$(mktemp -d)
printf '#!/bin/sh\necho "cargo must not run when functionCode is given" >&2\nexit 1\n' >"$no_cargo/cargo"
chmod +x "$no_cargo/cargo"
PATH="$no_cargo:$PATH" npx cdk synth --quiet -o cdk.out.prebuilt -c connectInstanceId=$instance -c functionCode="$prebuilt" >/dev/null
rm -rf "$no_cargo"
step "cfn-lint"
cfn-lint cdk.out/*.template.json cdk.out.backfill/*.template.json cdk.out.prebuilt/*.template.json
echo "asset size: $(du -sh cdk.out/asset.*/bootstrap | cut -f1) (bootstrap, uncompressed)"
echo "target/ size: $(du -sh target | cut -f1)"
