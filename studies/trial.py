"""One seed of a study's run, from tune.py's side: `python train.py ...` as a child process, told
in the environment (`ENV`) which trial it is a seed of (callbacks/optuna_trial.py is the child's
side), and what it left: its run folder, its record, its state. A trial's seeds and `--confirm`'s
fresh-seed runs both go through `run_seed`; a confirm run belongs to no trial.

The child names its run folder in a hand-off file (`handoff` in the spec) as soon as it has one,
so the parent never guesses it from the logdir's listing.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core import run_folder
from core.errors import UserError
from studies.launch import gone, start_train

ENV = "CIFAR_LIGHTNING_TRIAL"  # {"seed", "handoff", and for a trial: "storage", "study", "trial_id", "number", "prune", "report"}


def trial_spec(trial, storage_url: str, prune: str, report: bool) -> dict[str, Any]:
    """What a trial's run needs to find its trial in the study."""
    return {"storage": storage_url, "study": trial.study.study_name, "trial_id": trial._trial_id,
            "number": trial.number, "prune": prune, "report": report}


def run_seed(argv: list[str], seed: int, spec: dict[str, Any] | None = None,
             env: dict[str, str] | None = None) -> tuple[int, dict | None, Path | None]:
    """`python train.py ARGV --seed SEED` -> (exit code, its metrics.json, its run folder). `spec`:
    the trial it is a seed of (trial_spec), None for a run of no trial; `env`: added to its
    environment. Ctrl-C reaches the child too (one process group), and a KeyboardInterrupt here (a signal to this process alone) is passed on as
    SIGTERM; this waits for it to stop cleanly before the KeyboardInterrupt goes on."""
    _sweep_handoffs()
    fd, handoff = tempfile.mkstemp(prefix=f"{HANDOFF_PREFIX}{os.getpid()}-", suffix=".txt")
    os.close(fd)
    env = dict(os.environ, **(env or {}), **{ENV: json.dumps({**(spec or {}), "seed": seed, "handoff": handoff})})
    try:
        child = start_train([*argv, "--seed", str(seed)], env)  # studies/launch.py: how, and why not Popen
        try:
            code = child.wait()
        except KeyboardInterrupt:  # Ctrl-C to the group, or a signal to this process alone: the child stops too
            child.terminate()  # SIGTERM: it stops after its batch, keeping its last finished epoch
            child.wait()
            mark(_handed_off(handoff), "failed (stopped)")
            raise
        run_dir = _handed_off(handoff)
    finally:
        Path(handoff).unlink(missing_ok=True)
    try:
        data = run_folder.read_record(run_dir) if run_dir else None
    except UserError:  # a record broken by a killed run: the run failed
        data = None
    return code, data, run_dir


HANDOFF_PREFIX = "run_dir_"  # a hand-off file: <tmp>/run_dir_<tune.py's pid>-<random>.txt


def _sweep_handoffs() -> None:
    """Removes the hand-off files of tune.py commands that are gone: a command killed with -9 could not
    remove its own (two per kill, forever, in a shared /tmp)."""
    for path in Path(tempfile.gettempdir()).glob(f"{HANDOFF_PREFIX}*-*.txt"):
        pid = path.name[len(HANDOFF_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and gone(int(pid)):
            path.unlink(missing_ok=True)


def _handed_off(handoff: str) -> Path | None:
    text = Path(handoff).read_text().strip() if Path(handoff).is_file() else ""
    return Path(text) if text else None


def tell_parent(spec: dict[str, Any], run_dir: Path) -> None:
    """In the child: its run folder, into the hand-off file the parent named."""
    if spec.get("handoff"):
        Path(spec["handoff"]).write_text(str(run_dir))


def mark(run_dir: Path | None, state: str) -> None:
    """The trial's end, where the run could not say it (a failure, a stop): into its metrics.json."""
    try:
        data = run_folder.read_record(run_dir) if run_dir else None
    except UserError:
        return
    if data and data.get("study"):
        data["study"]["state"] = state
        run_folder.write_record(run_dir, data)
