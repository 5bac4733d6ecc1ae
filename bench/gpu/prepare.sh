#!/usr/bin/env bash
# Prepare the device-machine check (the GPU machine has CUDA PyTorch 2.x but no Node.js and no network):
# .device/ (git-ignored via .git/info/exclude) gets a compressed node binary, the N-API headers and a
# golden fixture. Then, through the session's device tool:
#   run  command: bash bench/gpu/run.sh   carry: ["dist", ".device"]
# run.sh builds the addon against the machine's PyTorch (LIBTORCH_USE_PYTORCH=1) with plain g++ and runs
# gpu_check.mjs (ops vs CPU, autograd + custom kernels on CUDA, golden verify on cuda, conv/matmul GFLOP/s,
# a SparK ResNet-50 step, checkpoint round trip), gpu_ref.py (the same GFLOP/s in Python torch) and
# tb_check.py (TensorBoard's own reader on our event file).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device/napi
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
cp /usr/include/node/{js_native_api.h,js_native_api_types.h,node_api.h,node_api_types.h,node_version.h} .device/napi/
cp node_modules/node-addon-api/*.h .device/napi/
xz -T2 -3 -c "$(command -v node)" > .device/node.xz
cp "${SPARKTS_SHARED:-../shared}/golden/resnet_basic_96.safetensors" .device/
npx tsc -p tsconfig.json
du -sh .device dist
