"""A NaN or infinite training loss stops the run loudly, naming the epoch, step and learning rate.

Checking needs a host sync (`.item()`), so on a GPU it happens every `gpu_check_every` steps only.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from errors import NonFiniteLoss


class StopOnNonFiniteLoss(pl.Callback):
    def __init__(self, gpu_check_every: int = 50):
        self.gpu_check_every = gpu_check_every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if pl_module.device.type != "cpu" and trainer.global_step % self.gpu_check_every:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).item():
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            raise NonFiniteLoss(f"training loss became {loss.item()} at epoch {trainer.current_epoch + 1}, "
                                f"step {trainer.global_step} (lr {lr:g}); try a lower --lr")
