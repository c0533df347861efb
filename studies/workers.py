"""tune.py --workers N: N trials at a time, as N threads of the one tune.py process.

A thread only waits for its trial's train.py runs (child processes, studies/launch.py), so threads
are enough, and they share the process's fork server: a worker costs no interpreter and no second
import of torch. Each thread opens the study for itself (its own storage connection and sampler:
the sampler keeps per-trial state). Where there are GPUs (and the runs are not told --gpus 0),
worker i's runs see GPU i mod the count alone (CUDA_VISIBLE_DEVICES); on the CPU, each run gets its
share of the cores (OMP_NUM_THREADS, unless set already), as Lightning does for its DDP processes:
N runs of torch's default (every core) on the same cores spend their time waiting for each other's
threads (benchmarks/tune_workers.py).

A signal to tune.py (Ctrl-C, SIGTERM) reaches only the main thread: it stops every run
(launch.stop_all), each worker's trial is then failed in the study as with one worker, and the
signal goes on once every thread has ended.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

from studies import launch

STOP_WAIT_S = 60.0  # after a signal, how long the workers get to fail their trials (recover.after_stop sweeps the rest)


def worker_envs(n: int, gpus_flag: int | None) -> list[dict[str, str]]:
    """Each worker's environment additions: its GPU where there are GPUs, round robin; otherwise,
    with 2+ workers, its share of the CPU cores as torch's thread count (at least one)."""
    gpus = 0
    if gpus_flag != 0:
        import torch

        gpus = torch.cuda.device_count()
    if gpus:
        return [{"CUDA_VISIBLE_DEVICES": str(i % gpus)} for i in range(n)]
    if n == 1 or "OMP_NUM_THREADS" in os.environ:  # one run has the machine; a user's setting stands
        return [{} for _ in range(n)]
    return [{"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))} for _ in range(n)]


def shares(n: int, remaining: int) -> list[int]:
    """The remaining trials split over n workers, as evenly as they go; workers with none left out."""
    return [s for s in (remaining // n + (i < remaining % n) for i in range(n)) if s]


def run_workers(n: int, remaining: int, gpus_flag: int | None, work: Callable[[int, dict[str, str]], None]) -> None:
    """work(share, env) in n threads, the remaining trials shared out. The first error in a thread
    (a refused input, a lost database) stops the others' runs and is raised here, once all ended;
    so is a KeyboardInterrupt (the signal) after every run has stopped."""
    launch.warm()  # from this, the main thread: the fork server goes with the thread that started it
    errors: list[BaseException] = []

    def body(share: int, env: dict[str, str], done: threading.Event) -> None:
        try:
            work(share, env)
        except BaseException as e:  # noqa: B036 -- a worker's KeyboardInterrupt too: its run was stopped
            errors.append(e)
            launch.stop_all()
        finally:
            done.set()

    # Waited for on events, not Thread.join: a KeyboardInterrupt inside join(timeout) marks a live thread
    # as ended (Python 3.11.7: every later join returns at once), so the signal went on while the threads
    # were still failing their trials, and tune.py could exit with a trial left RUNNING.
    dones = []
    for i, (share, env) in enumerate(zip(shares(n, remaining), worker_envs(n, gpus_flag))):
        dones.append(threading.Event())
        threading.Thread(target=body, args=(share, env, dones[-1]), name=f"worker-{i}", daemon=True).start()
    try:
        for done in dones:
            while not done.wait(0.2):
                pass
    except KeyboardInterrupt:  # the signal: every run stops, each thread fails its trial and ends
        launch.stop_all()
        deadline = time.monotonic() + STOP_WAIT_S  # bounded: a worker stuck for good must not hold tune.py
        for done in dones:
            done.wait(max(0.0, deadline - time.monotonic()))
        for e in errors:
            if not isinstance(e, KeyboardInterrupt):
                print(f"tune.py: a worker's trial ended with {type(e).__name__}: {e}", file=sys.stderr)
        raise
    finally:
        launch.allow_starts()
    first = next((e for e in errors if not isinstance(e, KeyboardInterrupt)), errors[0] if errors else None)
    if first is not None:
        raise first
