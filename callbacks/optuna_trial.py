"""A train.py run started by tune.py (studies/trial.py: a trial's seed, or a --confirm run). tune.py
starts each run as its own process (a crash or a leak stays in it; what a user can run by hand is
what a trial runs) and tells it in the environment what it belongs to. The run names its folder
to its parent; a trial's seed also records its study, trial number and state (metrics.json,
HParams), tells the study its folder, and after each epoch reports its validation accuracy to the
trial, so that Optuna's pruner can stop a hopeless trial early: the run then stops after that
epoch, scores its best checkpoint as any run does, and says it was pruned.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from studies import store
from studies.trial import ENV, tell_parent


class TrialLink(pl.Callback):
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.in_study = "trial_id" in spec  # else a --confirm run: it only names its folder
        self.info = {"name": spec.get("study"), "trial": spec.get("number"), "seed": spec["seed"], "state": "running"}
        self._trial = None
        self.lost = False  # the database stopped answering: no more reports

    def record_entry(self) -> dict[str, Any]:
        """What the run's record says of its study: its name, trial number, seed and state."""
        return {"study": self.info} if self.in_study else {}

    def trial(self):
        """The Optuna trial, through the study's storage (the same database tune.py uses)."""
        if self._trial is None:
            import optuna

            study = optuna.load_study(study_name=self.spec["study"], pruner=store.make_pruner(self.spec["prune"]),
                                      storage=store.storage(self.spec["storage"], heartbeat=False))
            self._trial = optuna.trial.Trial(study, self.spec["trial_id"])
        return self._trial

    def started(self, run_dir: Path) -> None:
        """The run folder, to the parent and into the trial's attributes, where `visualize.py study` finds it."""
        tell_parent(self.spec, run_dir)
        if self.in_study:
            self.trial().storage.set_trial_user_attr(self.spec["trial_id"],
                                                     store.RUN_DIR_ATTR.format(seed=self.spec["seed"]), str(run_dir))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val/acc")
        if not (self.in_study and self.spec.get("report")) or self.lost or acc is None or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch + 1
        trial = self.trial()
        try:
            trial.report(float(acc), epoch)
            prune = epoch < trainer.max_epochs and trial.should_prune()
        except Exception as e:
            from studies.recover import lost_database

            if lost_database(e) is not None:  # the database is gone, not the trial: train on, unpruned
                if not self.lost:
                    print(f"warning: the study's database does not answer ({type(e).__name__}); this run goes "
                          f"on to its end, and tune.py takes its result into the study when it is back")
                self.lost = True
                return
            self.info["state"], prune = f"abandoned ({type(e).__name__}: the trial ended in the study)", True  # tune.py killed
        if prune:
            self.info["state"] = self.info["state"] if self.info["state"] != "running" else f"pruned after epoch {epoch}"
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.info["state"] == "running":
            self.info["state"] = "complete"


def from_env() -> TrialLink | None:
    text = os.environ.get(ENV)
    return TrialLink(json.loads(text)) if text else None
