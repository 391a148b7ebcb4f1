#!/usr/bin/env bash
# Fetches the default datasets into datasets/ (idempotent), from Debian packages downloaded with apt
# and unpacked (nothing is installed):
#  - datasets/skimage/{train,val}: the photographs python3-skimage ships, split by datasets/skimage_split.txt;
#  - datasets/digits/digits.csv: the 1797 8x8 handwritten digits python3-sklearn ships.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# unpack_deb PACKAGE: downloads the .deb once into the cache and unpacks it; prints the folder.
unpack_deb() {
  local pkg="$1" debs="$TESSERA_CACHE/debs" unpacked="$TESSERA_CACHE/deb-$1"
  mkdir -p "$debs"
  if ! ls "$debs/${pkg}"_*.deb >/dev/null 2>&1; then
    log "downloading Debian's $pkg package"
    (cd "$debs" && apt-get download "$pkg" >/dev/null 2>&1) || {
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
      $SUDO apt-get update -qq && (cd "$debs" && apt-get download "$pkg")
    } || die "cannot download $pkg with apt-get"
  fi
  if [ ! -d "$unpacked/usr" ]; then
    rm -rf "$unpacked.tmp"
    dpkg-deb -x "$(ls "$debs/${pkg}"_*.deb | head -n1)" "$unpacked.tmp"
    mv "$unpacked.tmp" "$unpacked"
  fi
  echo "$unpacked"
}

digits="$TESSERA_ROOT/datasets/digits/digits.csv"
if [ ! -s "$digits" ]; then
  csv="$(find "$(unpack_deb python3-sklearn)" -name digits.csv.gz | head -n1)"
  [ -n "$csv" ] || die "no digits.csv.gz in the python3-sklearn package"
  mkdir -p "$(dirname "$digits")"
  gunzip -c "$csv" > "$digits.tmp" && mv "$digits.tmp" "$digits"
  log "datasets/digits: $(wc -l < "$digits") digits"
fi

dest="$TESSERA_ROOT/datasets/skimage"
split="$TESSERA_ROOT/datasets/skimage_split.txt"
stamp="$dest/.complete"
# The stamp names the split and the preparation (v2: PNG colour profiles stripped), so a change of
# either refetches.
want="$(sha256sum < "$split") prep-v2"
skimage_src() { find "$(unpack_deb python3-skimage)" -type d -path '*skimage/data' | head -n1; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "datasets/skimage is up to date"
else
src="$(skimage_src)"
[ -n "$src" ] || die "no skimage/data folder in the python3-skimage package"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/train" "$dest.tmp/val"
while read -r part file; do
  case "$part" in ''|'#'*) continue ;; esac
  [ -f "$src/$file" ] || die "$file (listed in $split) is not in the python3-skimage package"
  cp "$src/$file" "$dest.tmp/$part/$file"
done < "$split"
# Some of skimage's PNGs carry an sRGB ICC profile that libpng calls "known incorrect" on every
# read; the pixels do not depend on it, so the iCCP chunk is dropped (the image data is untouched).
python3 "$TESSERA_ROOT/scripts/strip_png_profiles.py" "$dest.tmp/train" "$dest.tmp/val"
echo "$want" > "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
log "datasets/skimage: $(ls "$dest/train" | wc -l) train, $(ls "$dest/val" | wc -l) val images"
fi

# datasets/style: content photographs (skimage's and sklearn's china.jpg/flower.jpg) and style
# images (skimage's brick, grass and gravel textures, and procedural patterns made here).
style="$TESSERA_ROOT/datasets/style"
style_want="style-v1"
if [ -f "$style/.complete" ] && [ "$(cat "$style/.complete")" = "$style_want" ]; then
  log "datasets/style is up to date"
else
  src="$(skimage_src)"
  sk="$(find "$(unpack_deb python3-sklearn)" -type d -path '*sklearn/datasets/images' | head -n1)"
  [ -n "$src" ] && [ -n "$sk" ] || die "no skimage/data or sklearn/datasets/images folder in the Debian packages"
  rm -rf "$style.tmp"
  mkdir -p "$style.tmp/content" "$style.tmp/styles"
  for f in astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png; do cp "$src/$f" "$style.tmp/content/"; done
  cp "$sk/china.jpg" "$sk/flower.jpg" "$style.tmp/content/"
  for f in brick.png grass.png gravel.png; do cp "$src/$f" "$style.tmp/styles/"; done
  python3 "$TESSERA_ROOT/scripts/strip_png_profiles.py" "$style.tmp/content" "$style.tmp/styles"
  python3 "$TESSERA_ROOT/scripts/make_style_patterns.py" "$style.tmp/styles" 256
  echo "$style_want" > "$style.tmp/.complete"
  rm -rf "$style"
  mv "$style.tmp" "$style"
  log "datasets/style: $(ls "$style/content" | wc -l) content, $(ls "$style/styles" | wc -l) style images"
fi

# datasets/cyclegan: unpaired colour-translation data for the CycleGAN configs and tests
# (scripts/make_cyclegan_data.py: 64 px tiles of photographs, alternately as A and, through a colour
# matrix, as B, never the same tile in both; held-out tiles as aligned testA/testB pairs).
cyc="$TESSERA_ROOT/datasets/cyclegan"
cyc_want="cyclegan-v2"
if [ -f "$cyc/.complete" ] && [ "$(cat "$cyc/.complete")" = "$cyc_want" ]; then
  log "datasets/cyclegan is up to date"
else
  [ -x "$TESSERA_PYTHON" ] || die "datasets/cyclegan needs the venv: run scripts/bootstrap.sh first"
  src="$(skimage_src)"
  sk="$(find "$(unpack_deb python3-sklearn)" -type d -path '*sklearn/datasets/images' | head -n1)"
  [ -n "$src" ] && [ -n "$sk" ] || die "no skimage/data or sklearn/datasets/images folder in the Debian packages"
  rm -rf "$cyc.tmp"
  "$TESSERA_PYTHON" "$TESSERA_ROOT/scripts/make_cyclegan_data.py" "$src" "$sk" "$cyc.tmp"
  echo "$cyc_want" > "$cyc.tmp/.complete"
  rm -rf "$cyc"
  mv "$cyc.tmp" "$cyc"
  log "datasets/cyclegan: $(ls "$cyc/trainA" | wc -l) A, $(ls "$cyc/trainB" | wc -l) B training tiles, $(ls "$cyc/testA" | wc -l) test pairs"
fi
