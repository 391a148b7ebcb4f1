#!/usr/bin/env bash
# The test command: bootstrap (idempotent), fetch the default data, build, make the temporal-SR
# sequences with the built binary, run every test through
# CTest (Catch2 unit/integration tests and the Python oracle tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$TESSERA_ROOT/scripts/bootstrap.sh"
"$TESSERA_ROOT/scripts/fetch_datasets.sh"
"$TESSERA_ROOT/scripts/build.sh"
"$TESSERA_ROOT/scripts/make_sequences.sh"
cd "$TESSERA_BUILD"
# CTest runs one test per core; each gets one intra-op thread (two OpenMP teams spinning on two
# cores cost more than they gain). Tests that care about threads set them themselves.
# (nproc honours OMP_NUM_THREADS, so the job count is taken first.)
jobs="$(nproc)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --output-on-failure -j"$jobs" --timeout 900 "$@"
