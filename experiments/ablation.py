"""Task 2(e) measured: vgg_bn's defaults against each suggestion of the assignment, over seeds.

    python experiments/ablation.py --data-dir ../cifar10-jpeg        # every row, seeds 0 1 2
    python experiments/ablation.py --data-dir ../cifar10-jpeg --rows full cutout16 --seeds 0 1 2 3
    python experiments/ablation.py --data-dir ../cifar10-jpeg --parallel 2   # two runs at once, a core each
    python experiments/ablation.py --list                            # the rows, and the runs still missing
    python experiments/ablation.py --table-only                      # results/ablation.md from the records

Each (row, seed) is one full default-length `python train.py --model vgg_bn --seed S <row's flags>`
run, in its own process, into LOGDIR/<row>/. When it finishes, its metrics.json is copied to
RECORDS/<row>_seed<S>.json (default results/ablation/): the records are the study. A (row, seed)
with a record is never run again, so the same command continues the ablation after Ctrl-C, in
another session or on another machine, once the records are committed; a run stopped mid-way in
LOGDIR is resumed from its last checkpoint, and one that a live train.py is writing (another
ablation on the same LOGDIR) is left to it. Flags it does not know pass through to train.py
(`--gpus 1`, or `--epochs 1 --val-size 20` for a smoke test). `--parallel N` runs N at once as
`tune.py --workers N` does, one GPU each or each its share of the cores (benchmarks/tune_workers.py:
two one-thread trials at once on 2 cores, 42 s against 53 s one after the other; short trials, not
measured on full runs), each run's output in LOGDIR/<row>/seed<S>.log. At the end it rewrites OUT
(default results/ablation.md) from every record: a row per suggestion (seeds merged: mean ± std,
n), and the verdict against the defaults (Welch's 95% interval, `studies/verdict.py`), with a figure
of the verdicts beside it (OUT with .png: figures/ablation.py).
The runs themselves: experiments/ablation_runs.py.

Why not `tune.py --grid`: a grid runs every combination of its keys; an ablation changes one thing at
a time (and some rows change two keys together: Adam with its own lr, no BatchNorm with a retuned lr).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.ablation_folders import changes_of, not_the_rows, record_path  # noqa: E402
from experiments.ablation_rows import MODEL, NAMES, ROWS  # noqa: E402
from experiments.ablation_runs import run_missing  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Other flags pass through to every train.py run (e.g. --gpus 1).")
    p.add_argument("--data-dir", help="the CIFAR-10 copy (train.py --data-dir); needed to run, not for --list/--table-only")
    p.add_argument("--logdir", default="lightning_logs/ablation", help="run folders, one per row (default %(default)s)")
    p.add_argument("--records", default=str(ROOT / "results" / "ablation"), help="the finished runs' metrics.json copies")
    p.add_argument("--out", default=str(ROOT / "results" / "ablation.md"), help="the table written at the end")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds per row (default 0 1 2)")
    p.add_argument("--rows", nargs="+", choices=NAMES, metavar="ROW",
                   help="only these rows, run in this order (default all; --list names them)")
    p.add_argument("--list", action="store_true", help="print the rows with their commands and missing runs, and exit")
    p.add_argument("--table-only", action="store_true", help="only rewrite --out from the records")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at once (default 1): one GPU each where there are GPUs, else each its share of the cores; "
                        "their output goes to LOGDIR/<row>/seed<S>.log")
    args, passthrough = p.parse_known_args(argv)
    if not (args.list or args.table_only or args.data_dir):
        p.error("--data-dir is needed to run the ablation (or give --list or --table-only)")
    if args.parallel < 1:
        p.error(f"--parallel {args.parallel}: must be at least 1")
    return args, passthrough


def main(argv=None) -> int:
    args, passthrough = parse_args(argv)
    records = Path(args.records)
    by_name = dict((r[0], r) for r in ROWS)  # --rows in the order given: what a user wants first runs first
    chosen = [by_name[n] for n in dict.fromkeys(args.rows)] if args.rows else ROWS
    wanted = {row: changes_of(flags, passthrough) for row, _, flags in ROWS}
    for row in wanted:  # records of other settings are not this table's: say so before anything runs
        for record in sorted(records.glob(f"{row}_seed*.json")):
            if (why := not_the_rows(record, row, wanted[row])) is not None:
                print(f"ablation.py: error: {why}", file=sys.stderr)
                return 2
    missing = [(row, flags, s) for row, _, flags in chosen for s in args.seeds if not record_path(records, row, s).exists()]
    if args.list:
        for row, what, flags in chosen:
            todo = [s for r, _, s in missing if r == row]
            print(f"{row:20s} {what}: python train.py --model {MODEL} {' '.join(flags)}"
                  + (f"  (missing seeds {' '.join(map(str, todo))})" if todo else "  (done)"))
        print(f"{len(missing)} runs missing of {len(chosen) * len(args.seeds)}")
        return 0
    if not args.table_only:
        rc = run_missing(args, passthrough, missing)
        if rc != 0:
            return rc
    from experiments.ablation_table import write

    write(records, Path(args.out), ROWS, MODEL)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
