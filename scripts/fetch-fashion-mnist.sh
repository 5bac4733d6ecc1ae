#!/usr/bin/env bash
# Fashion-MNIST (Zalando, MIT licence; 10 classes of 28×28 greyscale product photos, 60k train / 10k test)
# as image folders under .data/fashion-mnist/, for the transfer experiment (docs/): SparK-pretrain on the
# 60k training images without labels, fine-tune with a small label budget, evaluate on the official 10k.
#
#   bash scripts/fetch-fashion-mnist.sh                          # .data/fashion-mnist/full/{train,val}
#   bash scripts/fetch-fashion-mnist.sh --per_class 10 --seed 0  # + .data/fashion-mnist/k10_s0/{train,val}
#   bash scripts/fetch-fashion-mnist.sh --force                  # rebuild
#
# Source: Debian's dataset-fashion-mnist (the IDX files in /usr/share/datasets/fashion-mnist). When it is
# not installed: installed with apt-get as root, otherwise downloaded with `apt-get download` and unpacked
# into .data/fashion-mnist-src (nothing installed system-wide). FASHION_MNIST_SRC=<dir with the IDX files>
# overrides the source. Conversion and layout: scripts/fashion-mnist.mjs. Idempotent: complete folders
# are kept.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/.data/fashion-mnist"
PKG=dataset-fashion-mnist
SYS="/usr/share/datasets/fashion-mnist"
LOCAL="$REPO/.data/fashion-mnist-src"

args=()
while (($#)); do
  case "$1" in
    --per_class|--per-class|--seed) [[ $# -ge 2 ]] || { echo "fetch-fashion-mnist: $1 needs a value" >&2; exit 2; }; args+=("$1" "$2"); shift 2 ;;
    --per_class=*|--per-class=*|--seed=*|--force) args+=("$1"); shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fetch-fashion-mnist: unknown option $1 (use --per_class K, --seed S, --force)" >&2; exit 2 ;;
  esac
done

has_idx() { [[ -f "$1/train-images-idx3-ubyte.gz" || -f "$1/train-images-idx3-ubyte" ]]; }

src="${FASHION_MNIST_SRC:-}"
if [[ -z "$src" ]]; then
  if has_idx "$SYS"; then
    src="$SYS"
  elif has_idx "$LOCAL/usr/share/datasets/fashion-mnist"; then
    src="$LOCAL/usr/share/datasets/fashion-mnist"
  elif ! command -v apt-get >/dev/null; then
    echo "fetch-fashion-mnist: needs Debian/Ubuntu's $PKG (apt-get); elsewhere download the four *-ubyte.gz files of Fashion-MNIST and set FASHION_MNIST_SRC=<their folder>" >&2
    exit 1
  elif [[ $(id -u) == 0 ]]; then
    echo "installing $PKG with apt-get (31 MB)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$PKG" >/dev/null; then
      apt-get update -qq >/dev/null || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$PKG" >/dev/null
    fi
    src="$SYS"
  else
    mkdir -p "$LOCAL"
    if ! (cd "$LOCAL" && apt-get download "$PKG" >/dev/null 2>&1); then
      echo "fetch-fashion-mnist: apt-get download $PKG failed; run \`sudo apt-get update\` (or \`sudo apt-get install $PKG\`) and retry" >&2
      exit 1
    fi
    dpkg-deb -x "$(ls "$LOCAL/${PKG}"_*.deb | head -n1)" "$LOCAL"
    src="$LOCAL/usr/share/datasets/fashion-mnist"
  fi
fi
has_idx "$src" || { echo "fetch-fashion-mnist: no Fashion-MNIST IDX files in $src" >&2; exit 1; }

if [[ ! -f "$REPO/dist/src/data/idx.js" ]]; then
  echo "fetch-fashion-mnist: building the TypeScript sources first (npm run build:ts)"
  (cd "$REPO" && npx tsc -p tsconfig.json)
fi
exec node "$REPO/scripts/fashion-mnist.mjs" --src "$src" --out "$OUT" ${args[@]+"${args[@]}"}
