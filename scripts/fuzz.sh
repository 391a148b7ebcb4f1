#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, with clang) and runs each for a while.
#   scripts/fuzz.sh [--time SECONDS] [--seed N] [--build-only | --no-build] [TARGET...]
#   TARGET: safetensors config image flow
# Each target starts from the seed corpus in tests/fuzz/corpus/TARGET plus what earlier runs found
# ($TESSERA_BUILD/fuzz/corpus/TARGET). --seed N makes a run repeatable (the test suite's): libFuzzer's
# -seed=N from the seed corpus alone, in a scratch corpus that later runs do not see. A crash leaves its input in $TESSERA_BUILD/fuzz/artifacts/
# and makes the script fail; turn it into a regression test (tests/fuzz/regressions/TARGET/), which
# every run replays first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
time_s=60 seed="" build_only=0 no_build=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s="$2"; shift 2 ;;
    --seed) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--seed needs a number, got '${2:-}'"; seed="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --no-build) no_build=1; shift ;;
    safetensors|config|image|flow) targets+=("$1"); shift ;;
    *) die "unknown argument '$1' (use --time SECONDS, --seed N, --build-only, --no-build, or the targets safetensors config image flow)" ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config image flow)
fuzz="$TESSERA_BUILD/fuzz"
if [ "$no_build" = 1 ]; then
  [ -x "$fuzz/fuzz_${targets[0]}" ] || die "no $fuzz/fuzz_${targets[0]}: run scripts/fuzz.sh --build-only first"
elif [ ! -f "$fuzz/build.ninja" ]; then
  command -v clang++ >/dev/null || die "clang++ is missing: run scripts/bootstrap.sh"
  log "configuring the fuzz harnesses in $fuzz (clang++)"
  mkdir -p "$TESSERA_CACHE"
  CXX=clang++ cmake -S "$TESSERA_ROOT/tests/fuzz" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTESSERA_PYTHON="$TESSERA_PYTHON" >"$TESSERA_CACHE/cmake-fuzz.log" 2>&1 \
    || { cat "$TESSERA_CACHE/cmake-fuzz.log"; die "configuring the fuzz harnesses failed"; }
fi
[ "$no_build" = 1 ] || cmake --build "$fuzz" -- -j"$(nproc)" >/dev/null || cmake --build "$fuzz" -- -j1
[ "$build_only" = 1 ] && exit 0
# LibTorch and OpenCV are not instrumented; their allocator tricks are not ours to report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1
status=0
for t in "${targets[@]}"; do
  corpus="$fuzz/corpus/$t" seeds="$TESSERA_ROOT/tests/fuzz/corpus/$t" reg="$TESSERA_ROOT/tests/fuzz/regressions/$t"
  repeat=()
  if [ -n "$seed" ]; then
    corpus="$fuzz/scratch/$t"; rm -rf "$corpus"; repeat=(-seed="$seed")
  fi
  mkdir -p "$corpus" "$fuzz/artifacts/$t"
  dict=(); [ -f "$TESSERA_ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$TESSERA_ROOT/tests/fuzz/$t.dict")
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    log "fuzz_$t: replaying $(ls "$reg" | wc -l) regression inputs"
    "$fuzz/fuzz_$t" "$reg"/* >"$fuzz/$t-regressions.log" 2>&1 || { tail -40 "$fuzz/$t-regressions.log"; log "fuzz_$t: a regression input fails"; status=1; continue; }
  fi
  log "fuzz_$t: ${time_s} s${seed:+ (seed $seed)} from $(ls "$seeds" | wc -l) seeds + $(ls "$corpus" | wc -l) found inputs"
  if "$fuzz/fuzz_$t" "${dict[@]}" "${repeat[@]}" -max_total_time="$time_s" -timeout=10 -rss_limit_mb=3072 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/" "$corpus" "$seeds" >"$fuzz/$t.log" 2>&1; then
    log "fuzz_$t: clean ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$fuzz/$t.log" | grep -o '[0-9]*$') inputs run, corpus $(ls "$corpus" | wc -l))"
  else
    tail -60 "$fuzz/$t.log"
    log "fuzz_$t: FOUND A FAILURE; its input is in $fuzz/artifacts/$t/ (log: $fuzz/$t.log)"
    status=1
  fi
done
exit $status
