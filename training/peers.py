"""A lost process of a several-process run: Lightning's watcher of the processes it starts, with time
for the main process to say what happened.

Lightning's launcher (the main process of a run it starts the other processes of) polls them every
5 s from a thread, and the moment one has exited with an error it SIGKILLs all of them and itself.
The main process usually learns of the loss by itself within milliseconds, at its next collective
(gloo: "Connection closed by peer"), and train.py turns that into one line: what was kept and the
command that continues the run. But Lightning's poll does not wait for that. When it falls between
the loss and that collective (the main process writing a checkpoint, or between epochs) or while the
line is being written, the run ends with -9 and nothing said (CI saw it once).

This watcher gives the main process GRACE_S to stop by itself. Only one still running then (stuck in
a collective that never returns, as NCCL's can) is stopped here, as Lightning would, with a line
saying why and what to do, and exit code 1 like the main process's own message.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

from training.stops import sentence

GRACE_S = 30.0
POLL_S = 1.0


class Watcher(threading.Thread):
    """Polls `children` (the processes Lightning started: ranks 1..n-1) every `poll_s`. After one exits
    with an error, waits `grace_s` for this process to end by itself, then kills the rest, prints
    `train.py: error: ...` with `after()` (what is kept, how to continue) and exits this process."""

    def __init__(self, children: list[subprocess.Popen], after: Callable[[], str] = lambda: "",
                 grace_s: float = GRACE_S, poll_s: float = POLL_S, exit=os._exit):
        super().__init__(daemon=True, name="lost-process-watcher")  # ends with the main process
        self.children, self.after, self.grace_s, self.poll_s, self._exit = children, after, grace_s, poll_s, exit

    def lost(self) -> tuple[int, int] | None:
        """(rank, exit code) of the first child that exited with an error; None while none has."""
        for rank, proc in enumerate(self.children, start=1):
            if proc.poll():
                return rank, proc.returncode
        return None

    def run(self) -> None:
        while (lost := self.lost()) is None:
            if all(p.returncode == 0 for p in self.children):
                return  # all finished well: nothing to watch
            time.sleep(self.poll_s)
        time.sleep(self.grace_s)  # the main process's own error and message, usually within a second
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)  # stuck in a collective: SIGTERM is not enough
        rank, code = lost
        after = self.after()
        print(f"train.py: error: process {rank + 1} of this {len(self.children) + 1}-process run exited with code "
              f"{code}, and this one did not stop within {self.grace_s:.0f} s (stuck waiting for it); all are stopped"
              f"{'. ' + sentence(after) if after else ''}", file=sys.stderr, flush=True)
        self._exit(1)


def install(after: Callable[[], str] = lambda: "") -> None:
    """Use Watcher instead of Lightning's for the processes Lightning starts from now on; `after()`
    says what a stop keeps and how to continue (training/stops.py's after_stop). At this process's
    exit, its process group (if it has one by then) is destroyed first."""
    atexit.unregister(destroy_process_group)  # once, however many runs (--seeds) install it
    atexit.register(destroy_process_group)
    from pytorch_lightning.strategies.launchers import subprocess_script

    subprocess_script._launch_process_observer = lambda children: Watcher(children, after).start()


DESTROY_WAIT_S = 15.0


def destroy_process_group() -> None:
    """torch.distributed's destroy_process_group, where this process has a group: its gloo threads
    end while Python can still run (an undestroyed group aborts the process at exit now and then;
    benchmarks/gloo_exit.py counts how often). Waited for DESTROY_WAIT_S at most: with torch 2.4 the
    second process of a finished 2-process run once sat in it, orphaned, for 24 minutes after the
    first had exited (py-spy: this line; .ci/oldest's venv, 2026-12-06). Exiting without it beats that."""
    dist = sys.modules.get("torch.distributed")  # never imported by a one-process run's exit
    if dist is not None and dist.is_available() and dist.is_initialized():
        done = threading.Thread(target=dist.destroy_process_group, name="destroy_process_group", daemon=True)
        done.start()
        done.join(DESTROY_WAIT_S)
