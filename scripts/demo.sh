#!/usr/bin/env bash
# The demo on a fresh machine: bootstrap, build, fetch the default data, train the default x2
# EDSR-baseline config for a few minutes on CPU, evaluate it against bicubic on the held-out images,
# upscale one image, export ONNX, check it with onnxruntime, and print a summary.
# DEMO_STEPS (default 300) sets the length of the training.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$TESSERA_ROOT/scripts/bootstrap.sh"
"$TESSERA_ROOT/scripts/fetch_datasets.sh"
"$TESSERA_ROOT/scripts/build.sh"

T="$TESSERA_BUILD/tessera"
steps="${DEMO_STEPS:-300}"
run_dir="$TESSERA_ROOT/runs/demo_edsr_baseline_x2"
out="$run_dir/demo"
rm -rf "$run_dir"
cd "$TESSERA_ROOT"
# The paper's config, shortened for a CPU: 32x32 LR patches, a higher learning rate with cosine decay.
log "training EDSR-baseline x2 for $steps steps on CPU (configs/sr/edsr_baseline_x2.yaml)"
"$T" train configs/sr/edsr_baseline_x2.yaml --run-dir "$run_dir" device=cpu \
  trainer.total_steps="$steps" trainer.val_every=100 trainer.save_every=100 trainer.log_every=25 \
  data.train.patch_size=32 recipe.optimizer.lr=5e-4 "recipe.scheduler={type: cosine}"
ckpt="$run_dir/checkpoints/step_$(printf %08d "$steps")/model.safetensors"
mkdir -p "$out"
log "evaluating on the held-out images (PSNR/SSIM on Y, crop 2)"
"$T" eval --checkpoint "$ckpt" --data datasets/skimage/val --json > "$out/eval.json"
"$T" upscale --checkpoint "$ckpt" datasets/skimage/val/chelsea.png "$out/chelsea_x2.png"
"$T" export --checkpoint "$ckpt" --output "$out/edsr_baseline_x2.onnx"
"$TESSERA_PYTHON" - "$out" "$ckpt" "$T" <<'PY'
import json, subprocess, sys, os
import numpy as np, onnxruntime as ort
from safetensors.numpy import save_file, load_file
out, ckpt, tessera = sys.argv[1:4]
ev = json.load(open(os.path.join(out, "eval.json")))
# onnxruntime vs tessera's own upscale on a crop of a held-out image
import skimage.io as skio
x = skio.imread("datasets/skimage/val/coffee.png")[:96, :128, :3].astype(np.float32).transpose(2, 0, 1)[None] / 255
y = ort.InferenceSession(os.path.join(out, "edsr_baseline_x2.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
skio.imsave(os.path.join(out, "crop.png"), (x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8), check_contrast=False)
subprocess.run([tessera, "upscale", "--checkpoint", ckpt, os.path.join(out, "crop.png"), os.path.join(out, "crop_x2.png")],
               check=True, capture_output=True)
ref = skio.imread(os.path.join(out, "crop_x2.png")).astype(np.float32) / 255
err = np.abs(np.clip(y[0].transpose(1, 2, 0), 0, 1) - ref).max()
m, b = ev["model"], ev["bicubic"]
print()
print("tessera demo: EDSR-baseline x2, trained on CPU, held-out skimage photographs (Y channel, crop 2)")
print(f"{'':24}{'PSNR (dB)':>12}{'SSIM':>10}")
print(f"{'bicubic (MATLAB)':24}{b['psnr']:>12.3f}{b['ssim']:>10.4f}")
print(f"{'EDSR-baseline (tessera)':24}{m['psnr']:>12.3f}{m['ssim']:>10.4f}")
print(f"{'gain':24}{m['psnr'] - b['psnr']:>+12.3f}{m['ssim'] - b['ssim']:>+10.4f}")
print(f"ONNX (onnxruntime) vs tessera upscale: max abs difference {err:.2e} (8-bit rounding: <= {1/255:.2e})")
print(f"files: {out}")
ok = m["psnr"] > b["psnr"] and err <= 1 / 255 + 1e-6
sys.exit(0 if ok else 1)
PY
