#!/usr/bin/env bash
# The demo on a fresh machine: bootstrap, build, fetch the default data, then one family:
#   scripts/demo.sh [sr]  train the x2 EDSR-baseline config for a few minutes on CPU, evaluate it
#                         against bicubic on the held-out images, upscale one image, export ONNX,
#                         check it with onnxruntime (DEMO_STEPS, default 300)
#   scripts/demo.sh style Gatys style transfer of a photograph in two styles (one with colour
#                         preservation), a short feed-forward (Johnson) training, apply, ONNX check
#   scripts/demo.sh gan   a class-conditional GAN on the digits, its sample grid and class accuracy
#   scripts/demo.sh temporal  temporal SR x2 (DLSS 2 / FSR 2 style) on synthetic sequences, with the
#                         equal-cost single-frame network and ESPCN trained alike; the comparison
#                         table (with TAA and bicubic) on held-out sequences (DEMO_STEPS, default 600)
#   scripts/demo.sh srgan a small SRResNet x4 (PSNR-oriented), then SRGAN started from it; both scored
#                         against bicubic and shown side by side on a held-out crop (DEMO_STEPS, default 300)
# Each prints a short summary with the files it wrote.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
family="${1:-sr}"
case "$family" in sr|style|gan|srgan|temporal) ;; *) die "unknown demo '$family': sr (default), style, gan, srgan or temporal" ;; esac
"$TESSERA_ROOT/scripts/bootstrap.sh"
"$TESSERA_ROOT/scripts/fetch_datasets.sh"
"$TESSERA_ROOT/scripts/build.sh"

T="$TESSERA_BUILD/tessera"
cd "$TESSERA_ROOT"

if [ "$family" = style ]; then
  out="$TESSERA_ROOT/runs/demo_style"
  rm -rf "$out" && mkdir -p "$out"
  iters="${DEMO_ITERATIONS:-200}"
  log "Gatys style transfer: chelsea in the style of waves.png, then of brick.png with colour preservation ($iters L-BFGS iterations, 192 px, random VGG19)"
  "$T" stylize --config configs/style/gatys.yaml --content datasets/style/content/chelsea.png --style datasets/style/styles/waves.png \
    --output "$out/chelsea_waves.png" --run-dir "$out/gatys_waves" image_size=192 iterations="$iters" init=content
  "$T" stylize --config configs/style/gatys.yaml --content datasets/style/content/chelsea.png --style datasets/style/styles/brick.png \
    --output "$out/chelsea_brick_colour.png" --run-dir "$out/gatys_brick" image_size=192 iterations="$iters" init=content preserve_color=true
  steps="${DEMO_STEPS:-300}"
  log "Johnson feed-forward network: $steps steps on 96 px crops of datasets/style/content, style mosaic.png"
  "$T" train configs/style/johnson.yaml --run-dir "$out/johnson" device=cpu trainer.total_steps="$steps" trainer.val_every=100 \
    trainer.save_every=100 trainer.log_every=50 data.train.size=96 data.train.crop=96 data.val.size=96 data.val.crop=96 \
    network.base=16 network.num_res=3 recipe.style_image=datasets/style/styles/mosaic.png recipe.style_size=128
  "$T" apply --checkpoint "$out/johnson" datasets/style/content/flower.jpg "$out/flower_mosaic.png"
  "$T" export --checkpoint "$out/johnson" --output "$out/johnson.onnx"
  "$TESSERA_PYTHON" - "$out" "$T" <<'PY'
import json, os, subprocess, sys
import numpy as np, onnxruntime as ort
from safetensors.numpy import load_file
out, tessera = sys.argv[1:3]
def first_last(run):
    rows = [json.loads(l) for l in open(os.path.join(out, run, "metrics.jsonl"))]
    return rows[0]["style/style"], rows[-1]["style/style"]
