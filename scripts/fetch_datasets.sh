#!/usr/bin/env bash
# Fetches the default datasets into datasets/ (idempotent): the photographs Debian's python3-skimage
# package ships, taken from its .deb (downloaded with apt, unpacked, nothing installed), split by
# datasets/skimage_split.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dest="$TESSERA_ROOT/datasets/skimage"
split="$TESSERA_ROOT/datasets/skimage_split.txt"
stamp="$dest/.complete"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha256sum < "$split")" ]; then
  log "datasets/skimage is up to date"
  exit 0
fi

debs="$TESSERA_CACHE/debs"
mkdir -p "$debs"
if ! ls "$debs"/python3-skimage_*.deb >/dev/null 2>&1; then
  log "downloading Debian's python3-skimage package"
  (cd "$debs" && apt-get download python3-skimage >/dev/null 2>&1) || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && (cd "$debs" && apt-get download python3-skimage)
  }
fi
unpacked="$TESSERA_CACHE/skimage-deb"
if [ ! -d "$unpacked/usr" ]; then
  rm -rf "$unpacked.tmp"
  dpkg-deb -x "$(ls "$debs"/python3-skimage_*.deb | head -n1)" "$unpacked.tmp"
  mv "$unpacked.tmp" "$unpacked"
fi
src="$(find "$unpacked" -type d -path '*skimage/data' | head -n1)"
[ -n "$src" ] || die "no skimage/data folder in the python3-skimage package"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/train" "$dest.tmp/val"
while read -r part file; do
  case "$part" in ''|'#'*) continue ;; esac
  [ -f "$src/$file" ] || die "$file (listed in $split) is not in the python3-skimage package"
  cp "$src/$file" "$dest.tmp/$part/$file"
done < "$split"
sha256sum < "$split" > "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
log "datasets/skimage: $(ls "$dest/train" | wc -l) train, $(ls "$dest/val" | wc -l) val images"
