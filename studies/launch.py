"""How tune.py starts a train.py run as a child process: on Linux, forked from a fork server that
has already imported torch, Lightning and the project; elsewhere a fresh interpreter.

Why: importing torch and Lightning takes 4-6 s of CPU in every new interpreter (on 2 cores,
2026-12), as long as a tiny trial's training. Python's own fork server (`multiprocessing`'s
"forkserver" start method with a preload) pays it once per tune.py process; each run is then a
fork of a process that has imported modules and started no thread, so it starts as cleanly as a
fresh `python train.py` would. A run started either way has the same command line (`sys.argv`, which
Lightning's DDP launcher re-executes), environment, working folder and exit code, and goes with its
parent: a fork server's child gets SIGTERM when the fork server dies, which it does when tune.py does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Protocol

TRAIN = Path(__file__).resolve().parents[1] / "train.py"
# What a train.py run imports (torch, Lightning, TensorBoard, matplotlib through these), imported
# once by the fork server; studies/server_init.py first: the server dies with this process even
# while it imports.
PRELOAD = ["studies.server_init", "train", "lit_modules", "datamodules.images", "training.run", "training.plan",
           "training.stops", "callbacks.tensorboard", "callbacks.metrics_json", "callbacks.filters",
           "callbacks.optuna_trial", "callbacks.progress", "callbacks.epoch_checkpoints", "figures.confusion"]
_context = None


class Child(Protocol):
    def wait(self) -> int: ...
    def terminate(self) -> None: ...


def die_with_parent() -> None:
    """In the child: SIGTERM when its parent dies (kill -9 included), so no run trains on for nobody;
    train.py stops at the next batch and keeps its last finished epoch."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the heartbeat still marks the trial failed
        pass


class _Forked:
    """A multiprocessing.Process as a Popen: wait() is its exit code, negative for a signal."""

    def __init__(self, process):
        self.process = process

    def wait(self) -> int:
        self.process.join()
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()  # SIGTERM


def _train_main(argv: list[str], env: dict[str, str]) -> None:
    """The child's body: what `python train.py ARGV` runs, in this environment."""
    die_with_parent()  # the fork server's death, which follows tune.py's
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [str(TRAIN), *argv]
    import train

    sys.exit(train.main(argv))


def warm() -> None:
    """Start the fork server now (Linux), so that its imports run while this process does other work.
    Call it from the main thread: the server goes with the thread that started it."""
    global _context
    if sys.platform == "linux" and _context is None:
        import multiprocessing
        from multiprocessing import forkserver

        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()


def start_train(argv: list[str], env: dict[str, str]) -> Child:
    """`python train.py ARGV` in environment `env`, started."""
    if sys.platform != "linux":
        return subprocess.Popen([sys.executable, str(TRAIN), *argv], env=env)
    warm()
    process = _context.Process(target=_train_main, args=(argv, env), name="train.py")
    process.start()
    return _Forked(process)
