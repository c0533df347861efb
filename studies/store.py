"""Optuna studies in a database: the embedded default (a SQLite file in the logdir, nothing to
start) or any SQLAlchemy URL Optuna accepts (postgresql://...), which several machines share.

A study remembers what it searches (model and space, as user attributes); the same name with
another model or space is refused, so two commands cannot mix their trials. Workers send a
heartbeat: a trial whose process was killed is marked failed by the next worker to start one.
Each run of a trial tells the study its folder (`RUN_DIR_ATTR`); the pruner and the choice of the
best trial are here too, so tune.py, the trial's run and the report agree on them.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Sequence

from core.errors import RunInterrupted, UserError
from core.recipe import settings_text
from studies.exclusive import one_at_a_time
from studies.launch import machine
from studies.samplers import TAKEN, every_point_once, trial_seeded_tpe

HEARTBEAT_S, GRACE_S = 20, 60
SCHEMA_TRIES = 8  # opening a new database another process is creating: tries, 0.2 s more apart each (5.6 s)
SQLITE_TIMEOUT_S = 60  # how long a writer waits for another process's lock on the SQLite file
RUN_DIR_ATTR = "run_dir_seed{seed}"  # a trial's user attribute: the run folder of one of its seeds


def run_dirs(trial) -> list[str]:
    """The trial's run folders, one per seed, as its runs told the study."""
    prefix = RUN_DIR_ATTR.split("{")[0]
    return [v for k, v in sorted(trial.user_attrs.items()) if k.startswith(prefix)]


def make_pruner(name: str):
    """Optuna's pruner for tune.py's --prune: median (after 2 trials and 1 epoch) or none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def best_trial(study):
    """The complete trial with the highest objective, or None."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    return max(done, key=lambda t: t.value) if done else None


def default_url(logdir: str | Path) -> str:
    path = Path(logdir).resolve() / "optuna.db"
    return f"sqlite:///{path}"


def storage(url: str, heartbeat: bool = True):
    """Optuna's RDB storage for `url`; a malformed or unreachable URL is a one-line UserError.
    `heartbeat`: this process runs trials (tune.py), not one seed's run of a trial."""
    import optuna

    # Optuna's own log lines (a study created, a trial's traceback) would bury train.py's output and
    # tune.py's one-line errors; what a trial does is printed by its train.py, the study's state by tune.py.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat's
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        raise UserError(f"--storage {url}: a SQLite URL has three slashes before its file: sqlite:///path/optuna.db "
                        f"(relative to this folder), or four for an absolute path: sqlite:////abs/optuna.db")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):  # file: is SQLite's URI form
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    beat = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S} if heartbeat else {}
    for attempt in range(SCHEMA_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **beat)
        except RunInterrupted:  # a stop signal while connecting is a stop, not a bad URL
            raise
        except Exception as e:  # sqlalchemy's ArgumentError, OperationalError, a missing driver ...
            if _creating_elsewhere(e) and attempt + 1 < SCHEMA_TRIES:
                time.sleep(0.2 * (attempt + 1))
                continue
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise UserError(f"--storage {_hide_password(url)}: cannot open it ({first}); pass a SQLAlchemy URL "
                            f"such as sqlite:///path/optuna.db or postgresql://user:pass@host/db") from None


def _creating_elsewhere(e: BaseException) -> bool:
    """Another process creating the same new database's tables at this moment: Optuna's RDBStorage
    creates them without a lock, so of commands started together on a new database (two terminals,
    a cluster's jobs) all but one could fail with 'table studies already exists' or a duplicate
    alembic_version row. Once the winner is done, opening it again finds the tables there."""
    text = _root_cause(e).lower()
    return "already exists" in text or "unique constraint failed: alembic_version" in text or "duplicate key" in text


