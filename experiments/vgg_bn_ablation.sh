#!/usr/bin/env bash
# vgg_bn's ablation (results/ablation.md): the full recipe, then each of its improvements removed
# one at a time, full 10-epoch runs, one after another (run it alone: the rows share the machine).
#
#   experiments/vgg_bn_ablation.sh DATA_DIR [LOGDIR]      # LOGDIR default: lightning_logs/ablation
#   SEEDS="0 1 2" experiments/vgg_bn_ablation.sh ...       # seeds per row (default 0; the full
#                                                           # recipe always gets at least seeds 0 1)
#   EXTRA="--epochs 1 --val-size 20" experiments/vgg_bn_ablation.sh ...   # appended to every row
# No "no TTA" row: TTA only changes the final scoring, so the full recipe's own runs measure it, on
# the same weights: their last epoch's per-epoch test pass has no TTA (results/ablation.md).
# Each row trains into LOGDIR/<row>/; a row whose folder holds a finished run is skipped, so an
# interrupted ablation continues where it stopped. The table at the end is `visualize.py table`.
# Why not one `tune.py --grid` command: an ablation removes one improvement at a time from the full
# recipe (7 rows), while a grid runs every combination of its keys (2^6 = 64 here), and two rows
# change two keys together (adam with its own lr; no BatchNorm with a retuned lr). One key's values
# are a grid, e.g. `python tune.py --model vgg_bn --grid schedule --seeds 0 1`; the verdict column
# of `visualize.py table` then says whether a row's difference is more than seed noise.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: experiments/vgg_bn_ablation.sh DATA_DIR [LOGDIR]}
logdir=${2:-lightning_logs/ablation}
seeds=${SEEDS:-0}
read -ra list <<< "$seeds"
full_seeds=$seeds
(( ${#list[@]} > 1 )) || full_seeds="$seeds $((seeds + 1))"  # the seed spread needs two runs at least
rows=(
  "full|--seeds $full_seeds"
  "no_batchnorm|--set batchnorm=false"
  "no_augmentation|--no-augment"
  "no_label_smoothing|--set label_smoothing=0"
  "no_schedule|--set schedule=none"
  "no_weight_decay|--set weight_decay=0"
  "adam|--set optimizer=adam lr=0.001"
  "no_batchnorm_lr0.02|--set batchnorm=false lr=0.02"  # not one removal: no BatchNorm, lr retuned
)
for row in "${rows[@]}"; do
  name=${row%%|*}
  read -ra extra <<< "${row#*|}"
  [[ " ${extra[*]} " == *" --seeds "* ]] || extra+=(--seeds $seeds)
  wanted=$(( ${#extra[@]} - $(printf '%s\n' "${extra[@]}" | grep -n -- '--seeds' | cut -d: -f1) ))
  done_runs=$(grep -ls '"status": "finished"' "$logdir/$name"/vgg_bn/version_*/metrics.json | wc -l || true)
  if (( done_runs >= wanted )); then
    echo "skipping $name: finished in $logdir/$name"
    continue
  fi
  echo "=== $name: python train.py --model vgg_bn ${extra[*]}"
  read -ra more <<< "${EXTRA:-}"
  python train.py --model vgg_bn --data-dir "$data" --logdir "$logdir/$name" "${extra[@]}" "${more[@]}"
done
shopt -s nullglob  # rows not run yet have no folders
names=()
for row in "${rows[@]}"; do names+=("$logdir/${row%%|*}"/vgg_bn/version_*); done
python visualize.py table "${names[@]}"  # in the order of the rows above
