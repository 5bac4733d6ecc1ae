#!/usr/bin/env bash
# The transfer experiment (docs/transfer.md): does SparK pretraining help a small CNN learn from few labels?
#
#   bash scripts/transfer-experiment.sh            # everything, ~1 h on 2 cores; writes docs/transfer.{md,png}
#
# 1. Fashion-MNIST from Debian's dataset-fashion-mnist as image folders (scripts/fetch-fashion-mnist.sh);
#    for each label budget K (per class) and seed S the labelled subset k<K>_s<S> drawn under seed S.
# 2. `spark pretrain --model resnet8` on the 60,000 training images, labels unused.
# 3. For each seed S and budget K: `spark finetune` from random init ("scratch") and from the pretrained
#    encoder ("pretrained"), the same recipe (resnet8's registry defaults; 10/class runs get 10× the
#    epochs so that both budgets take the same ~300 steps), the same labelled images, the same seed.
# 4. `spark eval` of each run's last checkpoint on the official 10,000 test images.
# 5. scripts/transfer-report.mjs: docs/transfer.md (table, commands, wall times, machine) and docs/transfer.png.
#
# The in-training evaluations of `spark finetune` use a 100-image monitor set (10 per class, from the
# test set) so that they stay cheap; the reported accuracy is step 4's, of the last checkpoint (no
# selection on the test set). Sizes can be changed for a quicker or longer run:
#   SEEDS="0 1 2" BUDGETS="10 100" PT_IMAGES=10240 PT_EP=1 PT_BS=32 PT_BASE_LR=0.04 DECODER_WIDTH=32 FT_EP_10=80 FT_EP_100=10
#   THREADS=2 OUT=exp/transfer
# The defaults fit about an hour on a 2-core machine shared with other jobs (docs/transfer.md says what
# that costs); on a free machine use PT_IMAGES=60000 and more epochs.
# An existing finished step (its result file present) is kept, so an interrupted run continues.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SEEDS=${SEEDS:-"0 1 2"}
BUDGETS=${BUDGETS:-"10 100"}
PT_IMAGES=${PT_IMAGES:-10240}            # pretraining images: the first N of the 60k (all 60000: the whole set)
PT_EP=${PT_EP:-1}
PT_BS=${PT_BS:-32}
PT_BASE_LR=${PT_BASE_LR:-0.04}
PT_WP_EP=${PT_WP_EP:-0.1}
DECODER_WIDTH=${DECODER_WIDTH:-32}
FT_STEPS_EPOCHS_100=${FT_EP_100:-10}     # 1000 images / bs 32 = 32 steps per epoch (the last one short)
FT_STEPS_EPOCHS_10=${FT_EP_10:-80}       # 100 images / bs 32 = 4 steps per epoch (the last one short)
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
OUT=${OUT:-exp/transfer}
MODEL=resnet8
SIZE=32
DATA=.data/fashion-mnist
SPARK="node dist/src/cli/main.js"

mkdir -p "$OUT"
TIMES="$OUT/times.tsv"
touch "$TIMES"
now() { date +%s.%N; }
# run NAME CMD...: run a step, log its output to $OUT/logs/NAME.log, record its wall time in times.tsv
run() {
  local name=$1; shift
  mkdir -p "$OUT/logs"
  echo "[$(date -u +%H:%M:%S)] $name: $*"
  local t0; t0=$(now)
  "$@" > "$OUT/logs/$name.log" 2>&1 || { echo "transfer-experiment: step $name failed; see $OUT/logs/$name.log" >&2; tail -5 "$OUT/logs/$name.log" >&2; exit 1; }
  local t1; t1=$(now)
  printf '%s\t%.1f\t%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$*" >> "$TIMES"
}

[[ -f dist/src/cli/main.js ]] || npx tsc -p tsconfig.json
{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cores=$(nproc)"
  echo "threads=$THREADS"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src scripts 2>/dev/null || echo ' (with uncommitted changes)')"
} > "$OUT/machine.txt"

