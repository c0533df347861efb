"""What TensorBoard shows, written by us rather than by Lightning's per-step logger, so that it reads
well: every per-epoch scalar at step = epoch (1, 2, ...), so runs of any batch size overlay; tags
grouped by metric (loss/train, loss/val, loss/test, acc/...), with a custom-scalars layout that
puts the three stages in one chart; the per-step training loss in its own group at the global
step; and at the end (`log_final`) the best checkpoint's re-scored numbers under result/, the HParams
table (every run's recipe beside its final numbers) and the filter images, at the best epoch.

The model logs with `logger=False`: these are the only scalars in the event files.
"""
from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from core.records import EPOCH_TAGS, METRICS, STAGES

METRIC_NAMES = {"loss": "cross-entropy loss (no label smoothing)", "acc": "accuracy"}
# The best checkpoint's re-scored numbers: a group named to sort after the curves, not above them.
RESULT = "result"


def tb_tag(tag: str) -> str:
    """"val/acc" (the name the model logs) -> "acc/val" (grouped by metric in TensorBoard)."""
    stage, metric = tag.split("/")
    return f"{metric}/{stage}"


def _writer(trainer: pl.Trainer):
    logger = trainer.logger
    if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
        return logger.experiment
    return None


class EpochScalars(pl.Callback):
    """Per-epoch scalars at step = epoch; the training loss every `every_n_steps` steps (written at
    the epoch's end)."""

    def __init__(self, every_n_steps: int = 50):
        self.every_n_steps = every_n_steps
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not written yet

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = _writer(trainer)
        if tb is not None:  # once per run: TensorBoard's Custom Scalars tab, one chart per metric
            charts = {METRIC_NAMES[m]: ["Multiline", [f"{m}/{s}" for s in STAGES] + [f"{RESULT}/{s}_{m}" for s in STAGES[1:]]]
                      for m in METRICS}
            charts["training loss per step (with label smoothing)"] = ["Multiline", ["loss_step/train"]]
            tb.add_custom_scalars({"curves": charts})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 and _writer(trainer) is not None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            if loss is not None:  # kept on the device: reading it now would make the host wait for the GPU
                self.pending.append((step, loss.detach().clone()))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = _writer(trainer)
        if tb is None:
            return
        if self.pending:  # one read for the epoch's per-step losses
            for (step, _), value in zip(self.pending, torch.stack([v for _, v in self.pending]).tolist()):
                tb.add_scalar("loss_step/train", value, step)
            self.pending = []
        metrics = trainer.callback_metrics
        for tag in EPOCH_TAGS:
            if tag in metrics:
                tb.add_scalar(tb_tag(tag), float(metrics[tag]), trainer.current_epoch + 1)
        tb.flush()


def flat_hparams(info: dict[str, Any]) -> dict[str, Any]:
    """The run's settings as plain scalars for the HParams tab: model, seed, every recipe key."""
    flat: dict[str, Any] = {"model": info["model"], "seed": info["seed"], "precision": info["precision"]}
    for group in info["recipe"].values():
        for k, v in group.items():
            flat[k] = v if isinstance(v, (bool, int, float, str)) else str(v)
    return flat


def log_final(trainer: pl.Trainer, info: dict[str, Any], final: dict[str, Any], best_epoch: int,
              images: dict[str, torch.Tensor], caption: str) -> None:
    """The best checkpoint's numbers (result/*), the HParams entry and the filter images, at the
    best epoch. `images`: tag -> (3, H, W) image, the tag saying what it shows."""
    from torch.utils.tensorboard.summary import hparams

    tb = _writer(trainer)
    if tb is None:
        return
    metrics = {f"{RESULT}/{k}": final[k] for k in (f"{s}_{m}" for s in STAGES[1:] for m in METRICS)
               if final.get(k) is not None}
    for tag, value in metrics.items():
        tb.add_scalar(tag, value, best_epoch)
    # Tags of their own: the per-epoch filter images (--filters-every) already reach later steps, and
    # TensorBoard reads a tag's step going back as a restart and drops everything after it.
    for tag, image in images.items():
        tb.add_image(f"best/{tag}", image, best_epoch)
    tb.add_text("best/filters/caption", f"best checkpoint (epoch {best_epoch}): {caption}", best_epoch)
    for summary in hparams(flat_hparams(info), metrics):
        tb._get_file_writer().add_summary(summary, best_epoch)
    tb.flush()
