"""The training step: in the GPU configuration it never makes the host wait (no reads of device
values), so a GPU is never left idle between steps. Checked on the CPU by counting the ops that read
a tensor's value on the host (on a GPU each is a sync), with devices.reading_waits set as on a GPU."""
from __future__ import annotations

import json
import sys
import tempfile

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import train
from conftest import cheap_args, tiny_run, trainer_callback
from core import devices
from lit_modules import MODELS
from lit_modules.step import OwnStep

READS = {"_local_scalar_dense", "nonzero", "is_nonzero", "equal", "_assert_async"}


class Reads(TorchDispatchMode):
    def __init__(self, on_host: set[int]):
        super().__init__()
        self.n, self.on_host = 0, on_host

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += func.overloadpacket.__name__ in READS and not (args and id(args[0]) in self.on_host)
        return func(*args, **(kwargs or {}))


def host_state(trainer: pl.Trainer) -> set[int]:
    """Optimizer step counters: kept on the host by PyTorch (unless fused, as on a GPU), so reading
    them never waits; Adam's foreach step reads them for its bias correction."""
    return {id(s["step"]) for opt in trainer.optimizers for s in opt.state.values() if "step" in s}


class ReadsPerStep(pl.Callback):
    """Host reads from each step's start to the next one's (hooks, data and all)."""

    def __init__(self):
        self.mode, self.per_step = None, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._close()
        self.mode = Reads(host_state(trainer))
        self.mode.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.is_last_batch:  # the epoch's end reads what it logs, once: not a step's cost
            self._close(keep=False)

    def on_train_end(self, trainer, pl_module):
        self._close()

    def _close(self, keep: bool = True):
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.per_step.append(self.mode.n if keep else None)
            self.mode = None


def reads_per_step(name: str, data, monkeypatch, waits: bool) -> list[int]:
    monkeypatch.setattr(devices, "reading_waits", lambda t: waits)
    with trainer_callback(ReadsPerStep()) as probe, tempfile.TemporaryDirectory() as logdir:
        assert train.main(["--model", name, "--gpus", "0", "--epochs", "1", "--batch-size", "16", "--val-size", "20",
                           "--data-dir", str(data), "--logdir", logdir, *cheap_args(name)]) == 0
    # The first step creates the optimizer's state (and on a GPU tunes cuDNN): steady state after it.
    return [n for n in probe.per_step[1:] if n is not None]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_a_gpu_step_never_waits_for_the_gpu(name, folder_data, monkeypatch):
    steps = reads_per_step(name, folder_data, monkeypatch, waits=True)
    assert len(steps) >= 3 and steps == [0] * len(steps)


@pytest.mark.slow
def test_the_cpu_step_reads_its_loss_and_the_count_sees_it(folder_data, monkeypatch):
    """The CPU's NaN check reads the running loss every step (free there): the counter must see it."""
    steps = reads_per_step("lenet", folder_data, monkeypatch, waits=False)
    assert len(steps) >= 3 and steps == [1] * len(steps)


@pytest.mark.slow
@pytest.mark.parametrize("waits", [False, True])
def test_the_progress_bar_shows_the_loss_where_reading_it_is_free(waits, folder_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # an interactive run: the bar is on
    monkeypatch.setattr(devices, "reading_waits", lambda t: waits)
    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "16", "--val-size", "20",
                       "--data-dir", str(folder_data), "--logdir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    bar = captured.out + captured.err
    assert "Epoch 0: 100%" in bar and ("loss=" in bar) != waits


def automatic_step(self, batch, batch_idx: int):
    """The step as it was under Lightning's automatic optimization (before lit_modules/step.py):
    Lightning runs zero_grad, backward, the optimizer and the schedule around it."""
    x, y = batch
    logits = self(x)
    loss = self.criterion(logits, y)
    with torch.no_grad():
        plain = loss if self.hparams.label_smoothing == 0 else nn.functional.cross_entropy(logits, y)
        self._train_sums(plain, logits, y)
    if self.trainer.is_last_batch:
        self._log_train_epoch()
    return loss


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_the_modules_own_step_gives_lightnings_automatic_numbers_to_the_last_bit(name, tiny_runs, folder_data,
                                                                                 tmp_path, monkeypatch):
    own_init = OwnStep.__init__

    def automatic(self, *a, **kw):
        own_init(self, *a, **kw)
        self.automatic_optimization = True
    monkeypatch.setattr(OwnStep, "__init__", automatic)
    monkeypatch.setattr(OwnStep, "training_step", automatic_step)
    assert train.main([*tiny_run(name), "--data-dir", str(folder_data), "--logdir", str(tmp_path),
                       *cheap_args(name)]) == 0
    read = lambda d: json.loads((d / name / "version_0" / "metrics.json").read_text())
    ours, auto = read(tiny_runs), read(tmp_path)
    untimed = lambda m: [{k: v for k, v in e.items() if "seconds" not in k} for e in m["epochs"] + [m["final"]]]
    assert untimed(auto) == untimed(ours)
