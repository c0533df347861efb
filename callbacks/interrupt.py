"""Ctrl-C stops a run cleanly: after the current batch, with `RunInterrupted`.

The unfinished epoch is dropped, so `last.ckpt` (written at the end of every epoch) is the clean
point to resume from. SIGTERM gets the same treatment through Lightning's own SIGTERMException.
A second Ctrl-C stops at once, with the same exception (so it gets the same message and exit code).
Ctrl-C in the final evaluation stops it after its batch the same way (Lightning's own handling
would end the process with exit code 1). Outside fit (decoding data, the final evaluation) SIGTERM
stops at once: `sigterm_outside_fit`.
"""
from __future__ import annotations

import contextlib
import signal
import threading

import pytorch_lightning as pl

from core.errors import RunInterrupted


def sigterm_outside_fit(signum, frame) -> None:
    """train.py's SIGTERM handler. While Lightning's handler is installed (inside fit, from its
    register_signal_handlers to its teardown) that one calls this after its own, which stops the run
    after the batch: then it does nothing. Asked whether it is the installed handler, not told by
    on_fit_start/on_fit_end: those run before Lightning installs its handler and after it puts this
    one back, and a SIGTERM in either gap was swallowed (a tune.py run trained on after stop_all)."""
    if signal.getsignal(signal.SIGTERM) is sigterm_outside_fit:
        raise RunInterrupted("terminated (SIGTERM)")


@contextlib.contextmanager
def stop_at_once():
    """Ctrl-C raises RunInterrupted where it lands, for scoring with nothing to keep (predict.py,
    the report's figures): not the KeyboardInterrupt that Lightning's loops turn into a line of their
    own and exit code 1. Only the main thread can take a signal handler; elsewhere nothing changes."""
    def interrupt(signum, frame):
        raise RunInterrupted("interrupted by Ctrl-C")

    old = signal.signal(signal.SIGINT, interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


class StopOnCtrlC(pl.Callback):
    """In the Trainer's callbacks, and `with it.armed(): trainer.fit(...)` (and the final trainer.test)."""

    def __init__(self):
        self.signalled = False

    def _on_sigint(self, signum, frame) -> None:
        if self.signalled:
            raise RunInterrupted("interrupted by a second Ctrl-C")
        self.signalled = True
        print("\nCtrl-C: stopping after this batch (press it again to stop at once) ...", flush=True)

    @contextlib.contextmanager
    def armed(self):
        """Ctrl-C stops after the batch while the block (trainer.fit) runs; whatever handled SIGINT
        before is back after it, however fit ends. Not from fit's own hooks: Lightning registers its
        signal handlers after on_fit_start and at its teardown puts back the ones it found there, ours
        included, after on_exception had restored the old one, so every failed fit left ours behind
        (a first Ctrl-C swallowed outside any fit, in --seeds' next run or a caller of train.main)."""
        old = signal.signal(signal.SIGINT, self._on_sigint)
        self.signalled = False
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, old)

    def _check(self) -> None:
        if self.signalled:
            raise RunInterrupted("interrupted by Ctrl-C")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._check()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._check()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._check()  # the final evaluation: minutes for resnet18 on a CPU; a resume runs it again
