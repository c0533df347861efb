"""`tune.py --workers N` on the CPU: each run with its share of the cores (the default since
2026-12-03, studies/workers.py) against each run with every core (torch's own default, what the
runs had before; here forced with OMP_NUM_THREADS), and one worker for reference. Prints a table.

    python benchmarks/tune_workers.py [--trials 4] [--workers 2]

The trials are 2-epoch vgg_bn runs on a made-up 3-class tree of 32x32 images, big enough that the
training, not the start-up, is most of a trial. Run it alone: anything else on the machine skews it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from tune_overhead import tiny_tree  # noqa: E402


def study_seconds(tmp: str, name: str, data: Path, trials: int, workers: int, threads: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads:
        env["OMP_NUM_THREADS"] = threads
    argv = [sys.executable, "tune.py", "--model", "vgg_bn", "--gpus", "0", "--epochs", "2", "--batch-size", "64",
            "--val-size", "60", "--dataset", "folder", "--data-dir", str(data), "--logdir", f"{tmp}/{name}",
            "--search", "lr=0.01:0.1:log", "--trials", str(trials), "--workers", str(workers), "--prune", "none"]
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    cores = os.cpu_count() or 1
    share = max(1, cores // args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        data = tiny_tree(Path(tmp) / "data", n_train=1500, n_test=300)
        rows = [(f"1 worker, {cores} threads a run", study_seconds(tmp, "one", data, args.trials, 1, None)),
                (f"{args.workers} workers, {cores} threads a run (before)",
                 study_seconds(tmp, "all", data, args.trials, args.workers, str(cores))),
                (f"{args.workers} workers, {share} thread(s) a run (now)",
                 study_seconds(tmp, "share", data, args.trials, args.workers, None))]
    print(f"| {args.trials} two-epoch vgg_bn trials, {cores} CPU cores | seconds | trials a minute |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {60 * args.trials / seconds:.2f} |")


if __name__ == "__main__":
    main()
