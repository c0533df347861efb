"""Which of LOGDIR's run folders belong to an ablation's (row, seed), and in what state: finished
(its record is copied), stopped after an epoch (resumed), or being written by a live train.py (left
to it). experiments/ablation.py asks these before it starts a run; `claim` makes "before" safe
against a second ablation on the same LOGDIR."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from core import run_folder
from core.locks import held
from experiments.ablation_rows import MODEL


def record_path(records: Path, row: str, seed: int) -> Path:
    return records / f"{row}_seed{seed}.json"


def _unfinished(logdir: Path, row: str, seed: int) -> list[Path]:
    """The folders of this row and seed whose run has not finished (stopped, or still running)."""
    return [m.parent for m in _records(logdir, row)
            if (r := json.loads(m.read_text())).get("seed") == seed and r.get("status") != "finished"]


def _records(logdir: Path, row: str) -> list[Path]:
    """The row's runs' metrics.json, oldest first (by version number: version_10 after version_9)."""
    return [v / "metrics.json" for v in run_folder.versions(logdir / row, MODEL) if (v / "metrics.json").is_file()]


def unfinished_run(logdir: Path, row: str, seed: int) -> Path | None:
    """A folder of this row and seed that stopped after a finished epoch (it has last.ckpt)."""
    return next((r for r in _unfinished(logdir, row, seed) if (r / "checkpoints" / "last.ckpt").exists()), None)


def running_elsewhere(logdir: Path, row: str, seed: int) -> Path | None:
    """A folder of this row and seed that a live train.py is writing (its lock held): a run started
    by hand, or by an ablation older than `claim`."""
    return next((r for r in _unfinished(logdir, row, seed) if run_folder.busy(r)), None)


def finished_run(logdir: Path, row: str, seed: int) -> Path | None:
    for metrics in reversed(_records(logdir, row)):  # the newest
        m = json.loads(metrics.read_text())
        if m.get("seed") == seed and m.get("status") == "finished":
            return metrics
    return None


@contextlib.contextmanager
def claim(logdir: Path, row: str, seed: int) -> Iterator[bool]:
    """Whether this process has (row, seed) to itself while the block runs: core/locks.py's lock on
    LOGDIR/<row>/.seed<S>.claim, gone with the process (kill -9 included).

    Why not only `running_elsewhere`: a run's folder shows its lock only once train.py has read the
    data and written metrics.json, tens of seconds after it started; two ablations on one LOGDIR
    (a second terminal, one command per GPU) both took a (row, seed) in that gap and ran it twice."""
    path = logdir / row / f".seed{seed}.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    with held(path) as mine:
        yield mine


def changes_of(flags: list[str], passthrough: list[str]) -> dict:
    """What a run of a row's `flags` (and every run's `passthrough`) changes from the defaults, as its
    record's "changes" says it (training/describe.py): how a record is known to be the row's."""
    from lit_modules import get_model_class
    from training.cli import parse_args
    from training.plan import chosen_recipe

    cls = get_model_class(MODEL)
    chosen, _ = chosen_recipe(parse_args(["--model", MODEL, *flags, *passthrough]), cls)
    return json.loads(json.dumps({k: v for k, v in chosen.items() if v != cls.all_defaults()[k]}))


def not_the_rows(record: Path, row: str, wanted: dict) -> str | None:
    """Why the record at `record` is not a run of `row` as `wanted` (changes_of) defines it; None if it is.
    A row redefined since, or runs made with other flags (--epochs 3), must not be tabulated as the row."""
    from core.recipe import settings_text

    had = json.loads(record.read_text()).get("changes")
    if had == wanted:
        return None
    return (f"{record}: its run changed {settings_text(had or {}, 'nothing')}, but row {row} as run now changes "
            f"{settings_text(wanted, 'nothing')}; give the flags it was made with, or another --records (and "
            f"--logdir) for these")
