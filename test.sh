#!/usr/bin/env bash
# Runs every test on a new machine: installs what the tests need (Python readers and
# moto's S3 server from PyPI, Azurite from npm), then `cargo test --workspace`. The tests
# start and stop the S3 and Azure servers themselves, on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datafusion-export-target}"

python3 -m pip install --quiet --disable-pip-version-check \
  "pyarrow>=14" "deltalake>=1.0" "moto[server]>=5" "azure-storage-blob>=12"
if ! command -v azurite-blob >/dev/null 2>&1; then
  npm install --global --silent --no-fund --no-audit "azurite@3"
fi

cargo test --workspace "$@"
