"""`tune.py --grid`: Optuna's GridSampler, but every point runs once, however the study is continued.

Optuna's own sampler counts a failed trial's point as visited (`state.is_finished()`), so a grid
continued after a failure (Ctrl-C, a lost run) ran some other point a second time instead of the
failed one, and never ran that one: 4 studies in 10 of a 3-point grid with one failure, by hand
(2026-12-06). Here a point is taken while a trial of it is complete, pruned, running or waiting,
told by its values (a trial recovered from a finished run, studies/recover.py, has them but no grid
id; another command's seed shuffles the grid in another order). The pick is made under a lock (this
process's threads, and `exclusive`, store.one_at_a_time, across processes), so two workers asking at
the same moment never take one point.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, ContextManager

import optuna

POINT = "grid_point"  # a trial's system attribute: the values of the point it was given
TAKEN = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")
_lock = threading.Lock()


class EveryPointOnce(optuna.samplers.GridSampler):
    def __init__(self, search_space: dict, seed: int | None,
                 exclusive: Callable[[], ContextManager] = contextlib.nullcontext):
        super().__init__(search_space, seed=seed)
        self._exclusive = exclusive

    def before_trial(self, study, trial) -> None:
        if "grid_id" in trial.system_attrs or "fixed_params" in trial.system_attrs:  # an enqueued trial, as Optuna's
            return
        with _lock, self._exclusive():
            left = self._get_unvisited_grid_ids(study)
            # None left: more trials than points were asked for at once; Optuna's own choice (a repeat), and the
            # study stops after it (run_trials fails such a trial as surplus before it runs anything).
            grid_id = min(left) if left else int(self._rng.rng.choice(len(self._all_grids)))
            study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
            study._storage.set_trial_system_attr(trial._trial_id, "grid_id", grid_id)
            study._storage.set_trial_system_attr(trial._trial_id, POINT, self._point(grid_id))

    def _get_unvisited_grid_ids(self, study) -> list[int]:
        """The points no complete, pruned, running or waiting trial has (also what after_trial and
        is_exhausted ask: the study stops once every point is done)."""
        taken = []
        for t in study._storage.get_all_trials(study._study_id, deepcopy=False):
            if t.state.name in TAKEN:
                taken.append(t.system_attrs.get(POINT) or t.params)
        return [g for g in range(len(self._all_grids)) if self._point(g) not in taken]

    def _point(self, grid_id: int) -> dict:
        return dict(zip(self._param_names, self._all_grids[grid_id]))
