#!/usr/bin/env bash
# Configures (once) and builds tessera with Ninja and ccache into build/ (or $TESSERA_BUILD).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x "$TESSERA_PYTHON" ] || die "no venv at $TESSERA_VENV: run scripts/bootstrap.sh first"
if [ ! -f "$TESSERA_BUILD/build.ninja" ]; then
  log "configuring $TESSERA_BUILD"
  cmake -S "$TESSERA_ROOT" -B "$TESSERA_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTESSERA_PYTHON="$TESSERA_PYTHON" -DTESSERA_TEST_PYTHON="$TESSERA_PYTHON" >"$TESSERA_CACHE/cmake-configure.log" 2>&1 \
    || { cat "$TESSERA_CACHE/cmake-configure.log"; die "cmake configuration failed"; }
fi
log "building (ninja, $(nproc) jobs, ccache at $CCACHE_DIR)"
cmake --build "$TESSERA_BUILD" -- -j"$(nproc)"
