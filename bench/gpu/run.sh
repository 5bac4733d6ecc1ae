#!/usr/bin/env bash
# One device check: build the addon against the machine's CUDA PyTorch (libtorch 2.x), then run gpu_check.
set -u
cd "$(dirname "$0")/../.."
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
nvidia-smi -L
python3 -c "import torch;print('python torch', torch.__version__, torch.cuda.is_available(), torch.version.cuda)"
xz -d < .device/node.xz > /tmp/node && chmod +x /tmp/node && /tmp/node --version
export LIBTORCH_USE_PYTORCH=1 PATH=/tmp:$PATH
ln -sf /tmp/node /tmp/nodejs
/tmp/node scripts/libtorch.mjs --json | head -30
INC=$(/tmp/node scripts/libtorch.mjs --include-dirs); LINK=$(/tmp/node scripts/libtorch.mjs --link-flags); DEF=$(/tmp/node scripts/libtorch.mjs --defines)
mkdir -p native/build/Release /tmp/obj
STD=${STD:-c++17}
build() {
  local std=$1; rm -f /tmp/obj/*.o
  for f in native/src/glue.cc native/src/core.cc native/src/custom_ops.cc native/generated/ops.cc; do
    g++ -std=$std -O2 -fPIC -fexceptions -frtti -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -D$DEF -Wno-deprecated-declarations \
      -I.device/napi $(for d in $INC; do echo -I$d; done) -c $f -o /tmp/obj/$(basename $f .cc).o 2> /tmp/obj/$(basename $f .cc).err &
  done
  wait
  local ok=0
  for e in /tmp/obj/*.err; do if grep -q "error" $e; then ok=1; echo "== $e"; grep -m 12 "error" $e; fi; done
  return $ok
}
log "compile with -std=c++17"
if ! build c++17; then log "retry with -std=c++20"; build c++20 || { log "BUILD FAILED"; exit 1; }; fi
g++ -shared -o native/build/Release/sparkts.node /tmp/obj/*.o $LINK || { log "LINK FAILED"; exit 1; }
log "built"
/tmp/node bench/gpu/gpu_check.mjs 2>&1 | tee $OUT/gpu_check.txt
log "gpu_check done"
python3 bench/gpu/gpu_ref.py 2>&1 | tee $OUT/gpu_ref.txt
python3 bench/gpu/tb_check.py 2>&1 | tee $OUT/tb_check.txt
log "all done"
