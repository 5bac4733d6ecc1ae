#!/usr/bin/env bash
# Installs the demo dataset: 27 real photographs, from two Debian packages, into .data/demo/.
#
#   bash scripts/fetch-demo-data.sh            # idempotent: does nothing when .data/demo is complete
#   bash scripts/fetch-demo-data.sh --force    # rebuild it
#
# Sources (downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into .data/demo-src,
# so nothing is installed system-wide; only `apt-get update` needs root, when the package lists are missing):
#  - python3-skimage (scikit-image's sample data, skimage/data/): astronaut, rocket, hubble_deep_field
#    (NASA/SpaceX, public domain), camera, chelsea, coffee, retina, brick, grass, gravel (CC0),
#    coins, ihc, text (no known copyright restrictions / public domain); licences as stated in
#    scikit-image's skimage/data/_fetchers.py.
#  - lomiri-wallpapers-16.04 (Ubuntu Touch community wallpaper photographs, usr/share/backgrounds/*.jpg):
#    CC-BY-4.0, CC-BY-SA-4.0 or CC0-1.0 per photo, photographers named in the file names; see the
#    package's /usr/share/doc/lomiri-wallpapers-16.04/copyright (copied to .data/demo/SOURCES.txt).
# Photos are re-encoded as JPEG with the shorter side at most 512 px, so that decoding is quick.
# Elsewhere than Debian/Ubuntu: pass --data_path <folder of images> to the spark command instead.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$REPO/.data"
OUT="$DATA/demo"
SRC="$DATA/demo-src"
STAMP_VERSION="demo-v2"
PACKAGES=(python3-skimage lomiri-wallpapers-16.04)
SKIMAGE_FILES=(astronaut.png brick.png camera.png chelsea.png coffee.png coins.png grass.png gravel.png ihc.png text.png hubble_deep_field.jpg retina.jpg rocket.jpg)

force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "fetch-demo-data: unknown option $a (use --force to rebuild)" >&2; exit 2 ;;
  esac
done

if [[ $force == 0 && -f "$OUT/.complete" && "$(cat "$OUT/.complete")" == "$STAMP_VERSION" ]]; then
  echo "demo dataset already in $OUT ($(ls "$OUT" | grep -ci '\.jpg$') photos)"
  exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "fetch-demo-data: needs Debian/Ubuntu (apt-get, dpkg-deb) to fetch the demo photos; elsewhere pass --data_path <folder of images>" >&2
  exit 1
fi
if ! (cd "$REPO" && node --input-type=module -e "await import('sharp')" >/dev/null 2>&1); then
  echo "fetch-demo-data: the npm package sharp is missing: run \`npm install\` in $REPO first" >&2
  exit 1
fi

mkdir -p "$SRC"
fetch() { # $1 = package; downloads its .deb into $SRC unless there already
  local pkg="$1"
  if compgen -G "$SRC/${pkg}_*.deb" >/dev/null; then return 0; fi
  (cd "$SRC" && apt-get download "$pkg" >/dev/null 2>&1)
}
got=()
for pkg in "${PACKAGES[@]}"; do
  if ! fetch "$pkg"; then
    if [[ $(id -u) == 0 ]]; then
      apt-get update >/dev/null 2>&1 || true
      fetch "$pkg" || { echo "fetch-demo-data: apt-get download $pkg failed; skipping it" >&2; continue; }
    else
      echo "fetch-demo-data: apt-get download $pkg failed; run \`sudo apt-get update\` and retry (or pass --data_path <folder of images>)" >&2
      continue
    fi
  fi
  rm -rf "${SRC:?}/$pkg"
  dpkg-deb -x "$(ls "$SRC/${pkg}"_*.deb | head -n1)" "$SRC/$pkg"
  got+=("$pkg")
done

# The list of photos to take: "<source file>\t<name in .data/demo>"
list="$SRC/list.tsv"
: > "$list"
for f in "${SKIMAGE_FILES[@]}"; do
  p="$SRC/python3-skimage/usr/lib/python3/dist-packages/skimage/data/$f"
  [[ -f "$p" ]] && printf '%s\tskimage-%s.jpg\n' "$p" "${f%.*}" >> "$list"
done
for p in "$SRC"/lomiri-wallpapers-16.04/usr/share/backgrounds/*.jpg; do
  [[ "$(basename "$p")" == umang_* ]] && continue # a digital gradient, not a photograph
  [[ -f "$p" ]] && printf '%s\tlomiri-%s.jpg\n' "$p" "$(basename "${p%.*}")" >> "$list"
done
n=$(wc -l < "$list")
if (( n < 8 )); then
  echo "fetch-demo-data: found only $n photos in packages ${got[*]:-none} (need at least 8); pass --data_path <folder of images> instead" >&2
  exit 1
fi

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
(cd "$REPO" && LIST="$list" DEST="$OUT.tmp" node --input-type=module - <<'JS'
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
const MAX_SHORT = 512;
const rows = fs.readFileSync(process.env.LIST, 'utf8').trim().split('\n').map((l) => l.split('\t'));
for (const [src, name] of rows) {
  const meta = await sharp(src).metadata();
  const short = Math.min(meta.width, meta.height);
  let img = sharp(src).removeAlpha();
  if (short > MAX_SHORT) {
    const k = MAX_SHORT / short;
    img = img.resize(Math.round(meta.width * k), Math.round(meta.height * k), { kernel: 'lanczos3' });
  }
  await img.jpeg({ quality: 92 }).toFile(path.join(process.env.DEST, name));
}
JS
)
{
  echo "Demo photos made by scripts/fetch-demo-data.sh from Debian packages: ${got[*]}"
  echo "scikit-image sample data (skimage-*.jpg): public domain or CC0, see skimage/data/_fetchers.py in python3-skimage."
  echo "Ubuntu Touch wallpapers (lomiri-*.jpg): photographer in the file name; licence per file below."
  echo
  cp_file="$SRC/lomiri-wallpapers-16.04/usr/share/doc/lomiri-wallpapers-16.04/copyright"
  [[ -f "$cp_file" ]] && cat "$cp_file"
} > "$OUT.tmp/SOURCES.txt"
echo "$STAMP_VERSION" > "$OUT.tmp/.complete"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "demo dataset ready: $n photos in $OUT"
