"""A train.py run that is one seed of a tune.py trial. tune.py starts each run as its own process
(a crash or a leak stays in it; what a user can run by hand is what a trial runs) and tells it
which trial it belongs to in the environment. The run then records its study, trial number and
state (metrics.json, HParams), tells the study its folder, and after each epoch reports its
validation accuracy to the trial, so that Optuna's pruner can stop a hopeless trial early: the run
then stops after that epoch, scores its best checkpoint as any run does, and says it was pruned.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

ENV = "CIFAR_LIGHTNING_TRIAL"  # {"storage", "study", "trial_id", "number", "seed", "prune", "report"}


def make_pruner(name: str):
    """Optuna's pruner for tune.py's --prune: median (after 2 trials and 1 epoch) or none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


class TrialLink(pl.Callback):
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.info = {"name": spec["study"], "trial": spec["number"], "seed": spec["seed"], "state": "running"}
        self._trial = None

    def trial(self):
        """The Optuna trial, through the study's storage (the same database tune.py uses)."""
        if self._trial is None:
            import optuna

            url = self.spec["storage"]
            kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
            study = optuna.load_study(study_name=self.spec["study"], pruner=make_pruner(self.spec["prune"]),
                                      storage=optuna.storages.RDBStorage(url, engine_kwargs=kwargs))
            self._trial = optuna.trial.Trial(study, self.spec["trial_id"])
        return self._trial

    def started(self, run_dir: Path) -> None:
        """The run folder, into the trial's attributes, where tune.py and `visualize.py study` find it."""
        self.trial().storage.set_trial_user_attr(self.spec["trial_id"], f"run_dir_seed{self.spec['seed']}",
                                                 str(run_dir))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val/acc")
        if not self.spec.get("report") or acc is None or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch + 1
        trial = self.trial()
        try:
            trial.report(float(acc), epoch)
            prune = epoch < trainer.max_epochs and trial.should_prune()
        except Exception as e:  # the trial ended in the study (its tune.py was killed): stop
            self.info["state"], prune = f"abandoned ({type(e).__name__}: the trial ended in the study)", True
        if prune:
            self.info["state"] = self.info["state"] if self.info["state"] != "running" else f"pruned after epoch {epoch}"
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.info["state"] == "running":
            self.info["state"] = "complete"


def from_env() -> TrialLink | None:
    text = os.environ.get(ENV)
    return TrialLink(json.loads(text)) if text else None
