"""How a study's trials get their values: TPE seeded per trial (`--search`), or every grid point once
(`--grid`), whichever process asks and however the study is continued. Optuna is imported inside
the factories: train.py's start imports studies.store, and so this, without needing Optuna.

The grid: Optuna's own GridSampler counts a failed trial's point as visited (`state.is_finished()`),
so a grid continued after a failure (Ctrl-C, a lost run) ran some other point a second time instead
of the failed one, and never ran that one: 4 studies in 10 of a 3-point grid with one failure, by
hand (2026-12-06). Here a point is taken while a trial of it holds its place (TAKEN), told by its
values (a trial recovered from a finished run, studies/recover.py, has them but no grid id; another
command's seed shuffles the grid in another order). The pick is made under a lock (this process's
threads, and `exclusive`, studies/exclusive.py, across processes), so two workers asking at the same
moment never take one point.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, ContextManager

TAKEN = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")  # trials that hold their place: in a study's total, on a grid point
POINT = "grid_point"  # a grid trial's system attribute: the values of the point it was given
_lock = threading.Lock()


def trial_seeded_tpe(seed: int | None):
    """Optuna's TPE sampler, seeded anew for each trial from (seed, trial number). A sampler seeded
    once per process draws the same sequence in every process: two workers, or a study continued by
    the same command, would run the same parameters again. Trial numbers are the study's own (one
    each, whichever process asks), so each trial gets its own draw, and a study stays repeatable."""
    import optuna

    class TrialSeeded(optuna.samplers.BaseSampler):
        def __init__(self):
            self._inner = optuna.samplers.TPESampler(seed=seed)

        def before_trial(self, study, trial):
            mixed = None if seed is None else (seed * 1_000_003 + trial.number) % 2**32
            self._inner = optuna.samplers.TPESampler(seed=mixed)  # TPE keeps no state but its RNG
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self._inner.after_trial(study, trial, state, values)

    return TrialSeeded()


def every_point_once(search_space: dict, seed: int | None,
                     exclusive: Callable[[], ContextManager] = contextlib.nullcontext):
    """Optuna's GridSampler over `search_space` (shuffled by `seed`), but a point is run again only
    while no trial holds it; `exclusive()`: the lock across processes for the pick."""
    import optuna

    class EveryPointOnce(optuna.samplers.GridSampler):
        def before_trial(self, study, trial) -> None:
            if "grid_id" in trial.system_attrs or "fixed_params" in trial.system_attrs:  # enqueued: as Optuna's
                return
            with _lock, exclusive():
                left = self._get_unvisited_grid_ids(study)
                # None left: more trials than points asked for at once; Optuna's own choice (a repeat), and the study
                # stops after it (store.run_trials fails such a trial as surplus before it runs anything).
                grid_id = min(left) if left else int(self._rng.rng.choice(len(self._all_grids)))
                study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
                study._storage.set_trial_system_attr(trial._trial_id, "grid_id", grid_id)
                study._storage.set_trial_system_attr(trial._trial_id, POINT, self._point(grid_id))

        def _get_unvisited_grid_ids(self, study) -> list[int]:
            """The points no trial holds (also what after_trial and is_exhausted ask: the study stops once
            every point is done)."""
            taken = [t.system_attrs.get(POINT) or t.params
                     for t in study._storage.get_all_trials(study._study_id, deepcopy=False) if t.state.name in TAKEN]
            return [g for g in range(len(self._all_grids)) if self._point(g) not in taken]

        def _point(self, grid_id: int) -> dict:
            return dict(zip(self._param_names, self._all_grids[grid_id]))

    return EveryPointOnce(search_space, seed=seed)
