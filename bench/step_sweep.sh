#!/usr/bin/env bash
# How the SparK step's cost grows: spark_step.bench.js (ours beside the reference) at input 128/224/320
# (batch 8), batch 4/8/16 (input 224), and 1 thread (224, batch 8); one round each, 1 warm-up + 2 timed
# iterations. Needs REF (and PYTHONPATH for timm) as spark_step.bench.js does.
#   REF=/work/ref PYTHONPATH=/work/ref/timm054 bash bench/step_sweep.sh [model] > sweep.txt
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet50}
run() { node dist/bench/spark_step.bench.js --models "$model" --rounds 1 --iters 2 --warmup 1 "$@" | grep -E 'sparkts  |reference |speed-up' | sed "s/^/[$*] /"; }
for size in 128 224 320; do run --size "$size" --bs 8 --threads 2; done
for bs in 4 16; do run --size 224 --bs "$bs" --threads 2; done
run --size 224 --bs 8 --threads 1
