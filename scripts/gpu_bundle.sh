#!/usr/bin/env bash
# Packs what a GPU machine without Debian packages or network needs to run tessera against its own
# PyTorch (same torch version and CUDA major as here): the binaries, libtessera_ops.so, every
# non-LibTorch shared library they load (from ldd, dereferenced), the smoke configs, a small data
# sample, the op oracle test, and run.sh. Output: gpu_bundle/tessera-gpu.tar.xz (git-ignored), to
# carry to the machine. See docs/gpu.md.
#
#   scripts/gpu_bundle.sh [--max-mib 60] [--out DIR] [--stage-only]   (--stage-only: the folder, not the archive)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MAX_MIB=60
OUT_DIR="$TESSERA_ROOT/gpu_bundle"
STAGE_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --max-mib) MAX_MIB="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --stage-only) STAGE_ONLY=1; shift ;;
    *) die "unknown argument '$1' (usage: scripts/gpu_bundle.sh [--max-mib N] [--out DIR] [--stage-only])" ;;
  esac
done
B="$TESSERA_BUILD"
for f in tessera tests/tessera_tests tests/tessera_test_helper libtessera_ops.so; do
  [ -f "$B/$f" ] || die "$B/$f is missing: run scripts/build.sh first"
done
STAGE="$OUT_DIR/tessera-gpu"
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/configs" "$STAGE/tests" "$STAGE/datasets/skimage"

cp "$B/tessera" "$B/tests/tessera_tests" "$B/tests/tessera_test_helper" "$STAGE/bin/"
cp "$B/libtessera_ops.so" "$STAGE/lib/"
strip --strip-unneeded "$STAGE"/bin/* "$STAGE"/lib/libtessera_ops.so

# Shared libraries: everything ldd resolves except LibTorch's (the machine's torch provides them),
# the C runtime (glibc, libstdc++, libgcc_s: the machine's own, newer or equal) and the driver.
ldd "$B/tessera" "$B/tests/tessera_tests" "$B/libtessera_ops.so" | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u |
  grep -v -e '/torch/lib/' -e '/nvidia/' \
    -e '/libc\.so' -e '/libm\.so' -e '/libdl\.so' -e '/librt\.so' -e '/libpthread\.so' -e '/ld-linux' \
    -e '/libstdc++\.so' -e '/libgcc_s\.so' -e '/libcuda\.so' > "$STAGE/lib/MANIFEST"
while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done < "$STAGE/lib/MANIFEST"

# Configs (all: the config test builds them), the op oracle and its helper module, a data sample.
cp -r "$TESSERA_ROOT/configs/." "$STAGE/configs/"
cp "$TESSERA_ROOT/tests/python/common.py" "$TESSERA_ROOT/tests/python/test_ops_opcheck.py" "$STAGE/tests/"
for split in train val; do
  mkdir -p "$STAGE/datasets/skimage/$split"
  find "$TESSERA_ROOT/datasets/skimage/$split" -maxdepth 1 -type f | sort | head -n 3 | xargs -I{} cp {} "$STAGE/datasets/skimage/$split/"
done

cat > "$STAGE/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: bash run.sh [OUT_DIR]. Runs tessera against this machine's PyTorch: info, the
# op tests on CUDA, the op oracle in Python, and SR smoke training on the GPU in fp32, bf16 and fp16.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/out}"
mkdir -p "$OUT"
PY="${TESSERA_GPU_PYTHON:-python3}"
TORCH_LIB="$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" || { echo "no torch in $PY"; exit 1; }
export LD_LIBRARY_PATH="$HERE/lib:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing="$(ldd "$HERE/bin/tessera" "$HERE/lib/libtessera_ops.so" | grep 'not found' | sort -u)"
[ -z "$missing" ] || { echo "libraries not found on this machine:"; echo "$missing"; exit 1; }
status=0
step() { echo "== $*"; "$@" 2>&1 | tee -a "$OUT/log.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || { echo "FAILED ($rc): $*" | tee -a "$OUT/log.txt"; status=1; }; }
step "$HERE/bin/tessera" info
step "$HERE/bin/tessera_tests" "[ops]" --success --reporter compact
step "$PY" "$HERE/tests/test_ops_opcheck.py" --tessera "$HERE/bin/tessera" --helper "$HERE/bin/tessera_test_helper" --source "$HERE" --work "$OUT/opcheck"
for amp in none bf16 fp16; do
  step "$HERE/bin/tessera" train "$HERE/configs/sr/sr_smoke.yaml" --run-dir "$OUT/sr_$amp" device=cuda recipe.amp=$amp \
    "data.train.hr_dir=$HERE/datasets/skimage/train" "data.val.hr_dir=$HERE/datasets/skimage/val" trainer.total_steps=200 trainer.val_every=200
done
exit $status
RUN
chmod +x "$STAGE/run.sh"

if [ "$STAGE_ONLY" = 1 ]; then
  log "bundle folder: $STAGE ($(wc -l < "$STAGE/lib/MANIFEST") libraries)"
  exit 0
fi
tar -C "$OUT_DIR" -cf - tessera-gpu | xz -T"$(nproc)" -9 > "$OUT_DIR/tessera-gpu.tar.xz"
size=$(stat -c %s "$OUT_DIR/tessera-gpu.tar.xz")
log "bundle: $OUT_DIR/tessera-gpu.tar.xz ($((size / 1048576)) MiB, $(wc -l < "$STAGE/lib/MANIFEST") libraries)"
[ "$size" -le $((MAX_MIB * 1048576)) ] || die "the bundle is $((size / 1048576)) MiB, over --max-mib $MAX_MIB"
