#!/usr/bin/env bash
# Soak: a 10,000-step run of the SR smoke config whose resident memory must stay flat
# (tests/python/soak.py samples RSS and fails on growth; the suite runs a short version).
#   scripts/soak.sh [--steps N] [--config FILE] [--csv FILE] [override ...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x "$TESSERA_BUILD/tessera" ] || die "no $TESSERA_BUILD/tessera: run scripts/build.sh first"
exec "$TESSERA_PYTHON" "$TESSERA_ROOT/tests/python/soak.py" --tessera "$TESSERA_BUILD/tessera" --source "$TESSERA_ROOT" \
  --work "$TESSERA_BUILD/soak" "$@"
