#!/usr/bin/env bash
# Installs what the sandbox and the tests need beyond Rust, Node and Python:
# cargo-lambda and zig (cross-builds for arm64 Lambda without Docker), cfn-lint, moto's server
# (S3, Step Functions and CloudFormation for the backfill CLI's tests), and the npm packages of
# the CDK app (skipped with --rust-only, which is all the sandbox needs).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

python_tools=()
command -v cargo-lambda >/dev/null || python_tools+=(cargo-lambda)
python3 -c "import ziglang" 2>/dev/null || python_tools+=(ziglang)
command -v cfn-lint >/dev/null || python_tools+=(cfn-lint)
python3 -c "import moto.server" 2>/dev/null || python_tools+=("moto[server]")
if ((${#python_tools[@]})); then
  echo "setup: pip install ${python_tools[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${python_tools[@]}"
  # pyenv exposes new console scripts through shims only after a rehash.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi

[ "${1:-}" = --rust-only ] && exit 0

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
