#!/usr/bin/env bash
# The test command: bootstrap (idempotent), fetch the default data, build, run every test through
# CTest (Catch2 unit/integration tests and the Python oracle tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$TESSERA_ROOT/scripts/bootstrap.sh"
"$TESSERA_ROOT/scripts/fetch_datasets.sh"
"$TESSERA_ROOT/scripts/build.sh"
cd "$TESSERA_BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
