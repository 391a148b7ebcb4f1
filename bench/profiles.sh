#!/usr/bin/env bash
# The operator profiles of each family's training step (tessera profile), written to
# docs/profiles.md. Sizes: EDSR-baseline x2 on 16 x 48x48 patches, the Johnson recipe at
# 256x256 batch 4 (with the smoke config's small TransformerNet), WGAN-GP DCGAN at 32x32, VAE; data
# the repository provides.
#   bench/profiles.sh [build/tessera]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T="${1:-build/tessera}"
D=datasets/skimage
OUT=docs/profiles.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # title, then tessera profile arguments
  local title="$1"; shift
  "$T" profile "$@" --warmup 2 --steps 4 --top 15 --output "$tmp/t.md" > /dev/null
  { echo "### $title"; echo; echo '```'; echo "tessera profile $*"; echo '```'; echo; cat "$tmp/t.md"; echo; } >> "$tmp/all.md"
}
SR=(configs/sr/sr_smoke.yaml network.num_feat=64 network.num_block=16 data.batch_size=16 data.train.patch_size=96
    data.train.hr_dir=$D/train data.val.hr_dir=$D/val)
run "EDSR-baseline x2, fp32, NCHW" "${SR[@]}"
run "EDSR-baseline x2, fp32, channels_last, fused Adam" "${SR[@]}" recipe.channels_last=true recipe.optimizer.fused=true
run "EDSR-baseline x2, bf16 autocast, channels_last" "${SR[@]}" recipe.channels_last=true recipe.amp=bf16
run "Johnson recipe, the smoke config's small TransformerNet + VGG16 losses, 256x256, batch 4" configs/style/johnson_smoke.yaml data.batch_size=4 data.train.size=256 data.train.crop=256
G=(networks.generator.image_size=32 networks.critic.image_size=32 networks.generator.channels=3 networks.critic.channels=3
   networks.generator.base=64 networks.critic.base=64)
run "WGAN-GP, DCGAN 32x32 RGB (base 64), batch 64" configs/gan/wgan_gp_smoke.yaml "${G[@]}" data.batch_size=64 \
    "data.train={type: image_folder, dir: $D/train, size: 32, crop: 32, repeat: 16}" \
    "data.val={type: image_folder, dir: $D/val, size: 32, crop: 32, random_crop: false}"
run "VAE, digits" configs/vae/vae_smoke.yaml data.batch_size=128
{
  echo "# Training-step profiles"
  echo
  echo "Written by \`bench/profiles.sh\` ($(date -u +%Y-%m-%d), $("$T" info | grep '^CPU ' | sed 's/CPU *//'), $(nproc) threads)."
  echo "Self time excludes the operators an operator calls; rows named \`autograd::engine::evaluate_function\`"
  echo "are the autograd engine's wrappers around each backward node. See docs/benchmarks.md for what"
  echo "these profiles led to."
  echo
  cat "$tmp/all.md"
} > "$OUT"
echo "wrote $OUT"
