"""A NaN or infinite training loss stops the run loudly, naming the epoch, step and learning rate,
before the epoch's checkpoint is written (a diverged `last.ckpt` would make resume useless).

It reads the epoch's running loss sum (BaseClassifier.train_loss_sum), which turns non-finite at the
step whose loss does. Reading it is one op on the CPU, so the CPU checks every step. On a GPU a read
makes the host wait for the GPU, so it checks once, at the epoch's last batch: the steps in between
never wait, and a diverged run loses at most an epoch of seconds.
"""
from __future__ import annotations

import math

import pytorch_lightning as pl

from core import devices
from core.errors import NonFiniteLoss


class StopOnNonFiniteLoss(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        total = getattr(pl_module, "train_loss_sum", None)
        waits = total is not None and devices.reading_waits(total)
        if total is None or (waits and not trainer.is_last_batch):
            return
        if trainer.world_size > 1:  # decided together: a process stopping alone leaves the others waiting
            total = trainer.strategy.reduce(total.detach().clone(), reduce_op="sum")  # NaN if any is
        value = float(total)
        if not math.isfinite(value):
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            when = "by" if waits else "at"
            raise NonFiniteLoss(f"training loss became {value} {when} epoch {trainer.current_epoch + 1}, "
                                f"step {trainer.global_step} (lr {lr:g}); try a lower --lr")
