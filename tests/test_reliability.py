"""Interrupted runs resume exactly, the same seed gives the same run, failures keep what was saved."""
from __future__ import annotations

import errno
import json
import os
import signal

import pytest
import torch

import train
from callbacks.epoch_checkpoints import EpochCheckpoints
from callbacks.interrupt import StopOnCtrlC
from conftest import cheap_args, tiny_run
from core import devices
from lit_modules import MODELS
from lit_modules.base import BaseClassifier

STABLE = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")  # not timings


def tiny_args(data, logdir, *extra: str) -> list[str]:
    return ["--model", "lenet", "--gpus", "0", "--epochs", "2", "--batch-size", "16", "--val-size", "20",
            "--data-dir", str(data), "--logdir", str(logdir), *extra]


def numbers(run_dir) -> tuple[list[dict], dict]:
    m = json.loads((run_dir / "metrics.json").read_text())
    return [{k: e.get(k) for k in STABLE} for e in m["epochs"]], m["final"]


@pytest.fixture(scope="module")
def unbroken(folder_data, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("unbroken")
    assert train.main(tiny_args(folder_data, logdir)) == 0
    return logdir / "lenet" / "version_0"


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(folder_data, unbroken, tmp_path):
    assert train.main(tiny_args(folder_data, tmp_path)) == 0
    assert numbers(tmp_path / "lenet" / "version_0") == numbers(unbroken)


def interrupt_during_epoch_2(monkeypatch, signum: int, at_batch: int = 2) -> None:
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == at_batch:
            os.kill(os.getpid(), signum)
    monkeypatch.setattr(StopOnCtrlC, "on_train_batch_start", on_train_batch_start, raising=False)


@pytest.mark.slow
def test_ctrl_c_then_resume_equals_an_unbroken_run(folder_data, unbroken, tmp_path, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGINT)
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT)
        assert train.main(tiny_args(folder_data, tmp_path)) == 130
    assert signal.getsignal(signal.SIGINT) is before
    run_dir = tmp_path / "lenet" / "version_0"
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["status"] == "interrupted" and [e["epoch"] for e in saved["epochs"]] == [1]
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    err = capsys.readouterr().err
    assert f"--resume {run_dir}" in err and err.count("Traceback") == 0  # the hint names this run

    # Only --resume and the logdir: the original run's arguments come from its metrics.json.
    assert train.main(["--model", "lenet", "--logdir", str(tmp_path), "--resume"]) == 0
    assert not (tmp_path / "lenet" / "version_1").exists()  # same run directory, same curves
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["status"] == "finished" and len(resumed["resumed"]) == 1
    assert numbers(run_dir) == numbers(unbroken)


def test_ctrl_c_in_the_final_evaluation_stops_it_and_the_resume_scores_the_best_checkpoint(folder_data, tmp_path,
                                                                                          capsys):
    """Lightning's own handling of a KeyboardInterrupt in trainer.test ends the process (exit 1, its
    line, not ours); resnet18's final evaluation is minutes on a CPU, so a Ctrl-C there is likely."""
    import pytorch_lightning as pl

    from conftest import trainer_callback

    class CtrlC(pl.Callback):
        def on_test_batch_start(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)

    with trainer_callback(CtrlC()):
        assert train.main(tiny_args(folder_data, tmp_path)) == 130
    err = capsys.readouterr().err
    run_dir = tmp_path / "lenet" / "version_0"
    assert "stopped in the final evaluation (every epoch is trained" in err and "Detected KeyboardInterrupt" not in err
    assert f"--resume {run_dir}" in err and "Traceback" not in err
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["status"] == "interrupted" and len(saved["epochs"]) == 2 and not saved.get("final")
    assert train.main(["--resume", str(run_dir)]) == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["status"] == "finished" and resumed["final"]["epoch"] in (1, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in MODELS if n != "lenet"])  # lenet: the test above
