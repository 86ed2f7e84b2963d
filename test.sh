#!/usr/bin/env bash
# Runs every test on a new machine: installs what the tests need (Python readers,
# ADBC's Flight SQL driver and moto's S3 server from PyPI, Azurite from npm), then
# `cargo test --workspace`. The tests start and stop the S3 and Azure servers and the
# Flight SQL service themselves, on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datafusion-export-target}"

python3 -m pip install --quiet --disable-pip-version-check \
  "pyarrow>=14" "deltalake>=1.0" "moto[server]>=5" pytest \
  "adbc-driver-flightsql>=1.3" "adbc-driver-manager>=1.3"
# A user install puts moto_server in the user base's bin folder, which may not be on PATH.
if ! command -v moto_server >/dev/null 2>&1; then
  export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
if ! command -v azurite-blob >/dev/null 2>&1; then
  # Globally where npm may; otherwise in a cache folder put on PATH.
  if ! npm install --global --silent --no-fund --no-audit "azurite@3"; then
    npm install --prefix "$HOME/.cache/datafusion-export-npm" --silent --no-fund --no-audit "azurite@3"
    export PATH="$HOME/.cache/datafusion-export-npm/node_modules/.bin:$PATH"
  fi
fi

cargo test --workspace "$@"
