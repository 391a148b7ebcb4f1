#!/usr/bin/env bash
# Builds tessera with AddressSanitizer + UndefinedBehaviorSanitizer (-DTESSERA_SANITIZE=ON) into
# build-asan/ (or $TESSERA_ASAN_BUILD) and runs the C++ test suite (the Catch2 tests, which also run
# the instrumented `tessera` binary) under it. Extra arguments go to ctest, e.g. -R safetensors.
# The CUDA kernels are left out of this build (nvcc device code cannot be instrumented); the Python
# oracle tests and the fuzzers (their own ASan build, scripts/fuzz.sh) are not run here.
# Suppressions, and why each is there: tests/sanitizers/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x "$TESSERA_PYTHON" ] || die "no venv at $TESSERA_VENV: run scripts/bootstrap.sh first"
build="${TESSERA_ASAN_BUILD:-$TESSERA_ROOT/build-asan}"
if [ ! -f "$build/build.ninja" ]; then
  log "configuring $build (ASan + UBSan)"
  mkdir -p "$TESSERA_CACHE"
  cmake -S "$TESSERA_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON -DTESSERA_CUDA=OFF \
    -DTESSERA_BENCH=OFF -DTESSERA_PYTHON="$TESSERA_PYTHON" -DTESSERA_TEST_PYTHON="$TESSERA_PYTHON" >"$TESSERA_CACHE/cmake-asan.log" 2>&1 \
    || { cat "$TESSERA_CACHE/cmake-asan.log"; die "cmake configuration of the sanitizer build failed"; }
fi
log "building $build"
cmake --build "$build" -- -j"$(nproc)"
sup="$TESSERA_ROOT/tests/sanitizers"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$sup/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$sup/ubsan.supp}"
cd "$build"
log "running the C++ tests under ASan + UBSan"
ctest --output-on-failure -j"$(nproc)" --timeout 1800 -E '^(python|fuzz)\.' "$@"
