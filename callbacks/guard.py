"""Keep a run safe: Ctrl-C stops it cleanly, a NaN loss stops it loudly, checkpoints carry the RNG.

- Ctrl-C (SIGINT): the run stops after the current batch with `RunInterrupted`; the unfinished epoch
  is dropped, so `last.ckpt` (written at the end of every epoch) is the clean point to resume from.
  SIGTERM gets the same treatment through Lightning's own SIGTERMException. A second Ctrl-C
  stops at once.
- A non-finite training loss raises `NonFiniteLoss` naming the epoch, step and learning rate.
  Checking needs a host sync, so on a GPU it happens every `gpu_check_every` steps.
- Every RNG is reseeded from (seed, epoch) at the start of each epoch, so a resumed run draws the
  same augmentations as an unbroken one (storing RNG states in checkpoints is not enough: Lightning
  draws from the global RNG between the checkpoint and the next epoch differently on resume).
"""
from __future__ import annotations

import random
import signal

import numpy as np
import pytorch_lightning as pl
import torch


class RunInterrupted(Exception):
    pass


class NonFiniteLoss(Exception):
    pass


class RunGuard(pl.Callback):
    def __init__(self, seed: int = 0, gpu_check_every: int = 50):
        self.seed, self.gpu_check_every = seed, gpu_check_every
        self.signalled = False
        self._old_handler = None

    # Ctrl-C
    def _on_sigint(self, signum, frame) -> None:
        if self.signalled:
            raise KeyboardInterrupt
        self.signalled = True
        print("\nCtrl-C: stopping after this batch (press it again to stop at once) ...", flush=True)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.signalled = False
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handler()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_handler()

    def _restore_handler(self) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)
            self._old_handler = None

    def _check_signal(self) -> None:
        if self.signalled:
            raise RunInterrupted("interrupted by Ctrl-C")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._check_signal()

    # NaN / inf
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._check_signal()
        on_gpu = pl_module.device.type != "cpu"
        if on_gpu and trainer.global_step % self.gpu_check_every:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).item():
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            raise NonFiniteLoss(f"training loss became {loss.item()} at epoch {trainer.current_epoch + 1}, "
                                f"step {trainer.global_step} (lr {lr:g}); try a lower --lr")

    # Randomness per epoch
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Reseed every RNG from (seed, epoch): augmentation and dropout of epoch e then depend on
        nothing else, so a run resumed at epoch e draws exactly what the unbroken run drew."""
        s = (self.seed * 1_000_003 + trainer.current_epoch) % 2**32
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)  # seeds every CUDA device too
