"""Task 2(e) measured: vgg_bn's defaults against each suggestion of the assignment, over seeds.

    python experiments/ablation.py --data-dir ../cifar10-jpeg        # every row, seeds 0 1 2
    python experiments/ablation.py --data-dir ../cifar10-jpeg --rows full cutout --seeds 0 1 2 3
    python experiments/ablation.py --list                            # the rows, and the runs still missing
    python experiments/ablation.py --table-only                      # results/ablation.md from the records

Each (row, seed) is one full default-length `python train.py --model vgg_bn --seed S <row's flags>`
run, in its own process, into LOGDIR/<row>/. When it finishes, its metrics.json is copied to
RECORDS/<row>_seed<S>.json (default results/ablation/): the records are the study. A (row, seed)
with a record is never run again, so the same command continues the ablation after Ctrl-C, in
another session or on another machine, once the records are committed; a run stopped mid-way in
LOGDIR is resumed from its last checkpoint. Flags it does not know pass through to train.py
(`--gpus 1`, or `--epochs 1 --val-size 20` for a smoke test). At the end it rewrites OUT
(default results/ablation.md) from every record: one row per suggestion (its seeds merged: mean ±
std, n), and the verdict against the defaults (Welch's 95% interval, `studies/verdict.py`).

Why not `tune.py --grid`: a grid runs every combination of its keys; an ablation changes one thing at
a time (and some rows change two keys together: Adam with its own lr, no BatchNorm with a retuned lr).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "vgg_bn"
# (row, the assignment's suggestion it answers, train.py flags). The defaults are SGD + Nesterov at
# lr 0.2, weight decay 5e-4, label smoothing 0.1, warmup + linear decay, crop + flip, BatchNorm,
# four blocks of two 3x3 convs (32-256 wide) with max pooling, global max pool, one linear layer.
ROWS = [
    ("full", "the defaults", []),
    ("kernel_size5", "filter size: 5x5 instead of 3x3", ["--set", "kernel_size=5"]),
    ("width0.5", "number of filters: half (16-128)", ["--set", "width=0.5"]),
    ("stride", "strided convolutions instead of max pooling", ["--set", "downsample=stride"]),
    ("no_batchnorm", "no batch normalization", ["--set", "batchnorm=false"]),
    ("no_batchnorm_lr0.02", "no batch normalization, lr retuned to 0.02", ["--set", "batchnorm=false", "lr=0.02"]),
    ("one_conv", "(conv-relu-pool)xN: one conv per block", ["--set", "convs_per_block=1"]),
    ("three_blocks", "three blocks instead of four", ["--set", "blocks=3"]),
    ("dense2", "(affine)xM after the convs: two hidden layers of 512", ["--set", "dense_layers=2"]),
    ("pre_activation", "(batchnorm-relu-conv)xN", ["--set", "order=bn_relu_conv"]),
    ("no_weight_decay", "no L2 weight decay", ["--set", "weight_decay=0"]),
    ("dropout0.3", "dropout 0.3 before the classifier", ["--set", "dropout=0.3"]),
    ("block_dropout0.1", "dropout 0.1 after every block", ["--set", "block_dropout=0.1"]),
    ("xavier", "Xavier initialization", ["--set", "init=xavier"]),
    ("kaiming", "Kaiming initialization", ["--set", "init=kaiming"]),
    ("adam", "Adam (lr 1e-3) instead of SGD + Nesterov", ["--set", "optimizer=adam", "lr=0.001"]),
    ("adamw", "AdamW (lr 1e-3, decoupled weight decay 0.05)", ["--set", "optimizer=adamw", "lr=0.001", "weight_decay=0.05"]),
    ("no_schedule", "no schedule: a constant lr", ["--set", "schedule=none"]),
    ("onecycle", "one-cycle schedule", ["--set", "schedule=onecycle"]),
    ("cosine", "cosine schedule", ["--set", "schedule=cosine"]),
    ("no_label_smoothing", "no label smoothing", ["--set", "label_smoothing=0"]),
    ("no_augmentation", "no crop and flip", ["--no-augment"]),
    ("cutout16", "Cutout, 16 px", ["--set", "cutout=16"]),
    ("mixup0.2", "MixUp, alpha 0.2", ["--set", "mixup=0.2"]),
    ("cutmix1", "CutMix, alpha 1", ["--set", "cutmix=1"]),
]
NAMES = [name for name, _, _ in ROWS]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Other flags pass through to every train.py run (e.g. --gpus 1).")
    p.add_argument("--data-dir", help="the CIFAR-10 copy (train.py --data-dir); needed to run, not for --list/--table-only")
    p.add_argument("--logdir", default="lightning_logs/ablation", help="run folders, one per row (default %(default)s)")
    p.add_argument("--records", default=str(ROOT / "results" / "ablation"), help="the finished runs' metrics.json copies")
    p.add_argument("--out", default=str(ROOT / "results" / "ablation.md"), help="the table written at the end")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds per row (default 0 1 2)")
    p.add_argument("--rows", nargs="+", choices=NAMES, metavar="ROW", help="only these rows (default all; --list names them)")
    p.add_argument("--list", action="store_true", help="print the rows with their commands and missing runs, and exit")
    p.add_argument("--table-only", action="store_true", help="only rewrite --out from the records")
    args, passthrough = p.parse_known_args(argv)
    if not (args.list or args.table_only or args.data_dir):
        p.error("--data-dir is needed to run the ablation (or give --list or --table-only)")
    return args, passthrough


def record_path(records: Path, row: str, seed: int) -> Path:
    return records / f"{row}_seed{seed}.json"


def unfinished_run(logdir: Path, row: str, seed: int) -> Path | None:
    """A folder of this row and seed that stopped after a finished epoch (it has last.ckpt)."""
    for metrics in sorted((logdir / row / MODEL).glob("version_*/metrics.json")):
        m = json.loads(metrics.read_text())
        if m.get("seed") == seed and m.get("status") != "finished" and (metrics.parent / "checkpoints" / "last.ckpt").exists():
            return metrics.parent
    return None


def finished_run(logdir: Path, row: str, seed: int) -> Path | None:
    for metrics in sorted((logdir / row / MODEL).glob("version_*/metrics.json"), reverse=True):
        m = json.loads(metrics.read_text())
        if m.get("seed") == seed and m.get("status") == "finished":
            return metrics
    return None


def run_one(args, passthrough: list[str], row: str, flags: list[str], seed: int) -> int:
    logdir, records = Path(args.logdir), Path(args.records)
    if finished_run(logdir, row, seed) is None:
        stopped = unfinished_run(logdir, row, seed)
        cmd = ([sys.executable, "train.py", "--resume", str(stopped)] if stopped else
               [sys.executable, "train.py", "--model", MODEL, "--data-dir", args.data_dir, "--logdir", str(logdir / row),
                "--seed", str(seed), *flags, *passthrough])
        print(f"=== {row}, seed {seed}: {' '.join(cmd[1:])}", flush=True)
        rc = subprocess.call(cmd, cwd=ROOT)
        if rc != 0:
            return rc
    records.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(finished_run(logdir, row, seed), record_path(records, row, seed))
    return 0


def main(argv=None) -> int:
    args, passthrough = parse_args(argv)
    records = Path(args.records)
    chosen = [r for r in ROWS if not args.rows or r[0] in args.rows]
    missing = [(row, flags, s) for row, _, flags in chosen for s in args.seeds if not record_path(records, row, s).exists()]
    if args.list:
        for row, what, flags in chosen:
            todo = [s for r, _, s in missing if r == row]
            print(f"{row:20s} {what}: python train.py --model {MODEL} {' '.join(flags)}"
                  + (f"  (missing seeds {' '.join(map(str, todo))})" if todo else "  (done)"))
        print(f"{len(missing)} runs missing of {len(chosen) * len(args.seeds)}")
        return 0
    if not args.table_only:
        for i, (row, flags, seed) in enumerate(missing):
            print(f"[{i + 1}/{len(missing)}]", end=" ")
            rc = run_one(args, passthrough, row, flags, seed)
            if rc != 0:
                print(f"ablation stopped: {row} seed {seed} exited with {rc}; the same command continues it",
                      file=sys.stderr)
                return rc
    from experiments.ablation_table import write

    write(records, Path(args.out), ROWS, MODEL)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
