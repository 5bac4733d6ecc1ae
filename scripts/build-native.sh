#!/usr/bin/env bash
# Build the addon when its sources changed. Serialised with flock: several shells may build at once.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/sparkts-native-build.lock
flock 9
addon=native/build/Release/sparkts.node
if [ -f "$addon" ] && [ -z "$(find native/src native/generated native/binding.gyp scripts/libtorch.mjs -newer "$addon" | head -1)" ]; then
  exit 0
fi
echo "[setup] building the native addon (a few minutes the first time)" >&2
if [ -f native/build/Makefile ] && [ native/binding.gyp -ot native/build/Makefile ]; then
  make -C native/build -j"$(nproc)" >&2
else
  (cd native && npx node-gyp rebuild -j "$(nproc)" >&2)
fi
touch "$addon"
