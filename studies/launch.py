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
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Protocol

TRAIN = Path(__file__).resolve().parents[1] / "train.py"
_live: set = set()  # the runs started here and not yet waited for: stop_all's
_stopping = False
_lock = threading.Lock()  # starts, exit-code reads and stop_all one at a time: no run starts unseen by stop_all
# What a train.py run imports (torch, Lightning, TensorBoard, matplotlib through these), imported
# once by the fork server; studies/server_init.py first: the server dies with this process even
# while it imports.
PRELOAD = ["studies.server_init", "training.cli", "lit_modules", "datamodules.images", "training.run", "training.plan",
           "training.stops", "callbacks.tensorboard", "callbacks.metrics_json", "callbacks.filters",
           "callbacks.optuna_trial", "callbacks.progress", "callbacks.epoch_checkpoints", "figures.confusion"]
_context = None
server_pid: int | None = None  # set in the fork server (studies/server_init.py): its runs' parent
PARENT_VAR = "STUDIES_FORK_SERVER_PARENT"  # tune.py's pid, for the fork server to check its own parent


class Child(Protocol):
    def wait(self) -> int: ...
    def terminate(self) -> None: ...


def die_with_parent(parent: int | None = None) -> None:
    """In the child: SIGTERM when its parent dies (kill -9 included), so no run trains on for nobody;
    train.py stops at the next batch and keeps its last finished epoch. The kernel's signal covers
    only a death after it is asked for: given the `parent` pid it must have, a parent already gone
    (this process handed to another) is a SIGTERM at once."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the heartbeat still marks the trial failed
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def machine() -> dict[str, str | None]:
    """Where this process's pids mean something: the host name and the pid namespace. Containers on
    one host often share its name (host networking) but not their pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:  # not Linux
        namespace = None
    return {"host": socket.gethostname(), "pid_namespace": namespace}


def gone(pid: int) -> bool:
    """Whether no process of this machine (`machine()`) has this pid (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class _Forked:
    """A multiprocessing.Process as a Popen: wait() is its exit code, negative for a signal."""

    def __init__(self, process):
        self.process = process

    def wait(self) -> int:
        from multiprocessing.connection import wait

        wait([self.process.sentinel])  # until it ends, without the lock
        with _lock:  # Process.start polls every child's exit code (reading it from the fork server once):
            self.process.join()  # two threads reading one at once would leave one of them 255
            return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()  # SIGTERM


class _Tracked:
    """A started run, in `_live` until waited for."""

    def __init__(self, child):
        self.child = child
        _live.add(self)

    def wait(self) -> int:
        try:
            return self.child.wait()
        finally:
            _live.discard(self)

    def terminate(self) -> None:
        self.child.terminate()


def stop_all() -> None:
    """SIGTERM to every run started here (train.py stops after its batch, keeping its last finished
    epoch), and no new one starts: for a signal that reached tune.py while its worker threads wait."""
    global _stopping
    with _lock:
        _stopping = True
        children = list(_live)
    for child in children:
        child.terminate()


def allow_starts() -> None:
    """After stop_all, once its runs are waited for: runs may start again (the next command in
    this process)."""
    global _stopping
    _stopping = False


def _train_main(argv: list[str], env: dict[str, str]) -> None:
    """The child's body: what `python train.py ARGV` runs, in this environment."""
    die_with_parent(server_pid)  # the fork server's death, which follows tune.py's
    os.environ.clear()
    os.environ.update(env)
    threads = env.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:  # torch read it once, when the fork server imported it: not this run's
        import torch

        torch.set_num_threads(int(threads))
    sys.argv = [str(TRAIN), *argv]
    import runpy

    runpy.run_path(str(TRAIN), run_name="__main__")  # exits with train.py's code, as `python train.py` does


def warm() -> None:
    """Start the fork server now (Linux), so that its imports run while this process does other work.
    Call it from the main thread: the server goes with the thread that started it."""
    global _context
    if sys.platform == "linux" and _context is None:
        import multiprocessing
        from multiprocessing import forkserver

        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        # Python 3.11's fork server imports its preload before it takes this process's sys.path, so it
        # finds the project only through PYTHONPATH (or when started from the repository's folder).
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(TRAIN.parent), *([old] if old else [])])
        os.environ[PARENT_VAR] = str(os.getpid())
        try:
            forkserver.ensure_running()
        finally:
            os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)
            os.environ.pop(PARENT_VAR)


def start_train(argv: list[str], env: dict[str, str]) -> Child:
    """`python train.py ARGV` in environment `env`, started; after stop_all, a KeyboardInterrupt."""
    warm()
    with _lock:
        if _stopping:
            raise KeyboardInterrupt
        if sys.platform != "linux":
            return _Tracked(subprocess.Popen([sys.executable, str(TRAIN), *argv], env=env))
        process = _context.Process(target=_train_main, args=(argv, env), name="train.py")
        process.start()
        return _Tracked(_Forked(process))
