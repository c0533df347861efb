#!/usr/bin/env bash
# The GPU figures of results/gpu/ (issues 5 and 16), in one call on a machine with one GPU:
#   bash benchmarks/gpu/run.sh cifar10-jpeg.tar.gz OUT_DIR [DIR_WITH_airbench94.py]
# A warm-up (one resnet9 epoch: CUDA start-up, cuDNN autotuning), resnet9's full default run over
# seeds 0 1 2, the host syncs left in a resnet9 epoch, resnet18's epochs 1-2 at batch 32 and 256
# (random weights: same compute as ImageNet's, no download), resnet9 with --compile, and, given
# airbench94.py (github.com/KellerJordan/cifar10-airbench, not part of this project), two airbench94
# runs after its warm-up on the same card and the same decoded images; then one resnet9 epoch at
# each precision (16-mixed, bf16-mixed, 32). About 7 minutes. While the ablation (#39) still misses runs,
# a lent GPU's first call is benchmarks/gpu/ablation.sh: the figures here are measured already.
set -u
TARBALL=$1 OUT=$2 AIRBENCH=${3:-}
export PYTHONUNBUFFERED=1
HERE=$(cd "$(dirname "$0")" && pwd) DATA=$(mktemp -d) LOGS=$(mktemp -d)
cd "$HERE/../.."
mkdir -p "$OUT"
log() { echo "=== $(date +%T) $*"; }
T="python3 train.py --gpus 1 --data-dir $DATA --logdir $LOGS"
{
log prep; tar xzf "$TARBALL" -C "$DATA"
timeout 120 python3 "$HERE/airbench_data.py" "$DATA" "$DATA/airbench/cifar10" | tail -1
log warm-up; timeout 60 $T --model resnet9 --epochs 1 --logdir "$LOGS/warm" | grep "^epoch"
log resnet9 seeds 0 1 2; timeout 150 $T --model resnet9 --seeds 0 1 2 | grep -v "Restoring\|Loaded\|LOCAL_RANK"
for v in 0 1 2; do cp $LOGS/resnet9/version_$v/metrics.json "$OUT/resnet9_seed$v.json"; done
if [ -n "$AIRBENCH" ]; then
  log airbench94; (cd "$DATA/airbench" && timeout 60 python3 "$HERE/airbench_runs.py" "$AIRBENCH" 2 | grep "AIRBENCH\|eval")
fi
log syncs; timeout 60 python3 "$HERE/syncs.py" --model resnet9 --gpus 1 --data-dir "$DATA" --logdir "$LOGS/sync" --epochs 1 | grep -A 8 "^SYNCS\|^--- " | head -40
log resnet18 b32; timeout 90 $T --model resnet18 --weights none --epochs 2 | grep "^epoch\|done"; cp $LOGS/resnet18/version_0/metrics.json "$OUT/resnet18_b32.json"
log resnet18 b256; timeout 60 $T --model resnet18 --weights none --epochs 2 --batch-size 256 | grep "^epoch\|done"; cp $LOGS/resnet18/version_1/metrics.json "$OUT/resnet18_b256.json"
log resnet9 compile; timeout 75 $T --model resnet9 --compile | grep "^epoch\|best\|done"; cp $LOGS/resnet9/version_3/metrics.json "$OUT/resnet9_compile.json"
# One resnet9 epoch per precision (TF32 matmuls under 32, as the GPU path sets them). An H200 runs
# all three natively: this shows each precision's cost on this card, not on a T4 (issue 32).
for prec in 16-mixed bf16-mixed 32; do
  log "resnet9 precision $prec"; timeout 60 $T --model resnet9 --epochs 1 --precision $prec --logdir "$LOGS/prec_$prec" | grep "^device\|^epoch\|done"
  cp $LOGS/prec_$prec/resnet9/version_0/metrics.json "$OUT/resnet9_precision_$prec.json"
done
log probe; timeout 90 python3 "$HERE/probe.py"
log end
} 2>&1 | tee "$OUT/log.txt"
