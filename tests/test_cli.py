"""train.py end to end on tiny data, and its one-line errors for bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import train
from conftest import ROOT

STAGES = ("train", "val", "test")  # one event folder each, with the same tags: charts overlay the stages
EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"}


@pytest.mark.slow
def test_step_loss_is_logged_every_log_every_n_steps(folder_data, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lit_modules.base import BaseClassifier

    losses, step = [], BaseClassifier.training_step

    def recording_step(self, *args):
        loss = step(self, *args)
        losses.append(loss.item())
        return loss

    monkeypatch.setattr(BaseClassifier, "training_step", recording_step)
    # 100 training images at batch 2: 50 steps, and the logger writes every 50th (train.py's setting).
    argv = ["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "2", "--val-size", "20",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path)]
    assert train.main(argv) == 0
    from callbacks.tensorboard import STEP_LOSS
    events = EventAccumulator(str(tmp_path / "lenet" / "version_0" / "train")).Reload().Scalars(STEP_LOSS)
    # The written value is step 50's own loss, not one cached from an earlier step.
    assert [e.step for e in events] == [50] and events[0].value == pytest.approx(losses[49], rel=1e-5)


@pytest.mark.slow
def test_model_defaults_set_the_split_and_can_skip_the_per_epoch_test(folder_data, tmp_path, monkeypatch):
    from lit_modules.lenet import LeNet

    # As resnet9 does: its own val_size (no --val-size given) and the test set scored only at the end.
    monkeypatch.setattr(LeNet, "defaults", {**LeNet.defaults, "val_size": 30, "test_every_epoch": False})
    argv = ["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "16",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path)]
    assert train.main(argv) == 0
    m = json.loads((tmp_path / "lenet" / "version_0" / "metrics.json").read_text())
    assert (m["data"]["train"], m["data"]["val"]) == (90, 30) and m["hparams"]["val_size"] == 30
    assert "val_acc" in m["epochs"][0] and "test_acc" not in m["epochs"][0]
    assert 0 <= m["final"]["test_acc"] <= 1  # scored once, by the final trainer.test


@pytest.mark.slow
def test_two_epochs_write_curves_checkpoints_and_complete_metrics(folder_data, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    argv = ["--model", "lenet", "--gpus", "0", "--epochs", "2", "--batch-size", "16", "--val-size", "20",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path / "logs")]
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    run_dir = tmp_path / "logs" / "lenet" / "version_0"
    assert f"tensorboard --logdir {tmp_path / 'logs'}" in out and str(run_dir) in out

    from callbacks.tensorboard import STEP_LOSS
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0}).Reload()
    staged = {s: EventAccumulator(str(run_dir / s)).Reload() for s in STAGES}
    # Nothing but what a user asked for: per-epoch curves at step = epoch in each stage's folder, the
    # step loss (train), the best checkpoint's numbers (val, test); no scalar in the run folder itself.
    assert events.Tags()["scalars"] == []
    assert {"acc", "loss"} <= set(staged["train"].Tags()["scalars"]) <= {"acc", "loss", STEP_LOSS}
    finals = {"result/acc", "result/loss"}
    assert set(staged["val"].Tags()["scalars"]) == set(staged["test"].Tags()["scalars"]) == {"acc", "loss"} | finals
    assert all([e.step for e in staged[s].Scalars(t)] == [1, 2] for s in STAGES for t in ("acc", "loss"))
    text = events.Tensors("about/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "**lenet**, seed 0, on `cifar10` (10 classes: airplane" in text and "100 train, 20 validation, 40 test" in text
    changed = next(line for line in text.splitlines() if line.startswith("- changed from the defaults: "))
    assert sorted(changed.split(": ", 1)[1].split(", ")) == ["`batch_size=16`", "`epochs=2`", "`val_size=20`"]
    import yaml
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["command"].startswith("python train.py") and hparams["lr"] == 0.001
    assert hparams["environment"]["torch"] == str(torch.__version__)
    ckpts = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert "last.ckpt" in ckpts and any(n.startswith("best-epoch0") for n in ckpts)

    m = json.loads((run_dir / "metrics.json").read_text())
    assert {"model", "command", "seed", "device", "precision", "data", "params", "seconds", "epochs",
            "final"} <= set(m)
    assert m["status"] == "finished" and m["model"] == "lenet" and m["seed"] == 0
    assert m["command"].startswith("python train.py --model lenet")
    assert m["params"] == {"total": 390_410, "trainable": 390_410}
    assert m["environment"]["torch"] == torch.__version__ and "git_commit" in m["environment"]
    assert m["data"]["train"] == 100 and m["data"]["val"] == 20 and m["data"]["test"] == 40
    assert [e["epoch"] for e in m["epochs"]] == [1, 2]
    first, second = m["epochs"]
    assert 0 < first["epoch_seconds"] <= first["seconds"] < second["seconds"]  # set-up only in "seconds"
    assert second["epoch_seconds"] <= second["seconds"] - first["seconds"] + 0.01
    assert 0 <= first["train_seconds"] <= first["epoch_seconds"]  # the val+test scoring comes after
    assert "train_seconds" not in m["final"]  # a timing of its epoch, not a result of the checkpoint
    for row in m["epochs"] + [m["final"]]:
        assert EPOCH_KEYS <= set(row)
        assert all(0 <= row[k] <= 1 for k in ("train_acc", "val_acc", "test_acc"))
    # The final test of the best checkpoint re-measures exactly what that epoch measured.
    best_row = next(e for e in m["epochs"] if e["epoch"] == m["final"]["epoch"])
    assert f"best-epoch{best_row['epoch']:02d}-" in " ".join(ckpts)  # names count epochs from 1, as here
    assert {e.step for s in STAGES[1:] for t in finals for e in staged[s].Scalars(t)} == {best_row["epoch"]}
    assert [e.value for e in staged["test"].Scalars("result/acc")] == [pytest.approx(m["final"]["test_acc"])]
    from tensorboard.plugins.hparams import plugin_data_pb2
    hp_data = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    start = plugin_data_pb2.HParamsPluginData.FromString(hp_data).session_start_info
    assert start.hparams["Model"].string_value == "lenet" and start.hparams["epochs"].number_value == 2
    assert start.hparams["Dataset"].string_value == "cifar10" and "epochs=2" in start.hparams["Changed"].string_value
    assert "_hparams_/experiment" not in events.Tags()["tensors"]  # TensorBoard makes one from all runs
    confusion = events.Images("best/confusion matrix (test set)")
    assert [e.step for e in confusion] == [best_row["epoch"]] and confusion[0].width > 300
    assert m["final"]["val_acc"] == max(e["val_acc"] for e in m["epochs"]) == best_row["val_acc"]
    assert m["final"]["test_acc"] == pytest.approx(best_row["test_acc"], abs=1e-6)
    assert m["final"]["test_loss"] == pytest.approx(best_row["test_loss"], rel=1e-4)


@pytest.mark.parametrize("args, message", [
    (["--model", "alexnet"], "invalid choice: 'alexnet'"),
    (["--model", "lenet", "--optimizer", "rmsprop"], "must be one of adam, sgd, adamw, got rmsprop"),
    (["--model", "lenet", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["--model", "lenet", "--batch-size", "-3"], "argument --batch-size: must be at least 1, got -3"),
    (["--model", "lenet", "--lr", "0"], "argument --lr: must be greater than 0, got 0"),
    (["--model", "lenet", "--lr", "fast"], "argument --lr: takes a number, got 'fast'"),
    (["--model", "lenet", "--lr", "inf"], "argument --lr: must be finite, got inf"),
    (["--model", "lenet", "--epochs", "2.5"], "argument --epochs: takes an integer, got '2.5'"),
    (["--model", "lenet", "--val-size", "0"], "argument --val-size: must be at least 1, got 0"),
    (["--model", "lenet", "--seed", "-1"], "must be from 0 to 4294967295"),
    (["--model", "lenet", "--seed", str(2**32)], "must be from 0 to 4294967295"),
    (["--model", "lenet", "--num-workers", "-1"], "must be 0 or more"),
    (["--model", "lenet", "--data-dir", ""], "must not be empty"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_gpus_beyond_what_the_machine_has(monkeypatch, folder_data, capsys):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert train.main(["--model", "lenet", "--gpus", "1", "--data-dir", str(folder_data)]) == 2
    err = capsys.readouterr().err
    assert "this machine has 0" in err and "--gpus 0" in err and err.count("\n") == 1


def test_missing_data_offline_exits_2_with_one_line(tmp_path, offline, capsys):
    assert train.main(["--model", "lenet", "--gpus", "0", "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "class-folder tree" in err and str(tmp_path / "none") in err


def test_error_in_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "--model", "lenet", "--gpus", "7"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--gpus 7" in proc.stderr


def test_weights_flag_is_refused_for_models_without_pretraining(folder_data, capsys):
    assert train.main(["--model", "lenet", "--weights", "none", "--data-dir", str(folder_data)]) == 2
    assert "--weights applies to resnet18, not lenet; leave it out" in capsys.readouterr().err


def test_a_lightning_older_than_the_floor_is_a_one_line_error(monkeypatch, capsys):
    from importlib import metadata

    from core import versions

    assert versions.floors("torch>=2.4,<=2.14.1\npytorch-lightning>=2.5.6,<3\n# x>=1\n") == {
        "torch": "2.4", "pytorch-lightning": "2.5.6"}
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "2.4.0" if name == "pytorch-lightning" else real(name))
    assert train.main(["--model", "lenet"]) == 2
    err = capsys.readouterr().err
    assert "pytorch-lightning 2.4.0 is older than 2.5.6" in err and "pip install -r" in err and err.count("\n") == 1


def test_the_colab_notebooks_commands_parse_with_the_projects_own_parsers():
    """Every train.py / visualize.py line of notebooks/colab.ipynb, parsed as the scripts would:
    a renamed or removed flag breaks this test, not a student's notebook."""
    import json
    import shlex

    import visualize
    from conftest import ROOT

    nb = json.loads((ROOT / "notebooks" / "colab.ipynb").read_text())
    lines = [ln.strip().lstrip("!") for c in nb["cells"] if c["cell_type"] == "code" for ln in c["source"]]
    commands = [shlex.split(ln) for ln in lines if ln.startswith(("python train.py", "python visualize.py"))]
    assert [c[1] for c in commands] == ["train.py", "train.py", "visualize.py"]
    for command in commands:
        parse = train.parse_args if command[1] == "train.py" else visualize.parse_args
        parse(command[2:])  # argparse exits (a failed test) on anything it does not know
    assert any("%tensorboard --logdir lightning_logs" in ln for ln in lines)
