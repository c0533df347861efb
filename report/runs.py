"""Which runs a report is about. A report is about one data set: the one most runs in the logdir
used, or the one asked for. Within it, each model is represented by its latest experiment (the
settings of its latest finished run) with every seed of that experiment merged, so that two seeds
of vgg_bn make one row, one curve with a band, not two "latest runs". The user can instead name
the runs. Torch-free.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from core.errors import UserError
from report.curves import load_run
from report.tables import dataset, same_setup
from core import run_folder


def finished_runs(logdir: Path) -> list[dict]:
    """Every run with a finished epoch in `logdir`, oldest first per model; broken runs are skipped
    with a warning (one broken run does not spoil the report)."""
    runs, broken = [], []
    for model_dir in sorted(p for p in logdir.iterdir() if p.is_dir()) if logdir.is_dir() else []:
        for run_dir in run_folder.versions(logdir, model_dir.name):
            try:
                if (run_folder.read_record(run_dir) or {}).get("epochs"):
                    runs.append(load_run(run_dir))
            except UserError as e:
                print(f"warning: skipping {run_dir}: {e}", file=sys.stderr)
                broken.append(run_dir / run_folder.RECORD)
    if not runs and broken:
        raise UserError(f"no readable run in {logdir}: {', '.join(map(str, broken))} "
                        f"{'is' if len(broken) == 1 else 'are'} broken (see the warnings above)")
    if not runs:
        raise UserError(f"no runs with a finished epoch in {logdir}; train one first: python train.py --model lenet")
    return runs


def pick_dataset(runs: Sequence[dict], wanted: str | None = None) -> str:
    """`wanted` if some run used it; otherwise the data set most runs used (CIFAR-10 on a tie)."""
    counts = Counter(dataset(m) for m in runs)
    if wanted is not None:
        if wanted not in counts:
            raise UserError(f"--dataset {wanted}: no run here used it; these did: "
                            + ", ".join(f"{d} ({n} runs)" for d, n in counts.most_common()))
        return wanted
    return max(counts, key=lambda d: (counts[d], d == "cifar10", d))


def merge_seeds(runs: Sequence[dict]) -> dict[str, list[dict]]:
    """model -> the runs of its latest experiment, one per seed (the latest run of each seed)."""
    groups: dict[str, list[dict]] = {}
    for m in runs:
        groups.setdefault(m["model"], []).append(m)
    merged = {}
    for model, ms in groups.items():
        setup = same_setup(ms[-1])
        by_seed = {m.get("seed"): m for m in ms if same_setup(m) == setup}  # later runs of a seed win
        merged[model] = sorted(by_seed.values(), key=lambda m: str(m.get("seed")))
    return merged


def select(logdir: Path, wanted: str | None = None, named: Sequence[str] | None = None) -> tuple[str, dict, str, list]:
    """(data set, model -> runs, a line saying what was chosen and what was left out, and every run
    of that data set: the latest experiments' and the others', which the ablation facts compare)."""
    if named:
        runs = [load_run(r) for r in named]
        used = sorted({dataset(m) for m in runs})
        if len(used) > 1:
            raise UserError(f"the runs named with --runs used {len(used)} data sets ({', '.join(used)}); "
                            f"a report is about one: name runs of one data set")
        return used[0], merge_seeds(runs), "Runs named on the command line.", runs
    runs = finished_runs(logdir)
    chosen = pick_dataset(runs, wanted)
    left = Counter(dataset(m) for m in runs if dataset(m) != chosen)
    note = f"Data set: `{chosen}` ({sum(dataset(m) == chosen for m in runs)} runs in the logdir)."
    if left:
        note += " Left out, runs on other data sets: " + ", ".join(
            f"`{d}` ({n}; `--dataset {d}` makes their report)" for d, n in left.most_common()) + "."
    pool = [m for m in runs if dataset(m) == chosen]
    return chosen, merge_seeds(pool), note, pool
