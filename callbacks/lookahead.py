"""Lookahead, airbench94's way: every few steps, pull the weights toward an EMA of themselves and
set them to it. The EMA's pull grows over the run ((step/total)^3) and is complete at the last step.

Any model turns it on with the default `lookahead=True` (BaseClassifier.configure_callbacks adds
this callback); the EMA travels in the checkpoint with the callback's state, so resume is exact.
"""
from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

EVERY_EXAMPLES = 5 * 1024  # airbench94: every 5 steps of batch 1024
BASE_DECAY = 0.95 ** 5


class Lookahead(pl.Callback):
    def __init__(self):
        self.ema: dict[str, torch.Tensor] | None = None  # set by the first lookahead step or a checkpoint
        self.total: int | None = None

    @torch.no_grad()
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.total is None:  # read here, not in a set-up hook: by now the data is set up either way
            self.total = int(trainer.estimated_stepping_batches)
        step, total = trainer.global_step, self.total
        every = max(1, round(EVERY_EXAMPLES / trainer.datamodule.batch_size))
        if step % every and step < total:
            return
        decay = 1.0 if step >= total else BASE_DECAY * (step / total) ** 3
        state = pl_module.net.state_dict()
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in state.items() if v.is_floating_point()}
        # Two foreach kernels' worth of launches for the whole network, not two per tensor.
        emas, weights = list(self.ema.values()), [state[k] for k in self.ema]
        torch._foreach_lerp_(emas, weights, 1 - decay)
        torch._foreach_copy_(weights, emas)

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.ema = state_dict.get("ema")

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        if self.ema is None:  # checkpoints written before this callback kept the EMA at the top level
            self.ema = checkpoint.get("lookahead")
