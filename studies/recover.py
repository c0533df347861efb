"""A study's database lost mid-trial (a PostgreSQL server stopped, a network gone): tune.py says so
in one line, and the runs go on to their end in their own folders. When the same command runs
again, a trial left running or failed whose every seed's run did finish is written into the study
as a complete trial with those runs' results: a finished run is never lost to the study. One command
at a time recovers (studies/exclusive.py), so commands continuing a study together add it once."""
from __future__ import annotations

import statistics
import sys
import threading
from pathlib import Path
from typing import Sequence

from core import run_folder
from core.errors import UserError
from studies import store
from studies.exclusive import one_at_a_time
from studies.launch import gone, machine


def lost_database(e: BaseException) -> BaseException | None:
    """The database error behind `e` (the connection gone, a write refused), or None."""
    seen = e
    while seen is not None:
        module = type(seen).__module__
        if module.startswith("sqlalchemy") or module.startswith(("psycopg", "sqlite3")) \
                or type(seen).__name__ == "StorageInternalError":
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def lost_message(e: BaseException, url: str | None) -> str | None:
    """tune.py's one line for an error that means the study's database is gone; None for any other."""
    if lost_database(e) is None:
        return None
    return (f"tune.py: error: lost the study's database {store.where(url) if url else ''} ({store._root_cause(e)}); "
            f"the runs are kept in their folders: run the same command again when the database is back, and "
            f"finished runs' results go into the study")


def quiet_heartbeat() -> None:
    """Optuna's heartbeat thread dies with a traceback when the database goes: one line instead
    (the main thread says what it means and what to do)."""
    def hook(args):
        if lost_database(args.exc_value) is None:
            return default(args)
        print(f"tune.py: the study's database stopped answering the heartbeat "
              f"({store._root_cause(args.exc_value)})", file=sys.stderr)
    default = threading.excepthook
    threading.excepthook = hook


def recover(study, seeds: Sequence[int], url: str) -> list[int]:
    """Trials left running or failed whose runs of every seed in `seeds` finished (their records
    hold `final`): each is added to the study as a complete trial with the same values and the
    mean validation accuracy; a running one is marked failed. Returns the numbers of the trials
    recovered. A running trial only once its tune.py is gone (`_abandoned`), and one command at a
    time: two commands that both read a trial as not yet recovered added it twice."""
    import optuna
    from optuna.trial import TrialState

    recovered = []
    with one_at_a_time(url):
        trials = study.get_trials(deepcopy=False)  # read inside the lock: what an earlier command recovered too
        done = {t.user_attrs.get("recovered_from") for t in trials}
        for t in trials:
            if t.state not in (TrialState.RUNNING, TrialState.FAIL) or t.number in done or t.user_attrs.get("surplus"):
                continue
            records = [_finished(t.user_attrs.get(store.RUN_DIR_ATTR.format(seed=s)), t.number) for s in seeds]
            if not records or any(r is None for r in records):
                continue
            if t.state == TrialState.RUNNING:
                if not _abandoned(t):
                    continue
                study.tell(t.number, state=TrialState.FAIL)  # its tune.py lost the database, or died, after the runs
            accs = [r["final"]["val_acc"] for r in records]
            attrs = {**t.user_attrs, "val_accs": accs, "recovered_from": t.number}
            study.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                      value=statistics.mean(accs), user_attrs=attrs))
            recovered.append(t.number)
    return recovered


def _abandoned(trial) -> bool:
    """Whether the tune.py running this RUNNING trial is gone: its pid ended, where it ran on this
    machine (host and pid namespace: a container beside this one has the host's name, not its pids).
    Its runs having finished is not enough: the command may be between its last run's end and
    telling the study. A trial of another machine's command is left to Optuna's heartbeat, which
    fails it once stale (60 s); the next command recovers it then."""
    owner = trial.system_attrs.get(store.OWNER) or {}
    if any(owner.get(k) != v for k, v in machine().items()) or not isinstance(owner.get("pid"), int):
        return False
    return gone(owner["pid"])


def _finished(run_dir, number: int) -> dict | None:
    """The record of a finished run of trial `number`, else None."""
    if not isinstance(run_dir, str):
        return None
    try:
        m = run_folder.read_record(Path(run_dir))
    except UserError:
        return None
    ok = m and m.get("status") == "finished" and (m.get("final") or {}).get("val_acc") is not None \
        and (m.get("study") or {}).get("trial") == number
    return m if ok else None


def after_stop(study, url: str) -> str:
    """After a stop, once every worker thread has ended: the study's state in words. Optuna fails the
    trial each thread ran, but with two threads one was seen left RUNNING (3 of ~50 stops). The likely
    cause, found 2026-12-06: run_workers waited with Thread.join, which a KeyboardInterrupt leaves
    believing a live thread ended, so tune.py could exit before a thread failed its trial (waited on
    events since: studies/workers.py). Kept all the same: any trial this process began that is still
    RUNNING is failed here, through a connection of its own."""
    from optuna.trial import TrialState

    backend = store.storage(url, heartbeat=False)
    for tid in store.STARTED:
        if backend.get_trial(tid).state == TrialState.RUNNING:
            backend.set_trial_state_values(tid, TrialState.FAIL)
    return store.count_line(store.counts(study))