import skimage.io as skio
x = skio.imread("datasets/style/content/flower.jpg")[:128, :160, :3].astype(np.float32).transpose(2, 0, 1)[None] / 255
y = ort.InferenceSession(os.path.join(out, "johnson.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
skio.imsave(os.path.join(out, "crop.png"), (x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8), check_contrast=False)
subprocess.run([tessera, "apply", "--checkpoint", os.path.join(out, "johnson"), os.path.join(out, "crop.png"), os.path.join(out, "crop_styled.png")],
               check=True, capture_output=True)
err = np.abs(np.clip(y[0].transpose(1, 2, 0), 0, 1) - skio.imread(os.path.join(out, "crop_styled.png")).astype(np.float32) / 255).max()
print()
print("tessera demo: style transfer on CPU with a seeded random VGG (no downloads)")
for run, what in (("gatys_waves", "Gatys, waves.png"), ("gatys_brick", "Gatys, brick.png, colour preserved")):
    a, b = first_last(run)
    print(f"  {what:36} style loss {a:10.4g} -> {b:8.4g} ({a / b:6.0f}x lower)")
rows = [json.loads(l) for l in open(os.path.join(out, "johnson", "metrics.jsonl")) if "val/style" in l]
print(f"  {'Johnson network, mosaic.png':36} validation style loss {rows[0]['val/style']:.4g} -> {rows[-1]['val/style']:.4g}")
print(f"  ONNX (onnxruntime) vs tessera apply: max abs difference {err:.2e} (8-bit rounding: <= {1/255:.2e})")
print(f"files: {out}/chelsea_waves.png, chelsea_brick_colour.png, flower_mosaic.png, johnson.onnx; runs in {out}/")
sys.exit(0 if err <= 1 / 255 + 1e-6 else 1)
PY
  exit 0
fi

if [ "$family" = temporal ]; then
  "$TESSERA_ROOT/scripts/make_sequences.sh"
  out="$TESSERA_ROOT/runs/demo_temporal"
  rm -rf "$out" && mkdir -p "$out"
  steps="${DEMO_STEPS:-600}"
  for cfg in temporal_sr_x2 single_frame_x2 espcn_sequences_x2; do
    log "training $cfg for $steps steps on datasets/sequences/train (CPU)"
    "$T" train "configs/temporal/$cfg.yaml" --run-dir "$out/$cfg" device=cpu trainer.total_steps="$steps" \
      trainer.val_every="$steps" trainer.save_every="$steps" trainer.log_every=100
  done
  log "streaming the held-out sequences through the temporal network"
  "$T" apply --checkpoint "$out/temporal_sr_x2" datasets/sequences/val "$out/frames"
  echo
  echo "tessera demo: temporal SR x2 on held-out render-mode sequences (first 4 frames of each not scored)"
  "$T" eval --checkpoint "$out/temporal_sr_x2" --data datasets/sequences/val --compare "$out/single_frame_x2" \
    --compare "$out/espcn_sequences_x2" --plot "$out/psnr_per_frame.png" | tee "$out/comparison.txt"
  echo "frames: $out/frames; table: $out/comparison.txt; PSNR per frame: $out/psnr_per_frame.png"
  exit 0
fi

if [ "$family" = srgan ]; then
  out="$TESSERA_ROOT/runs/demo_srgan"
  rm -rf "$out" && mkdir -p "$out"
  steps="${DEMO_STEPS:-300}"
  gen="{type: srresnet, scale: 4, num_feat: 32, num_block: 4}"
  log "SRResNet x4 (PSNR-oriented, MSE) for $steps steps on CPU"
  "$T" train configs/sr/srresnet_x4.yaml --run-dir "$out/srresnet" device=cpu "network=$gen" trainer.total_steps="$steps" \
    trainer.val_every="$steps" trainer.save_every="$steps" trainer.log_every=50 recipe.optimizer.lr=5e-4 data.train.patch_size=24
  log "SRGAN from it for $steps steps (Ledig's losses on a seeded random VGG19 plus MSE for so short a run, 96 px discriminator)"
  "$T" train configs/sr/srgan_x4.yaml --run-dir "$out/srgan" device=cpu "networks.generator=$gen" networks.discriminator.num_feat=16 \
    recipe.pretrained_generator="$out/srresnet" trainer.total_steps="$steps" trainer.val_every="$steps" trainer.save_every="$steps" \
    trainer.log_every=50 data.batch_size=8 "recipe.pixel={type: mse, weight: 1.0}"
  for run in srresnet srgan; do
    "$T" eval --checkpoint "$out/$run" --data datasets/skimage/val --json > "$out/$run.json"
    "$T" apply --checkpoint "$out/$run" datasets/skimage/val/coffee.png "$out/coffee_$run.png"
  done
  "$TESSERA_PYTHON" - "$out" <<'PY'
import json, os, sys
import numpy as np, skimage.io as skio
out = sys.argv[1]
ev = {r: json.load(open(os.path.join(out, r + ".json"))) for r in ("srresnet", "srgan")}
crops = [skio.imread(os.path.join(out, f"coffee_{r}.png"))[100:260, 150:390, :3] for r in ("srresnet", "srgan")]
skio.imsave(os.path.join(out, "srresnet_vs_srgan.png"), np.concatenate(crops, axis=1), check_contrast=False)
b = ev["srresnet"]["bicubic"]
print()
print("tessera demo: SRResNet x4 and SRGAN from it, trained on CPU, held-out skimage photographs (Y channel, crop 4)")
print(f"{'':24}{'PSNR (dB)':>12}{'SSIM':>10}")
print(f"{'bicubic (MATLAB)':24}{b['psnr']:>12.3f}{b['ssim']:>10.4f}")
for r, name in (("srresnet", "SRResNet (PSNR)"), ("srgan", "SRGAN (perceptual+GAN)")):
    m = ev[r]["model"]
    print(f"{name:24}{m['psnr']:>12.3f}{m['ssim']:>10.4f}")
print(f"files: {out}/srresnet_vs_srgan.png (left SRResNet, right SRGAN), coffee_*.png; runs in {out}/")
PY
  exit 0
fi

if [ "$family" = gan ]; then
  out="$TESSERA_ROOT/runs/demo_gan"
  rm -rf "$out" && mkdir -p "$out"
  log "training the digits classifier (the FID/IS feature network)"
  "$T" train configs/eval/digits_classifier.yaml --run-dir "$out/classifier" device=cpu
  steps="${DEMO_STEPS:-1500}"
  log "training a conditional GAN on the digits for $steps steps"
  "$T" train configs/gan/cgan_digits.yaml --run-dir "$out/cgan" device=cpu trainer.total_steps="$steps" trainer.val_every="$steps" \
    trainer.save_every="$steps" recipe.val.feature_net="$out/classifier/checkpoints/best/model.safetensors"
  "$T" sample --checkpoint "$out/cgan" --output "$out/grid.png" --n 100 --nrow 10
  "$T" eval --checkpoint "$out/cgan" --data datasets/digits/digits.csv --features "$out/classifier/checkpoints/best/model.safetensors" \
    --n 1000 --json > "$out/eval.json"
  "$TESSERA_PYTHON" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
ev = json.load(open(os.path.join(out, "eval.json")))
print()
print("tessera demo: conditional GAN on the 8x8 digits (CPU)")
print(f"  FID {ev['fid']:.2f}, inception score {ev['inception_score']:.2f}, class accuracy {ev['class_accuracy']:.3f} (digits-classifier features)")
print(f"files: {out}/grid.png (one column per class), {out}/eval.json; runs in {out}/")
PY
  exit 0
fi

steps="${DEMO_STEPS:-300}"
run_dir="$TESSERA_ROOT/runs/demo_edsr_baseline_x2"
out="$run_dir/demo"
rm -rf "$run_dir"
# The paper's config, shortened for a CPU: 32x32 LR patches, a higher learning rate with cosine decay.
log "training EDSR-baseline x2 for $steps steps on CPU (configs/sr/edsr_baseline_x2.yaml)"
"$T" train configs/sr/edsr_baseline_x2.yaml --run-dir "$run_dir" device=cpu \
  trainer.total_steps="$steps" trainer.val_every=100 trainer.save_every=100 trainer.log_every=25 \
  data.train.patch_size=32 recipe.optimizer.lr=5e-4 "recipe.scheduler={type: cosine}"
ckpt="$run_dir/checkpoints/step_$(printf %08d "$steps")/model.safetensors"
mkdir -p "$out"
log "evaluating on the held-out images (PSNR/SSIM on Y, crop 2)"
"$T" eval --checkpoint "$ckpt" --data datasets/skimage/val --json > "$out/eval.json"
"$T" apply --checkpoint "$ckpt" datasets/skimage/val/chelsea.png "$out/chelsea_x2.png"
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
