"""When a run's checkpoints are written: `best-epochNN-val_accX.ckpt` (the best by validation
accuracy) and `last.ckpt`, the last finished epoch, rewritten after every epoch: the resume point.
Their names and folder are core/run_folder.py's.

Lightning's ModelCheckpoint(save_last=True) writes `last` only in an epoch that also saved a top-k
checkpoint (since 2.6), so after an epoch without a new best, last.ckpt would be an older epoch
and a resume would train that epoch again. `on_train_epoch_end` writes it anyway.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from core import run_folder


class EpochCheckpoints(ModelCheckpoint):
    def __init__(self, run_dir: Path):
        super().__init__(dirpath=run_folder.checkpoint_dir(run_dir), monitor="val/acc", mode="max",
                         filename=run_folder.BEST_NAME, auto_insert_metric_name=False,
                         save_last=True, save_on_train_epoch_end=True)

    def format_checkpoint_name(self, metrics, filename=None, ver=None, prefix=None):
        """Names count finished epochs from 1, as metrics.json does."""
        metrics = {**metrics, "epoch": metrics["epoch"] + 1} if "epoch" in metrics else metrics
        return super().format_checkpoint_name(metrics, filename, ver, prefix)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A run folder copied or moved (`cp -r` to another logdir) keeps its checkpoints under their
        names, but their state names the old folder, and Lightning then drops the best score and the
        last path: the next epoch would count as the best, and `last-v1.ckpt` would appear beside a
        stale `last.ckpt`. When the best checkpoint is here under its own name, the state is read
        as this folder's."""
        old = state_dict.get("dirpath")
        here = lambda p: str(Path(self.dirpath) / Path(p).name) if p else p
        if old and self.dirpath and old != self.dirpath and Path(here(state_dict.get("best_model_path")) or "").is_file():
            state_dict = {**state_dict, "dirpath": self.dirpath, "best_model_path": here(state_dict["best_model_path"]),
                          "kth_best_model_path": here(state_dict.get("kth_best_model_path")),
                          "last_model_path": here(state_dict.get("last_model_path")),
                          "best_k_models": {here(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}}
        super().load_state_dict(state_dict)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        saved_now = self._last_global_step_saved == trainer.global_step
        if not saved_now and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
