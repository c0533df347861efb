"""When a run's checkpoints are written: `best-epochNN-val_accX.ckpt` (the best by validation
accuracy) and `last.ckpt`, the last finished epoch, rewritten after every epoch: the resume point.
Their names and folder are core/run_folder.py's.

Lightning's ModelCheckpoint(save_last=True) writes `last` only in an epoch that also saved a top-k
checkpoint (since 2.6), so after an epoch without a new best, last.ckpt would be an older epoch
and a resume would train that epoch again. `on_train_epoch_end` writes it anyway.
"""
from __future__ import annotations

from pathlib import Path

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

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        saved_now = self._last_global_step_saved == trainer.global_step
        if not saved_now and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