def where(url: str) -> str:
    """The URL as a user should read it: a SQLite file by its absolute path, a password hidden."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):
        return f"{url}, the file {Path(url.removeprefix('sqlite:///')).resolve()}"
    return _hide_password(url)


def _root_cause(e: BaseException) -> str:
    """The first line of the innermost exception: sqlite's or the server's own words."""
    while e.__cause__ is not None or e.__context__ is not None:
        e = e.__cause__ or e.__context__
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _hide_password(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    return f"{scheme}://{cred.split(':')[0]}:***@{tail}" if ":" in cred else url


def open_study(url: str, name: str, model: str, space: Sequence[str], grid: dict | None = None,
               prune: str = "median", seed: int | None = None, flags: Sequence[str] = (),
               measured: dict | None = None):
    """The study `name`, created if new; refused if it exists with another model, space or `measured`
    (what a trial's number depends on besides its searched keys: the fixed recipe, the data, the
    seeds). `flags`: the train.py flags its trials pass through, recorded when it is created."""
    import optuna

    store = storage(url)
    sampler = (every_point_once(grid, seed, exclusive=lambda: one_at_a_time(url)) if grid is not None
               else trial_seeded_tpe(seed))
    pruner = make_pruner(prune)
    wanted = {"model": model, "space": sorted(space), "grid": grid is not None}
    try:
        study = optuna.create_study(storage=store, study_name=name, direction="maximize", sampler=sampler,
                                    pruner=pruner, load_if_exists=True)
        with one_at_a_time(url):  # another command creating it now writes all its attributes or none
            attrs = study.user_attrs
            if not attrs:
                for k, v in {**wanted, "flags": list(flags), "measured": measured or {}}.items():
                    study.set_user_attr(k, v)
                attrs = study.user_attrs  # where there is no lock (not sqlite or postgresql): read what won
    except optuna.exceptions.StorageInternalError as e:  # a read-only file, a full disk, a lost server
        raise UserError(f"--storage {_hide_password(url)}: cannot write the study ({_root_cause(e)}); check "
                        f"that the database is writable and reachable, or pass another --storage") from None
    if attrs and any(attrs.get(k) != v for k, v in wanted.items()):
        raise UserError(f"--study {name}: this study exists with model {attrs.get('model')} and search "
                        f"{' '.join(attrs.get('space', []))}{' (a grid)' if attrs.get('grid') else ''}; "
                        f"use another --study name for model {model} and {' '.join(sorted(space))}")
    _check_measured(name, attrs, measured or {})
    return study


def _check_measured(name: str, attrs: dict, measured: dict) -> None:
    """Trials measured otherwise (other epochs, data, seeds) must not be ranked together. Only keys both
    sides know are compared: a study from before a key (or `measured`) was recorded goes on."""
    was, now = attrs.get("measured") or {}, json.loads(json.dumps(measured))  # as stored: tuples are lists
    differ = sorted(k for k in was.keys() & now.keys() if was[k] != now[k])
    if differ:
        raise UserError(f"--study {name}: its trials ran with {settings_text({k: was[k] for k in differ})}, this "
                        f"command asks {settings_text({k: now[k] for k in differ})}; continue it with its own "
                        f"train.py flags ({' '.join(attrs.get('flags') or []) or 'none'}) and --seeds, or use "
                        f"another --study name")


def load_all(url: str) -> list:
    """Every study in the storage at `url`, read through one connection."""
    import optuna

    store = storage(url)
    return [optuna.load_study(study_name=s.study_name, storage=store)
            for s in optuna.get_all_study_summaries(store)]


def load(url: str, name: str | None):
    """An existing study (the only one in the storage when `name` is None) for reading."""
    studies = {s.study_name: s for s in load_all(url)}
    if name is None:
        if len(studies) != 1:
            raise UserError(f"{len(studies)} studies in {_hide_password(url)}"
                            + (f" ({', '.join(studies)}); pass --study NAME" if studies else "; run tune.py first"))
        name = next(iter(studies))
    if name not in studies:
        raise UserError(f"no study {name!r} in {_hide_password(url)}; "
                        + (f"there are: {', '.join(studies)}" if studies else "run tune.py first"))
    return studies[name]


def counts(study) -> dict[str, int]:
    """Trials by state: COMPLETE, PRUNED, FAIL, RUNNING, WAITING."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


class Surplus(Exception):
    """A trial asked for after the study already held its total: failed at once, never run."""


def run_trials(study, objective, total: int, most: int | None = None, catch=()) -> int:
    """Trials until the study holds `total` that are done or under way (whichever process runs
    them: two commands started at once share the total), and at most `most` here. The count is
    read before each trial and again once the trial has its number: of two commands that asked for
    the last place at once, the later number is failed as surplus (it does not count) and runs
    nothing. Returns the trials run here."""
    def guarded(trial):
        STARTED.append(trial._trial_id)
        trial.storage.set_trial_system_attr(trial._trial_id, OWNER, {**machine(), "pid": os.getpid()})
        before = sum(t.number < trial.number and t.state.name in TAKEN for t in study.get_trials(deepcopy=False))
        if before >= total:
            trial.set_user_attr("surplus", f"the study already held its {total} trials; nothing was run")
            raise Surplus()
        return objective(trial)

    ran = 0
    while (most is None or ran < most) and sum(counts(study).get(s, 0) for s in TAKEN) < total:
        study.optimize(guarded, n_trials=1, catch=(*catch, Surplus), gc_after_trial=True)
        ran += 1
    return ran


STARTED: list[int] = []  # the trial ids this process's run_trials began (list.append: thread-safe)
OWNER = "tune_owner"  # a trial's system attribute: the machine and pid of the tune.py running it (studies/recover.py)


def count_line(counts: dict[str, int]) -> str:
    """"2 complete, 1 fail": a study's trials by state, in words."""
    order = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
    return ", ".join(f"{counts.get(s, 0)} {s.lower()}" for s in order if counts.get(s)) or "no trials yet"
