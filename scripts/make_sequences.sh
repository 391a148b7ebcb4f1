#!/usr/bin/env bash
# Makes the temporal-SR sequences (docs/temporal_sr.md) from the skimage photographs with the built
# `tessera sequences`, once; a changed recipe (the stamp) remakes them.
#   datasets/sequences/train        64 render-mode sequences, 16 frames, 128x128 targets, x2 (train photos)
#   datasets/sequences/val           8 render-mode sequences of the held-out photos (seed 1)
#   datasets/sequences/train_camera, val_camera: the same in camera mode (area-averaged low-res pixels)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T="$TESSERA_BUILD/tessera"
[ -x "$T" ] || die "no $T: run scripts/build.sh first"
[ -d "$TESSERA_ROOT/datasets/skimage/train" ] || die "no datasets/skimage: run scripts/fetch_datasets.sh first"
dest="$TESSERA_ROOT/datasets/sequences"
want="sequences-v1 frames=16 size=128x128 ratio=2 train=64 val=8"
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$want" ]; then
  log "datasets/sequences is up to date"
  exit 0
fi
rm -rf "$dest.tmp"
make() {  # split photos count seed mode
  "$T" sequences --photos "$TESSERA_ROOT/datasets/skimage/$2" --output "$dest.tmp/$1" --count "$3" --seed "$4" --mode "$5" \
    --frames 16 --size 128x128 --ratio 2 >/dev/null
}
make train train 64 0 render
make val val 8 1 render
make train_camera train 64 0 camera
make val_camera val 8 1 camera
echo "$want" > "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
log "datasets/sequences: $(ls "$dest/train" | wc -l) train, $(ls "$dest/val" | wc -l) val sequences (and camera mode)"
