"""Ctrl-C stops a run cleanly: after the current batch, with `RunInterrupted`.

The unfinished epoch is dropped, so `last.ckpt` (written at the end of every epoch) is the clean
point to resume from. SIGTERM gets the same treatment through Lightning's own SIGTERMException.
A second Ctrl-C stops at once (KeyboardInterrupt).
"""
from __future__ import annotations

import signal

import pytorch_lightning as pl

from errors import RunInterrupted


class StopOnCtrlC(pl.Callback):
    def __init__(self):
        self.signalled = False
        self._old_handler = None

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

    def _check(self) -> None:
        if self.signalled:
            raise RunInterrupted("interrupted by Ctrl-C")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._check()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._check()
