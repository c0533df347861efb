#!/usr/bin/env bash
# Task 2(e)'s ablation (#39) on a lent GPU, in one call: as many of the missing (row, seed) runs as
# SECONDS allow, PARALLEL at a time on the one GPU (unmeasured: one small vgg_bn run should leave much
# of a large GPU idle; the log's minutes per run say how it went), then
# every record finished here packed into one file to bring back (the device tool returns 8 files):
#   bash benchmarks/gpu/ablation.sh cifar10-jpeg.tar.gz OUT_DIR [SECONDS=420] [PARALLEL=4] [ablation.py flags...]
# The device tool sends the repository only: first `mkdir -p gpu_in && cp ../shared/data/cifar10-jpeg.tar.gz gpu_in/
# && echo /gpu_in/ >> .git/info/exclude`, then run with carry ["gpu_in"], timeout_s 540:
#   bash benchmarks/gpu/ablation.sh gpu_in/cifar10-jpeg.tar.gz $OUT 420 4
# Back here: tar xzf OUT_DIR/ablation_records.tgz -C results/ablation, then
# `python experiments/ablation.py --table-only`, and commit the records. Runs left unfinished at the
# deadline are lost with the machine; the next call starts them again (records decide what is missing).
# On the CPU, as a smoke test (a seed and a records folder of its own: a 1-epoch record is refused beside the
# committed full-length ones, and before that check this line found every seed of `full` done and ran nothing):
#   bash benchmarks/gpu/ablation.sh TARBALL /tmp/out 60 2 --gpus 0 --epochs 1 --rows full --seeds 9 --records /tmp/smoke
set -u
TARBALL=$1 OUT=$2 SECONDS_LEFT=${3:-420} PARALLEL=${4:-4}
shift $(( $# < 4 ? $# : 4 ))
export PYTHONUNBUFFERED=1
HERE=$(cd "$(dirname "$0")" && pwd) DATA=$(mktemp -d) LOGS=$(mktemp -d) RECORDS=$(mktemp -d)
trap 'rm -rf "$DATA" "$LOGS" "$RECORDS"' EXIT
cd "$HERE/../.."
mkdir -p "$OUT"
GPUS=(--gpus 1)
case " $* " in *" --gpus "*) GPUS=() ;; esac
{
echo "=== $(date +%T) prep"; tar xzf "$TARBALL" -C "$DATA"
cp results/ablation/*.json "$RECORDS"/
python3 experiments/ablation.py --list --records "$RECORDS" | tail -1
echo "=== $(date +%T) ablation, $PARALLEL at a time, for at most $SECONDS_LEFT s"
# timeout signals its whole process group, as Ctrl-C would: every run stops, ablation.py waits, says so.
timeout -s INT -k 30 "$SECONDS_LEFT" python3 experiments/ablation.py --data-dir "$DATA" \
  --logdir "$LOGS" --records "$RECORDS" --out "$OUT/ablation.md" --parallel "$PARALLEL" "${GPUS[@]}" "$@"
rc=$?
echo "=== $(date +%T) ablation.py's exit code: $rc (124: the deadline)"
NEW=$(cd "$RECORDS" && for f in *.json; do [ -e "$OLDPWD/results/ablation/$f" ] || echo "$f"; done)
echo "new records: $(echo $NEW | wc -w): $NEW"
[ -n "$NEW" ] && tar czf "$OUT/ablation_records.tgz" -C "$RECORDS" $NEW
tail -n 5 "$LOGS"/*/seed*.log 2>/dev/null | grep -i "error" | head -5
echo "=== $(date +%T) end"
} 2>&1 | tee "$OUT/ablation_log.txt"
