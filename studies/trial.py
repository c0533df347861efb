"""One seed of a trial, from tune.py's side: `python train.py ...` as a child process that knows
its trial (callbacks/optuna_trial.py), and what it left: its run folder, its record, its state."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from callbacks.optuna_trial import ENV
from core.records import write_json

TRAIN = Path(__file__).resolve().parents[1] / "train.py"


def _die_with_parent() -> None:
    """In the child: SIGTERM when tune.py dies (kill -9 included), so no run trains on for nobody;
    train.py stops at the next batch and keeps its last finished epoch."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the heartbeat still marks the trial failed
        pass


def run_seed(trial, argv: list[str], seed: int, prune: str, report: bool, storage_url: str) -> tuple[int, dict | None, Path | None]:
    """(exit code, the run's metrics.json, its folder). Ctrl-C reaches the child too (one process
    group); tune.py waits for it to stop cleanly before the KeyboardInterrupt goes on."""
    spec = {"storage": storage_url, "study": trial.study.study_name, "trial_id": trial._trial_id,
            "number": trial.number, "seed": seed, "prune": prune, "report": report}
    env = dict(os.environ, **{ENV: json.dumps(spec)})
    child = subprocess.Popen([sys.executable, str(TRAIN), *argv, "--seed", str(seed)], env=env,
                             preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        child.wait()  # it stops at its next batch, keeping its last finished epoch
        mark(_run_dir(trial, seed), "failed (stopped)")
        raise
    run_dir = _run_dir(trial, seed)
    record = run_dir / "metrics.json" if run_dir else None
    data = json.loads(record.read_text()) if record and record.is_file() else None
    return code, data, run_dir


def _run_dir(trial, seed: int) -> Path | None:
    """The folder the child run told the study (None if it stopped before it had one)."""
    attrs = trial.study._storage.get_trial(trial._trial_id).user_attrs
    return Path(attrs[f"run_dir_seed{seed}"]) if f"run_dir_seed{seed}" in attrs else None


def mark(run_dir: Path | None, state: str) -> None:
    """The trial's end, where the run could not say it (a failure, a stop): into its metrics.json."""
    record = run_dir / "metrics.json" if run_dir else None
    if record is None or not record.is_file():
        return
    data: dict[str, Any] = json.loads(record.read_text())
    if data.get("study"):
        data["study"]["state"] = state
        write_json(record, data)
