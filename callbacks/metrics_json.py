"""Write the run's metrics.json after every epoch, so a crashed or interrupted run keeps its curves.

The file is the single source of truth for visualize.py (TensorBoard's event files are for humans).
Its name and keys, and where it lies, are core/run_folder.py's. When the final test ends, `final`
gets the best checkpoint's numbers, and the test's confusion matrix goes beside the record.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from core import run_folder
from core.run_folder import EPOCH_TAGS, FINAL_PREFIX, TIMINGS, row_key


def _number(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None  # JSON has no NaN


class MetricsJSON(pl.Callback):
    def __init__(self, run_dir: str | Path | None, info: dict[str, Any], print_epochs: bool = False,
                 resumed: dict[str, Any] | None = None):
        """`run_dir` None keeps the metrics in memory only (fast_dev_run). `resumed`: the metrics.json
        of the run being resumed, whose epochs (up to the checkpoint) and seconds carry on."""
        self.run_dir, self.print_epochs = (Path(run_dir) if run_dir else None), print_epochs
        self.data: dict[str, Any] = {**info, "status": "running", "seconds": 0.0, "epochs": [], "final": None}
        self.start = time.time()
        self.epoch_start = self.train_end = None
        self.enabled = True  # only DDP rank 0 writes
        # A resumed run's record is rewritten from its first new epoch on: a resume that fails
        # before one leaves the record (a finished run's, say) as it was.
        self.untouched = bool(resumed)
        if resumed:
            self.data["epochs"] = resumed["epochs"]
            self.data["resumed"] = resumed.get("resumed", []) + [info["command"]]
            self.data["command"] = resumed["command"]
            self.start -= resumed["epochs"][-1]["seconds"] if resumed["epochs"] else 0.0

    def update(self, **fields: Any) -> None:
        self.data.update(fields, seconds=round(time.time() - self.start, 2))
        if self.run_dir is not None and self.enabled:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            run_folder.write_record(self.run_dir, self.data)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.enabled = trainer.is_global_zero

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start, self.train_end = time.time(), None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.train_end is None:  # validation begins: the epoch's training steps are done
            if pl_module.device.type == "cuda":  # the queued steps belong to training: once an epoch
                torch.cuda.synchronize(pl_module.device)
            self.train_end = time.time()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        row.update({row_key(k): _number(m[k]) for k in EPOCH_TAGS if k in m})
        now = time.time()
        # seconds: since the run started (setup included), cumulative; epoch_seconds: this epoch's
        # training and its val+test scoring alone (what throughput is measured on); train_seconds:
        # its training steps alone, up to the scoring (what airbench's published times count).
        row["seconds"], row["epoch_seconds"] = round(now - self.start, 2), round(now - self.epoch_start, 2)
        row["train_seconds"] = round((self.train_end or now) - self.epoch_start, 2)
        self.data["epochs"].append(row)
        self.untouched = False
        self.update()
        if self.print_epochs and self.enabled:  # the progress bar's stand-in when output goes to a file
            print(f"epoch {row['epoch']}: " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                        if k != "epoch" and v is not None), flush=True)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        """Checkpoints carry the run's command and recipe: a resume without metrics.json needs them."""
        checkpoint["command"], checkpoint["recipe"] = self.data["command"], self.data.get("recipe")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        from core.errors import RunInterrupted
        stopped = isinstance(exception, (KeyboardInterrupt, RunInterrupted, SIGTERMException))
        status = "interrupted" if stopped else "failed"
        if self.untouched:
            return
        self.update(status=status, error=f"{type(exception).__name__}: {exception}")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The final evaluation is done: the record's `final`, and the test's confusion matrix."""
        if not trainer.is_global_zero:
            return
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        rescored = {k: v for k, v in trainer.callback_metrics.items() if k.startswith(FINAL_PREFIX)}
        self.finish(run_folder.best_epoch(best) if best else None, rescored)
        cm = getattr(pl_module, "test_confusion", None)
        if cm is not None and self.run_dir is not None:
            run_folder.write_confusion(self.run_dir, cm.tolist(), list(trainer.datamodule.classes), pl_module.hparams.tta)
        probs = getattr(pl_module, "test_probs", None)
        if probs is not None and self.run_dir is not None and best:  # the report's mistakes, without a re-score
            tmp = Path(self.run_dir) / (run_folder.PROBS + ".tmp")
            torch.save({"tta": pl_module.hparams.tta, "checkpoint": Path(best).name, "probs": probs}, tmp)
            os.replace(tmp, Path(self.run_dir) / run_folder.PROBS)

    def finish(self, best_epoch: int | None, rescored: dict[str, Any]) -> dict[str, Any]:
        """`final`: the best checkpoint's training numbers from its epoch, and its val/test numbers
        as re-measured at the end (`best_val/*`, `best_test/*`: with TTA where the model uses it)."""
        final = dict(self.data["epochs"][-1]) if self.data["epochs"] else {}
        for row in self.data["epochs"]:
            if row["epoch"] == best_epoch:
                final = dict(row)
        for timing in TIMINGS:  # of the epoch, not results of the checkpoint
            final.pop(timing, None)
        for k, v in rescored.items():
            final[row_key(k)] = _number(v)
        self.update(status="finished", final=final)
        return final

    def summary(self, run_dir: Path, logdir: str | Path) -> str:
        """What a finished run prints last: size, time, the best checkpoint's numbers, where things are."""
        data, p, final = self.data, self.data["params"], self.data.get("final") or {}
        pct = lambda k: f"{100 * final[k]:.2f}%" if final.get(k) is not None else "n/a"
        return (f"\n{data['model']}: {p['total']:,} parameters ({p['trainable']:,} trainable), "
                f"{len(data['epochs'])} epoch{'s' * (len(data['epochs']) != 1)} in {data['seconds']:.0f} s "
                f"on {data['device']}\n"
                f"best checkpoint (epoch {final.get('epoch')}, by val acc): train loss {final.get('train_loss', 0):.4f} "
                f"acc {pct('train_acc')} | val loss {final.get('val_loss', 0):.4f} acc {pct('val_acc')} | "
                f"test loss {final.get('test_loss', 0):.4f} acc {pct('test_acc')}\n"
                f"logs, checkpoints and metrics.json: {run_dir}\ncurves: tensorboard --logdir {logdir}")