# 1. data
bash scripts/fetch-fashion-mnist.sh
for K in $BUDGETS; do for S in $SEEDS; do bash scripts/fetch-fashion-mnist.sh --per_class "$K" --seed "$S" >/dev/null; done; done
# the monitor set: the first 10 test images of each class
MON="$OUT/data/monitor"
if [[ ! -f "$MON/.complete" ]]; then
  rm -rf "$MON"
  for c in "$DATA"/full/val/*/; do
    c=$(basename "$c"); mkdir -p "$MON/$c"
    for f in $(ls "$DATA/full/val/$c" | sort | head -n 10); do ln -s "$REPO/$DATA/full/val/$c/$f" "$MON/$c/$f"; done
  done
  touch "$MON/.complete"
fi

# 2. pretraining (labels unused: SparK reads the images of full/train, or the first PT_IMAGES of them)
PT_DATA="$DATA/full"
if (( PT_IMAGES < 60000 )); then
  PT_DATA="$OUT/data/pretrain_first$PT_IMAGES"
  if [[ ! -f "$PT_DATA/.complete" ]]; then
    rm -rf "$PT_DATA"; mkdir -p "$PT_DATA/train"
    # file names are the images' positions in the IDX file: take positions 0 .. PT_IMAGES-1
    (cd "$PT_DATA/train" && for f in "$REPO/$DATA"/full/train/*/*.png; do
      b=${f##*/}; if (( 10#${b%.png} < PT_IMAGES )); then echo "$f"; fi
    done | xargs ln -s -t .)
    touch "$PT_DATA/.complete"
  fi
fi
PT="$OUT/pretrain"
PT_CKPT="$PT/${MODEL}_withdecoder_1kpretrained_spark_style.pth"
if ! grep -q '^pretrain	' "$TIMES"; then
  run pretrain $SPARK pretrain --model $MODEL --data_path "$PT_DATA" --exp_dir "$PT" --input_size $SIZE \
    --bs "$PT_BS" --base_lr "$PT_BASE_LR" --ep "$PT_EP" --wp_ep "$PT_WP_EP" --decoder_width "$DECODER_WIDTH" \
    --seed 0 --threads "$THREADS" --workers "$WORKERS" --vis_every 1
fi

# 3 + 4. fine-tuning and test evaluation, seed by seed (so that a cut-short run has whole seeds)
for S in $SEEDS; do
  for K in $BUDGETS; do
    D="$OUT/data/k${K}_s${S}"
    if [[ ! -e "$D/train" ]]; then
      mkdir -p "$D"; ln -s "$REPO/$DATA/k${K}_s${S}/train" "$D/train"; ln -s "$REPO/$MON" "$D/val"
    fi
    EP_VAR="FT_STEPS_EPOCHS_$K"; EP=${!EP_VAR:-}
    for INIT in scratch pretrained; do
      R="$OUT/runs/k${K}_s${S}_$INIT"
      [[ -f "$R/test.json" ]] && continue
      W=(); [[ $INIT == pretrained ]] && W=(--resume_from "$PT_CKPT")
      E=(); [[ -n "$EP" ]] && E=(--ep "$EP" --wp_ep "$(( EP / 10 ))")
      run "ft_k${K}_s${S}_$INIT" $SPARK finetune --model $MODEL --data_path "$D" --exp_dir "$R" --img_size $SIZE \
        "${E[@]}" "${W[@]}" --seed "$S" --threads "$THREADS" --workers "$WORKERS"
      run "eval_k${K}_s${S}_$INIT" bash -c "$SPARK eval --ckpt '$R/${MODEL}_1kfinetuned_last.pth' --data_path '$DATA/full' --img_size $SIZE --json --threads $THREADS --workers $WORKERS > '$R/test.json.tmp' && mv '$R/test.json.tmp' '$R/test.json'"
    done
  done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

# 5. the report
node scripts/transfer-report.mjs --out "$OUT" --doc docs/transfer.md --png docs/transfer.png
