"""The training step, run by the module itself (Lightning's manual optimization), and the epoch's
train loss and accuracy, summed on the device. BaseClassifier's first base class.

Lightning's automatic optimization wraps every step in a closure and a result object, copies the
loss and divides it, and calls every callback's backward and optimizer hooks: host time a small
network's step does not need (benchmarks/step_overhead.py measures what is left against a
hand-written loop). The step here runs in automatic optimization's order, so the numbers are the
same to the last bit.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class OwnStep:
    """Before pl.LightningModule among a module's bases; uses the module's `criterion` and
    `hparams.label_smoothing`."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False
        self._sums: tuple[torch.Tensor, torch.Tensor] | None = None  # the training epoch's (loss * n, correct)
        self._seen = 0  # and n

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        """One optimization step, in the order Lightning's automatic optimization runs it: forward,
        zero_grad, backward, optimizer step, then the per-step schedule."""
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)  # the objective, with the model's label smoothing
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        if self._plain_step():
            loss.backward()
            # What opt.step() does once its hooks are gone: the manual loop's step counter
            # (global_step, checkpoints and lookahead read it) around the plain optimizer's step.
            opt._on_before_step()
            opt.optimizer.step()
            opt._on_after_step()
        else:
            self.manual_backward(loss)  # through the precision plugin (fp16's loss scaling) and DDP
            opt.step()
        schedule = self.lr_schedulers()
        if schedule is not None:
            schedule.step()
        # The epoch's train loss and accuracy add up on the device, a few kernels a step, and are
        # logged once, at the epoch's last batch: a per-step self.log or metric update costs more host
        # time than a small network's whole step (Lightning walks its result objects on every call).
        # The curves are plain cross-entropy, comparable across models with and without smoothing.
        with torch.no_grad():
            plain = loss if self.hparams.label_smoothing == 0 else nn.functional.cross_entropy(logits, y)
            self._train_sums(plain, logits, y)
        if self.trainer.is_last_batch:
            self._log_train_epoch()
        return loss  # for callbacks (the per-step TensorBoard loss, the progress bar); Lightning detaches it

    def _plain_step(self) -> bool:
        """One process and no loss scaling: then Lightning's manual_backward and optimizer step add
        only hooks (every callback's on_before/after_backward and on_before_optimizer_step, which
        none here implements; gradient clipping, which manual optimization never does): host time
        a small network's step notices (results/README.md), so they are skipped."""
        trainer = self.trainer
        return trainer.world_size == 1 and getattr(trainer.precision_plugin, "scaler", None) is None

    @property
    def train_loss_sum(self) -> torch.Tensor | None:
        """The epoch's summed training loss so far, on the device: non-finite once any step's was."""
        return None if self._sums is None else self._sums[0]

    def on_train_epoch_start(self) -> None:
        self._sums = None
        # Lightning 2.x leaves the module in whatever mode it finds it, and a new module's submodules
        # are all in training mode: a model's own train() (resnet18 keeps its frozen BatchNorm in
        # eval mode) runs only if called, here.
        self.train()

    def _train_sums(self, plain: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """loss * n, correct, n: the same sums, in the same dtypes, as Lightning's epoch mean and
        torchmetrics' micro accuracy, so the numbers are the same to the last bit. n is counted on
        the host: it is known there, and an op less a step."""
        if self._sums is None or self._sums[0].device != logits.device:
            self._sums = (torch.zeros((), device=logits.device), torch.zeros((), dtype=torch.long, device=logits.device))
            self._seen = 0
        loss_sum, correct = self._sums
        loss_sum.add_(plain * len(y))
        # MixUp/CutMix labels are class probabilities: a prediction counts as right for the larger share.
        correct.add_((logits.argmax(1) == (y if y.ndim == 1 else y.argmax(1))).sum())
        self._seen += len(y)

    def _log_train_epoch(self) -> None:
        loss_sum, correct = self._sums
        seen = torch.tensor(self._seen, device=loss_sum.device)
        if self.trainer.world_size > 1:  # every rank's sums: the epoch's numbers over all its images
            loss_sum, correct, seen = self.trainer.strategy.reduce(torch.stack([loss_sum.double(), correct.double(),
                                                                                 seen.double()]), reduce_op="sum")
        kw = dict(on_step=False, on_epoch=True, batch_size=1, logger=False)  # callbacks/tensorboard.py writes
        self.log("train/loss", (loss_sum / seen).float(), **kw)
        self.log("train/acc", correct.float() / seen.float(), **kw)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints written under Lightning's automatic optimization (before this module ran its own
        step) count their optimizer steps there; the manual loop's counter is what sets global_step."""
        loops = checkpoint.get("loops", {}).get("fit_loop", {})
        auto = loops.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {}).get("step")
        manual = loops.get("epoch_loop.manual_optimization.optim_step_progress")
        if auto and manual is not None and auto["total"]["completed"] > manual["total"]["completed"]:
            loops["epoch_loop.manual_optimization.optim_step_progress"] = auto
