"""Ctrl-C stops a run cleanly: after the current batch, with `RunInterrupted`.

The unfinished epoch is dropped, so `last.ckpt` (written at the end of every epoch) is the clean
point to resume from. SIGTERM gets the same treatment through Lightning's own SIGTERMException.
A second Ctrl-C stops at once, with the same exception (so it gets the same message and exit code).
Outside fit (decoding data, the final evaluation) SIGTERM stops at once too: `sigterm_outside_fit`.
"""
from __future__ import annotations

import signal

import pytorch_lightning as pl

from core.errors import RunInterrupted


_fitting = False  # while True, Lightning's own SIGTERM handling stops the run after the batch


def sigterm_outside_fit(signum, frame) -> None:
    """train.py's SIGTERM handler. Lightning calls it after its own during fit: then it does nothing."""
    if not _fitting:
        raise RunInterrupted("terminated (SIGTERM)")


class StopOnCtrlC(pl.Callback):
    def __init__(self):
        self.signalled = False
        self._old_handler = None

    def _on_sigint(self, signum, frame) -> None:
        if self.signalled:
            raise RunInterrupted("interrupted by a second Ctrl-C")
        self.signalled = True
        print("\nCtrl-C: stopping after this batch (press it again to stop at once) ...", flush=True)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        global _fitting
        _fitting, self.signalled = True, False
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handler()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_handler()

    def _restore_handler(self) -> None:
        global _fitting
        _fitting = False
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
