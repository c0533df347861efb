"""train.py --lr-find on tiny data: the sweep really moves the lr, and writes its plot, record,
TensorBoard events and the command that uses the suggestion."""
from __future__ import annotations

import json
import re

import pytest
import train
from lit_modules import MODELS
from training import lr_find


@pytest.mark.parametrize("model", ["lenet", "vgg_bn"])
def test_lr_find_sweeps_the_lr_and_writes_plot_record_events_and_command(model, folder_data, tmp_path, capsys, monkeypatch):
    argv = ["--model", model, "--gpus", "0", "--data-dir", str(folder_data), "--logdir", str(tmp_path),
            "--val-size", "20", "--lr-find", "--lr-find-steps", "30", "--set", "batch_size=16", "lr=0.5"]
    argv += ["--lr", "0.3"] if model == "lenet" else []  # the flag form of the key: dropped from the command too
    # The lr each training step runs at, read off the optimizer inside the module's own step
    # (Tuner.lr_find replaces the trainer's callbacks while it sweeps, so a callback would not see it).
    seen, step = [], MODELS[model].training_step

    def recording_step(self, batch, batch_idx):
        seen.append(self.optimizers().param_groups[0]["lr"])
        return step(self, batch, batch_idx)

    monkeypatch.setattr(MODELS[model], "training_step", recording_step)
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "lr_find" / model / "version_0"
    record = json.loads((folder / "lr_find.json").read_text())
    lrs = record["lr"]
    assert record["steps"] == len(lrs) == len(record["loss"]) > 12
    # The optimizer really ran at the swept lrs, one per batch, rising geometrically from MIN_LR
    # (by (MAX_LR / MIN_LR) ** (1 / steps) a step; Lightning's first step is two of them).
    assert seen[:len(lrs)] == pytest.approx(lrs, rel=1e-6)
    assert lrs[0] == pytest.approx(lr_find.MIN_LR, rel=1e-6)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios[1:] == pytest.approx([(lr_find.MAX_LR / lr_find.MIN_LR) ** (1 / 30)] * len(ratios[1:]), rel=1e-6)
    assert (folder / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.value for e in events.Scalars("lr_find/lr")] == pytest.approx(lrs, rel=1e-5)
    assert len(events.Scalars("lr_find/loss (smoothed)")) == len(lrs)
    assert events.Tags()["images"] == ["lr_find/loss against lr"]

    suggested = record["suggested_lr"]
    assert lrs[0] < suggested < lrs[-1]
    assert f"suggested lr: {suggested:.3g}" in out
    command = re.search(r"train with it: (.*)", out).group(1)
    assert "--lr-find" not in command and "lr=0.5" not in command and "--lr " not in command
    assert command.endswith(f"--set batch_size=16 lr={suggested:.3g}")
    assert train.parse_args(command.split()[2:]).set == ["batch_size=16", f"lr={suggested:.3g}"]


def test_lr_find_refuses_seeds_and_resume(capsys):
    for extra in (["--seeds", "0", "1"], ["--resume", "last"]):
        with pytest.raises(SystemExit) as e:
            train.parse_args(["--model", "lenet", "--lr-find", *extra])
        assert e.value.code == 2
    assert "--lr-find is a sweep before training" in capsys.readouterr().err


def test_ctrl_c_in_the_sweep_is_one_line_exit_130_and_leaves_no_folder(folder_data, tmp_path, capsys, monkeypatch):
    """Inside Tuner.lr_find a KeyboardInterrupt would be Lightning's: its own line and exit 1."""
    import os
    import signal

    step = MODELS["lenet"].training_step
    monkeypatch.setattr(MODELS["lenet"], "training_step",
                        lambda self, *a: os.kill(os.getpid(), signal.SIGINT) or step(self, *a))
    argv = ["--model", "lenet", "--gpus", "0", "--data-dir", str(folder_data), "--logdir", str(tmp_path),
            "--val-size", "20", "--lr-find", "--lr-find-steps", "30"]
    assert train.main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "train.py: the lr range test stopped (Ctrl-C); nothing was kept"
    assert "Detected KeyboardInterrupt" not in err and not list((tmp_path / "lr_find" / "lenet").iterdir())
