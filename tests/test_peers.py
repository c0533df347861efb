"""training/peers.py's watcher of the processes Lightning starts, on plain child processes (the
two-process runs that need it: tests/test_scale.py)."""
from __future__ import annotations

import subprocess
import sys
import time

from training import peers


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_lost_process_leaves_the_main_process_its_grace_then_stops_the_rest_with_one_line(capsys):
    exits = []
    lost, stuck = _child("import sys; sys.exit(3)"), _child("import time; time.sleep(60)")
    lost.wait()
    watcher = peers.Watcher([lost, stuck], after=lambda: "continue this run with: python train.py --resume X",
                            grace_s=2.0, poll_s=0.05, exit=exits.append)
    watcher.start()
    time.sleep(0.8)  # Lightning's watcher would have killed everything by its next poll
    assert stuck.poll() is None and exits == [] and capsys.readouterr().err == ""
    watcher.join(timeout=10)
    assert exits == [1] and stuck.wait(timeout=10) == -9
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.py: error: process 2 of this 3-process run exited with code 3, and this one "
                          "did not stop within 2 s") and err.endswith(
        "all are stopped. Continue this run with: python train.py --resume X"), err
    assert len(err.splitlines()) == 1


def test_processes_that_finish_well_end_the_watch_and_stop_nothing():
    exits = []
    done = [_child("pass"), _child("import time; time.sleep(0.3)")]
    watcher = peers.Watcher(done, grace_s=0.1, poll_s=0.05, exit=exits.append)
    watcher.start()
    watcher.join(timeout=10)
    assert not watcher.is_alive() and exits == [] and [p.returncode for p in done] == [0, 0]


def test_install_replaces_the_watcher_lightning_starts(monkeypatch):
    from pytorch_lightning.strategies.launchers import subprocess_script

    monkeypatch.setattr(subprocess_script, "_launch_process_observer", subprocess_script._launch_process_observer)
    started = []
    monkeypatch.setattr(peers.Watcher, "start", lambda self: started.append(self))
    peers.install(lambda: "kept")
    child = _child("pass")
    subprocess_script._launch_process_observer([child])
    child.wait()
    assert len(started) == 1 and started[0].children == [child] and started[0].after() == "kept"


def test_a_process_group_that_will_not_destroy_does_not_hold_the_exit(monkeypatch):
    """torch 2.4's destroy_process_group once never returned in the second process of a finished run:
    the exit waits for it DESTROY_WAIT_S at most, then goes on."""
    import threading

    import torch.distributed as dist

    from training import peers

    never = threading.Event()
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "destroy_process_group", lambda group=None: never.wait())
    monkeypatch.setattr(peers, "DESTROY_WAIT_S", 0.2)
    exiting = threading.Thread(target=peers.destroy_process_group, daemon=True)
    exiting.start()
    exiting.join(5)
    never.set()
    assert not exiting.is_alive()