def test_every_model_resumes_exactly_after_an_interruption_in_epoch_2(name, tiny_runs, folder_data, tmp_path,
                                                                      monkeypatch):
    # The same arguments as the tiny_runs fixture's unbroken run: two batches per epoch, stopped after the first.
    argv = [*tiny_run(name), "--data-dir", str(folder_data), "--logdir", str(tmp_path), *cheap_args(name)]
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT, at_batch=0)
        assert train.main(argv) == 130
    assert train.main(["--model", name, "--logdir", str(tmp_path), "--resume"]) == 0
    assert numbers(tmp_path / name / "version_0") == numbers(tiny_runs / name / "version_0")


AUTO = "epoch_loop.automatic_optimization.optim_progress"
MANUAL = "epoch_loop.manual_optimization.optim_step_progress"


@pytest.mark.slow
def test_a_checkpoint_from_automatic_optimization_resumes_at_its_step(tiny_runs, folder_data, tmp_path, monkeypatch):
    """Checkpoints written before the module ran its own step count steps in the automatic loop; resume
    must continue from there (resnet9's lookahead and schedule read the step), not from step 0."""
    argv = ["--model", "resnet9", "--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path)]
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT, at_batch=0)
        assert train.main(argv) == 130
    last = tmp_path / "resnet9" / "version_0" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=False)
    loops = ckpt["loops"]["fit_loop"]
    steps = loops[MANUAL]
    assert steps["total"]["completed"] == 2  # one epoch of two batches
    loops[AUTO]["optimizer"]["step"] = steps  # the old layout: the steps counted by the automatic loop
    loops[MANUAL] = {k: {kk: 0 for kk in v} for k, v in steps.items()}
    torch.save(ckpt, last)
    assert train.main(["--model", "resnet9", "--logdir", str(tmp_path), "--resume"]) == 0
    assert numbers(tmp_path / "resnet9" / "version_0") == numbers(tiny_runs / "resnet9" / "version_0")
    unbroken = torch.load(tiny_runs / "resnet9" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    assert torch.load(last, weights_only=False)["global_step"] == unbroken["global_step"] == 4


@pytest.mark.slow
def test_last_ckpt_holds_the_last_finished_epoch_when_accuracy_stops_improving(folder_data, tmp_path, monkeypatch):
    real = EpochCheckpoints.check_monitor_top_k
    monkeypatch.setattr(EpochCheckpoints, "check_monitor_top_k",  # a new best in epoch 1 only
                        lambda self, trainer, current=None: trainer.current_epoch == 0 and real(self, trainer, current))
    assert train.main(tiny_args(folder_data, tmp_path, "--epochs", "3")) == 0
    ckpts = tmp_path / "lenet" / "version_0" / "checkpoints"
    assert [p.name[:12] for p in ckpts.glob("best-*")] == ["best-epoch01"]
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 2  # 0-based: the third epoch


@pytest.mark.slow
def test_sigterm_stops_cleanly(folder_data, tmp_path, monkeypatch):
    interrupt_during_epoch_2(monkeypatch, signal.SIGTERM)
    assert train.main(tiny_args(folder_data, tmp_path)) == 130
    saved = json.loads((tmp_path / "lenet" / "version_0" / "metrics.json").read_text())
    assert saved["status"] == "interrupted" and len(saved["epochs"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("gap", ["before", "after"])
def test_sigterm_in_fits_gaps_without_lightnings_handler_still_stops(folder_data, tmp_path, monkeypatch, capsys, gap):
    """Inside fit but outside Lightning's handler: after on_fit_start, before Lightning installs its
    handler (it logs the hyperparameters there), and after its teardown puts train.py's back, before
    on_fit_end. A SIGTERM there was swallowed: a tune.py run stopped by stop_all trained on."""
    from pytorch_lightning.trainer import trainer as trainer_module

    if gap == "before":
        log_hyperparams = trainer_module._log_hyperparams

        def terminated(trainer):
            os.kill(os.getpid(), signal.SIGTERM)
            return log_hyperparams(trainer)
        monkeypatch.setattr(trainer_module, "_log_hyperparams", terminated)
    else:
        teardown = trainer_module.Trainer._teardown

        def terminated(self):
            teardown(self)
            if self.state.fn == "fit":
                os.kill(os.getpid(), signal.SIGTERM)
        monkeypatch.setattr(trainer_module.Trainer, "_teardown", terminated)
    assert train.main(tiny_args(folder_data, tmp_path)) == 130
    if gap == "before":  # no epoch finished: nothing kept, as for a stop while decoding
        assert "nothing to resume" in capsys.readouterr().err and not list(tmp_path.rglob("metrics.json"))
    else:
        saved = json.loads((tmp_path / "lenet" / "version_0" / "metrics.json").read_text())
        assert saved["status"] == "interrupted" and len(saved["epochs"]) == 2


def poison_the_4th_step(monkeypatch) -> None:
    """The 4th training step's logits, hence its loss and gradients, turn NaN."""
    original = BaseClassifier.forward

    def poisoned(self, x):
        logits = original(self, x)
        return logits * float("nan") if self.training and self.trainer.global_step == 3 else logits
    monkeypatch.setattr(BaseClassifier, "forward", poisoned)


def test_nan_loss_stops_the_run_with_epoch_step_and_lr(folder_data, tmp_path, monkeypatch, capsys):
    poison_the_4th_step(monkeypatch)
    before = signal.getsignal(signal.SIGINT)
    assert train.main(tiny_args(folder_data, tmp_path)) == 1
    assert signal.getsignal(signal.SIGINT) is before  # the run's Ctrl-C handler not left behind (Lightning's teardown)
    err = capsys.readouterr().err
    assert "became nan at epoch 1, step 4 (lr 0.001)" in err
    saved = json.loads((tmp_path / "lenet" / "version_0" / "metrics.json").read_text())
    assert saved["status"] == "failed" and saved["epochs"] == []


@pytest.mark.slow
def test_on_a_gpu_a_nan_loss_stops_the_run_at_the_epochs_end_before_its_checkpoint(folder_data, tmp_path, monkeypatch,
                                                                                  capsys):
    """The GPU configuration reads the loss once an epoch (devices.reading_waits), on the CPU here."""
    poison_the_4th_step(monkeypatch)
    monkeypatch.setattr(devices, "reading_waits", lambda t: True)
    assert train.main(tiny_args(folder_data, tmp_path)) == 1
    assert "became nan by epoch 1, step 7 (lr 0.001)" in capsys.readouterr().err  # its last step
    assert not (tmp_path / "lenet" / "version_0" / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_disk_full_while_checkpointing_keeps_the_previous_last_ckpt(folder_data, tmp_path, monkeypatch, capsys):
    real_save, lasts = torch.save, []

    def filling_disk(obj, f, *a, **kw):
        name = str(getattr(f, "name", f))
        lasts.append("last.ckpt" in name)
        if "last.ckpt" in name and sum(lasts) == 2:  # epoch 2's last.ckpt, half written, then the disk is full
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", filling_disk)
    assert train.main(tiny_args(folder_data, tmp_path)) == 1
    assert "No space left on device" in capsys.readouterr().err
    ckpt_dir = tmp_path / "lenet" / "version_0" / "checkpoints"
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(ckpt_dir / "last.ckpt", weights_only=True)["epoch"] == 0  # epoch 1's, whole
    assert not list(ckpt_dir.glob("*.tmp"))


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b"not a checkpoint"), "cannot read checkpoint"),
    (lambda p: torch.save({"hyper_parameters": {"model": "VGG"}, "epoch": 0}, p), "holds a VGG model"),
])
def test_bad_resume_checkpoint_is_a_one_line_error(make, message, folder_data, tmp_path, capsys):
    path = tmp_path / "x.ckpt"
    make(path)
    assert train.main(tiny_args(folder_data, tmp_path, "--resume", str(path))) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_a_checkpoint_pickles_no_class_of_the_project(name, tiny_runs):
    """Checkpoints hold tensors and plain values only, so they load with weights_only=True and no
    module of this project can move out from under an old checkpoint (pickles name classes by path)."""
    paths = sorted((tiny_runs / name / "version_0" / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in paths if p.name.startswith("best-")] and (paths[0].parent / "last.ckpt") in paths
    for path in paths:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        assert ckpt["hyper_parameters"]["model"] and ckpt["state_dict"], path


class _Payload:
    """Unpickling this calls open(marker, "w"): it stands for any code a crafted checkpoint runs."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["train.py", "--resume", "{ckpt}"], ["train.py", "--resume", "{run}"], ["train.py", "--model", "lenet", "--resume"],
    ["visualize.py", "filters", "{run}"], ["visualize.py", "confusion", "{ckpt}"], ["visualize.py", "report", "{logdir}"],
])
def test_no_entry_point_runs_code_hidden_in_a_checkpoint(command, tiny_runs, tmp_path, capsys):
    import shutil

    import visualize

    run = tmp_path / "logs" / "lenet" / "version_0"
    shutil.copytree(tiny_runs / "lenet" / "version_0", run)
    marker = tmp_path / "marker"
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        saved = torch.load(ckpt, weights_only=True)
        torch.save({**saved, "extra": _Payload(str(marker))}, ckpt)
    fill = {"{ckpt}": str(run / "checkpoints" / "last.ckpt"), "{run}": str(run), "{logdir}": str(tmp_path / "logs")}
    argv = [fill.get(a, a) for a in command[1:]] + ["--out", str(tmp_path / "out")] * (command[0] == "visualize.py")
    main = train.main if command[0] == "train.py" else visualize.main
    code = main(argv + ["--logdir", str(tmp_path / "logs")] * (command[0] == "train.py"))
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "could run code" in err
    assert code == (0 if command[1] == "report" else 2)


def test_resume_last_with_no_runs(tmp_path, capsys):
    assert train.main(["--model", "lenet", "--logdir", str(tmp_path), "--resume"]) == 2
    assert "no run of lenet" in capsys.readouterr().err


@pytest.mark.slow
def test_stop_before_any_epoch_finished_says_so_and_leaves_no_run_folder(folder_data, tmp_path, monkeypatch, capsys):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C stops at once: same message, same code
    monkeypatch.setattr(StopOnCtrlC, "on_train_batch_start", on_train_batch_start, raising=False)
    assert train.main(tiny_args(folder_data, tmp_path / "my logs")) == 130
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "--resume" not in err
    assert list((tmp_path / "my logs").iterdir()) == []  # neither the run folder nor an empty lenet/


@pytest.mark.slow
def test_resume_hint_quotes_a_logdir_with_spaces(folder_data, tmp_path, monkeypatch, capsys):
    interrupt_during_epoch_2(monkeypatch, signal.SIGINT)
    assert train.main(tiny_args(folder_data, tmp_path / "my logs")) == 130
    hint = capsys.readouterr().err.strip().splitlines()[-1]
    import shlex
    command = shlex.split(hint.split("Continue this run with: ")[1])
    assert command[-2:] == ["--resume", str(tmp_path / "my logs" / "lenet" / "version_0")]


def test_sigterm_while_decoding_the_data_is_a_clean_stop(tmp_path, monkeypatch, capsys):
    from conftest import write_folder_tree
    from datamodules import folder

    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    decode = folder._decode

    def terminated(items, *args):
        os.kill(os.getpid(), signal.SIGTERM)
        return decode(items, *args)
    monkeypatch.setattr(folder, "_decode", terminated)
    assert train.main(tiny_args(root, tmp_path / "logs")) == 130
    err = capsys.readouterr().err
    assert "stopped before training started; " in err and "nothing to resume" in err
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_a_failed_checkpoint_write_is_a_one_line_error(folder_data, tmp_path, monkeypatch, capsys):
    real_save, calls = torch.save, []

    def failing(obj, f, *a, **kw):  # what torch.save's zip writer raises when the disk fills up
        calls.append("state_dict" in obj)
        if sum(calls) > 2:  # epoch 1's best and last go through; epoch 2's first checkpoint fails
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 8 vs 0")
        return real_save(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", failing)
    assert train.main(tiny_args(folder_data, tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.py: error:" in err and ".ckpt" in err and "--resume" in err
    assert err.split("--logdir. ", 1)[1][:1].isupper()  # what the stop keeps: a sentence of its own (stops.sentence)


@pytest.mark.slow
def test_resume_without_metrics_json_takes_the_settings_from_the_checkpoint(folder_data, tmp_path, monkeypatch,
                                                                            capsys):
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT)
        assert train.main(tiny_args(folder_data, tmp_path, "--seed", "7")) == 130
    run_dir = tmp_path / "lenet" / "version_0"
    (run_dir / "metrics.json").write_text('{"valid": "json", "of the wrong shape": []}')
    capsys.readouterr()
    assert train.main(["--model", "lenet", "--logdir", str(tmp_path), "--resume"]) == 0
    assert capsys.readouterr().out.count("is not a metrics.json written by train.py") == 1  # warned once
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["seed"] == 7 and "--seed 7" in m["command"] and m["data"]["val"] == 20
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["datamodule_hyper_parameters"]["seed"] == 7


def test_resume_of_a_run_folder_needs_no_model_flag(folder_data, tmp_path, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGINT)
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT)
        assert train.main(tiny_args(folder_data, tmp_path)) == 130
    assert signal.getsignal(signal.SIGINT) is before
    run_dir = tmp_path / "lenet" / "version_0"
    before = json.loads((run_dir / "metrics.json").read_text())["epochs"]
    steps = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert train.main(["--resume", str(run_dir)]) == 0  # the model, data and logdir are the run's
    after = json.loads((run_dir / "metrics.json").read_text())
    assert after["status"] == "finished" and [e["epoch"] for e in after["epochs"]] == [1, 2]
    assert after["epochs"][0] == before[0]  # epoch 1 kept, not trained again
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2 * steps
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:  # 'last' of which model? it must be named
        train.main(["--resume"])
    assert e.value.code == 2 and "required: --model" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_from_a_checkpoint_outside_a_run_folder_starts_a_new_one(folder_data, unbroken, tmp_path, capsys):
    import shutil
    elsewhere = tmp_path / "saved" / "lenet-epoch2.ckpt"
    elsewhere.parent.mkdir()
    shutil.copy(unbroken / "checkpoints" / "last.ckpt", elsewhere)
    assert train.main(tiny_args(folder_data, tmp_path / "logs", "--epochs", "3", "--resume", str(elsewhere))) == 0
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["lenet-epoch2.ckpt"]
    m = json.loads((tmp_path / "logs" / "lenet" / "version_0" / "metrics.json").read_text())
    assert [e["epoch"] for e in m["epochs"]] == [3]


def test_logdir_that_is_a_file_is_a_one_line_error(folder_data, tmp_path, capsys):
    (tmp_path / "logs").write_text("not a folder")
    assert train.main(tiny_args(folder_data, tmp_path / "logs")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--logdir" in err


@pytest.mark.parametrize("sets, message", [
    (["momentum=0"], "nesterov=true needs a momentum above 0"),
    (["lr=0.1", "lr=0.2"], "--set lr is given twice"),
])
def test_settings_that_do_not_work_together_are_a_one_line_error_before_any_folder(sets, message, folder_data,
                                                                                    tmp_path, capsys):
    argv = ["--model", "vgg_bn", "--gpus", "0", "--data-dir", str(folder_data), "--logdir", str(tmp_path), "--set", *sets]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "vgg_bn").exists()


def test_an_optimizer_the_recipe_cannot_build_is_a_one_line_error(folder_data, tmp_path, monkeypatch, capsys):
    """Settings no rule foresaw: whatever building the model or optimizer raises is bad input too."""
    from core import recipe
    monkeypatch.setattr(recipe, "RULES_TOGETHER", ())
    argv = ["--model", "vgg_bn", "--gpus", "0", "--data-dir", str(folder_data), "--logdir", str(tmp_path),
            "--val-size", "20", "--set", "momentum=0"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "do not work together (Nesterov momentum requires a momentum" in err and err.count("\n") == 1
    assert not (tmp_path / "vgg_bn").exists()


def _misfit(ckpt_path) -> None:
    """The checkpoint with one weight of the wrong shape, as from another version of the network."""
    ckpt = torch.load(ckpt_path, weights_only=True)
    key = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][key] = torch.zeros(3)
    torch.save(ckpt, ckpt_path)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["train.py", "--resume", "{run}", "--epochs", "3"],
                                     ["visualize.py", "filters", "{run}"], ["visualize.py", "confusion", "{run}"]])
def test_a_checkpoint_that_does_not_fit_the_model_is_a_one_line_error_and_changes_no_record(command, tiny_runs,
                                                                                             tmp_path, capsys):
    import shutil

    import visualize

    run = tmp_path / "logs" / "lenet" / "version_0"
    shutil.copytree(tiny_runs / "lenet" / "version_0", run)
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        _misfit(ckpt)
    record = (run / "metrics.json").read_bytes()
    argv = [str(run) if a == "{run}" else a for a in command[1:]]
    if command[0] == "train.py":
        code = train.main(argv)
    else:
        code = visualize.main(argv + ["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert ".ckpt does not fit the lenet model: it has net.0.0.weight of shape (3,), the model needs (32, 3, 5, 5)" in err
    assert (run / "metrics.json").read_bytes() == record  # a failed resume leaves a finished run's record whole


@pytest.mark.slow
def test_disk_full_at_the_first_last_ckpt_keeps_the_run_and_names_the_checkpoint_that_was_saved(folder_data, tmp_path,
                                                                                                 monkeypatch, capsys):
    real_save, calls = torch.save, []

    def filling_disk(obj, f, *a, **kw):
        calls.append("state_dict" in obj)
        if sum(calls) > 1:  # epoch 1's best goes through, its last.ckpt hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", filling_disk)
    assert train.main(tiny_args(folder_data, tmp_path)) == 1
    err = capsys.readouterr().err
    run = tmp_path / "lenet" / "version_0"
    best = next((run / "checkpoints").glob("best-epoch01-*.ckpt"))
    assert f"last.ckpt was not saved. Continue from it with: python train.py --model lenet --resume {best}" in err
    assert err.count("kept") == 1 and (run / "metrics.json").exists()


@pytest.mark.slow
def test_a_resume_stopped_before_its_first_new_epoch_leaves_the_record_as_it_was(folder_data, unbroken, tmp_path,
                                                                                 monkeypatch):
    import shutil

    run = tmp_path / "lenet" / "version_0"
    shutil.copytree(unbroken, run)
    record = (run / "metrics.json").read_bytes()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 2 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(StopOnCtrlC, "on_train_batch_start", on_train_batch_start, raising=False)
    assert train.main(["--resume", str(run), "--epochs", "3"]) == 130
    assert (run / "metrics.json").read_bytes() == record  # still finished, with its two epochs and final


def test_seeds_given_twice_are_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as stop:
        train.main(["--model", "lenet", "--seeds", "0", "1", "0"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "seed 0 more than once" in err and err.count("\n") == 1


def test_seeds_that_stop_early_say_which_were_not_run(folder_data, tmp_path, capsys):
    argv = ["--model", "vgg_bn", "--gpus", "0", "--data-dir", str(folder_data), "--logdir", str(tmp_path),
            "--set", "momentum=0", "--seeds", "3", "4", "5"]
    assert train.main(argv) == 2
    assert "--seeds: stopped at seed 3; seeds 4 5 were not run" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_last_takes_the_newest_run_that_no_process_is_writing(unbroken, tmp_path, capsys):
    import shutil

    from core import run_folder

    for v in ("version_0", "version_1", "version_2"):
        shutil.copytree(unbroken, tmp_path / "lenet" / v)
    shutil.rmtree(tmp_path / "lenet" / "version_2" / "checkpoints")  # no last.ckpt: never a candidate
    epochs = lambda v: len(json.loads((tmp_path / "lenet" / v / "metrics.json").read_text())["epochs"])
    assert train.main(["--model", "lenet", "--logdir", str(tmp_path), "--resume", "--epochs", "3"]) == 0
    assert (epochs("version_0"), epochs("version_1")) == (2, 3)  # the newest, not the oldest

    lock = run_folder.writing(tmp_path / "lenet" / "version_1")  # as a train.py still writing it would
    lock.__enter__()
    try:
        assert train.main(["--model", "lenet", "--logdir", str(tmp_path), "--resume", "--epochs", "4"]) == 0
        assert (epochs("version_0"), epochs("version_1")) == (4, 3)
        capsys.readouterr()
        assert train.main(["--resume", str(tmp_path / "lenet" / "version_1"), "--epochs", "4"]) == 2
        assert "being written by another train.py" in capsys.readouterr().err
    finally:
        lock.__exit__(None, None, None)


@pytest.mark.slow
def test_resume_from_another_folder_finds_data_given_as_a_relative_path(folder_data, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(folder_data, tmp_path / "work" / "data")
    monkeypatch.chdir(tmp_path / "work")
    with monkeypatch.context() as m:
        interrupt_during_epoch_2(m, signal.SIGINT)
        assert train.main(tiny_args("data", "logs")) == 130
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert train.main(["--resume", str(tmp_path / "work" / "logs" / "lenet" / "version_0")]) == 0
    assert not (tmp_path / "elsewhere" / "data").exists()


@pytest.mark.slow
def test_a_copied_run_folder_resumes_exactly_as_the_original(folder_data, tmp_path):
    """`cp -r` a run to another logdir, resume both to 4 epochs: the same numbers, and the copy keeps
    one best checkpoint and one last.ckpt (Lightning saw a changed folder and dropped its best score)."""
    import shutil

    assert train.main(tiny_args(folder_data, tmp_path / "a")) == 0
    original, copy = tmp_path / "a" / "lenet" / "version_0", tmp_path / "b" / "lenet" / "version_0"
    shutil.copytree(original, copy)
    for run in (original, copy):
        assert train.main(["--resume", str(run), "--epochs", "4"]) == 0
    assert numbers(copy) == numbers(original)
    names = sorted(p.name for p in (copy / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("best-") and names[1] == "last.ckpt", names


def test_runs_that_list_the_folders_at_the_same_moment_still_claim_one_each(tmp_path, monkeypatch):
    """The race of runs started at once for one logdir, made certain: every run lists the folders before
    any creates one (the 2-process runs of test_scale.py rarely meet it), and each still gets its own."""
    from core import run_folder

    monkeypatch.setattr(run_folder, "versions", lambda logdir, model: [])  # what each saw: nothing yet
    claimed = [run_folder.claim_version(tmp_path, "lenet") for _ in range(3)]
    assert claimed == ["version_0", "version_1", "version_2"]
    assert sorted(p.name for p in (tmp_path / "lenet").iterdir()) == claimed
