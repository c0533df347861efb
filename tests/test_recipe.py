"""Experiments without editing code: every recipe key from the command line, checked, reaching its
owner; architecture switches; --seeds with mean and spread."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import train
from conftest import offline_args
from datamodules.images import ImageDataModule
from lit_modules import MODELS
from training.plan import plan_run
from training.run import Run


def other_value(default, spec):
    """A valid value of the key that is not its default."""
    if spec.choices:
        return next(c for c in spec.choices + ((None,) if spec.optional else ()) if c != default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        step = 2 if spec.odd else 1
        return default + step if spec.high is None or default + step <= spec.high else default - step
    if isinstance(default, float):
        high = spec.high if spec.high is not None else default + 1.0
        return (max(default, spec.low or 0.0) + high) / 2 if default < high else default / 2
    return "none"  # resnet18's weights: a start that needs no network


def keys_of(owner: str) -> list[tuple[str, str]]:
    return [(name, k) for name, cls in MODELS.items() for k, s in cls.all_specs().items() if s.owner == owner]


def recipe_with_every_key_changed(name: str, owner: str) -> tuple[dict, dict]:
    cls = MODELS[name]
    defaults, specs = cls.all_defaults(), cls.all_specs()
    wanted = {k: other_value(defaults[k], s) for k, s in specs.items() if s.owner == owner}
    pairs = [f"{k}={'none' if v is None else v}" for k, v in wanted.items()]
    return plan_run(["--model", name, *offline_args(name), "--set", *pairs]).groups, wanted


@pytest.mark.parametrize("name", list(MODELS))
def test_every_key_has_a_spec_and_a_default(name):
    cls = MODELS[name]
    assert set(cls.all_defaults()) == set(cls.all_specs())


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_key_set_on_the_command_line_reaches_the_model(name):
    groups, wanted = recipe_with_every_key_changed(name, "model")
    model = MODELS[name](**groups["model"])
    assert {k: model.hparams[k] for k in wanted} == wanted


@pytest.mark.parametrize("name", list(MODELS))
def test_every_data_key_set_on_the_command_line_reaches_the_data_module(name):
    groups, wanted = recipe_with_every_key_changed(name, "data")
    dm = ImageDataModule("unused", **groups["data"])
    assert {k: dm.hparams[k] for k in wanted} == wanted


@pytest.mark.parametrize("name", list(MODELS))
def test_every_trainer_key_set_on_the_command_line_reaches_the_trainer(name, tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger

    from callbacks.metrics_json import MetricsJSON

    cls = MODELS[name]
    wanted = {k: other_value(cls.all_defaults()[k], s) for k, s in cls.all_specs().items() if s.owner == "trainer"}
    plan = plan_run(["--model", name, "--gpus", "0", *offline_args(name), "--set", *(f"{k}={v}" for k, v in wanted.items())])
    trainer = Run(plan).trainer(TensorBoardLogger(tmp_path), MetricsJSON(None, {"command": ""}), None)
    assert trainer.max_epochs == wanted["epochs"]


def test_flags_and_set_agree_and_set_wins():
    groups = plan_run(["--model", "vgg_bn", "--lr", "0.1", "--no-augment", "--set", "lr=0.05", "tta=0"]).groups
    assert groups["model"]["lr"] == 0.05 and groups["model"]["tta"] == 0 and groups["data"]["augment"] is False


@pytest.mark.parametrize("pairs, message", [
    (["colour=red"], "unknown key 'colour'; valid keys: activation, aug_flip"),
    (["lr"], "write KEY=VALUE"),
    (["epochs=two"], "epochs takes an integer"),
    (["nesterov=maybe"], "nesterov takes true or false"),
    (["weight_decay=-1"], "weight_decay must be at least 0"),
    (["lr=0"], "lr must be greater than 0"),
    (["aug_flip=sideways"], "aug_flip must be one of random, alternate, none"),
    (["lr=inf"], "lr must be finite"),
])
def test_bad_overrides_are_one_line_errors(pairs, message, folder_data, capsys):
    assert train.main(["--model", "lenet", "--data-dir", str(folder_data), "--set", *pairs]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_show_defaults_lists_every_key_by_owner(capsys):
    assert train.main(["--model", "vgg_bn", "--show-defaults"]) == 0
    out = capsys.readouterr().out
    for header in ("model (network and LightningModule):", "data (data module):", "trainer (Trainer):"):
        assert f"\n{header}\n" in out
    for key in MODELS["vgg_bn"].all_defaults():
        assert f"\n  {key} " in out
    lines = out.splitlines()
    line = lambda key: next(ln for ln in lines if ln.startswith(f"  {key} "))
    assert line("optimizer").endswith("decoupled weight decay) [adam | sgd | adamw]")  # the choices; "none" only where allowed
    assert line("schedule").endswith("or none (constant) [warmup_linear | onecycle | cosine | none]")
    assert line("lr").endswith("peak learning rate")  # no choices to list
    widest = max(len(k) for k, spec in MODELS["vgg_bn"].all_specs().items() if spec.owner == "model")
    assert line("lr") == f"  {'lr':<{widest}}  {'0.2':<14} peak learning rate"  # an owner's keys line up


def vgg_params(widths=(32, 64, 128, 256), k=3, batchnorm=True) -> int:
    """vgg_bn's parameter count from its architecture: two convs per block, BatchNorm or biases."""
    total, c = 0, 3
    for w in widths:
        for c_in in (c, w):
            total += c_in * w * k * k + (2 * w if batchnorm else w)
        c = w
    return total + c * 10 + 10


@pytest.mark.parametrize("overrides, widths, k, bn", [
    ({}, (32, 64, 128, 256), 3, True),
    ({"batchnorm": False}, (32, 64, 128, 256), 3, False),
    ({"width": 0.5}, (16, 32, 64, 128), 3, True),
    ({"kernel_size": 5, "batchnorm": False}, (32, 64, 128, 256), 5, False),
])
def test_vgg_switches_change_the_network(overrides, widths, k, bn):
    model = MODELS["vgg_bn"](**overrides)
    assert model.param_counts()["total"] == vgg_params(widths, k, bn)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == bn
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_vgg_dropout_and_lenet_switches():
    assert any(isinstance(m, nn.Dropout) for m in MODELS["vgg_bn"](dropout=0.3).modules())
    assert not any(isinstance(m, nn.Dropout) for m in MODELS["vgg_bn"]().modules())
    strided = MODELS["lenet"](downsample="stride", activation="tanh")
    assert strided.param_counts()["total"] == 390_410  # the same weights, no pooling layers
    assert not any(isinstance(m, (nn.MaxPool2d, nn.ReLU)) for m in strided.modules())
    assert sum(isinstance(m, nn.Tanh) for m in strided.modules()) == 4
    assert strided(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.slow
def test_seeds_make_one_run_each_and_report_mean_and_spread(folder_data, tmp_path, capsys):
    import visualize

    argv = ["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "32", "--val-size", "20",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path), "--seeds", "3", "4", "--set", "lr=0.002"]
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    runs = sorted((tmp_path / "lenet").iterdir())
    records = [json.loads((r / "metrics.json").read_text()) for r in runs]
    assert [m["seed"] for m in records] == [3, 4] and all("--seeds" not in m["command"] for m in records)
    assert all(m["changes"] == {"epochs": 1, "batch_size": 32, "val_size": 20, "lr": 0.002} for m in records)
    assert all(m["recipe"]["model"]["lr"] == 0.002 and m["recipe"]["trainer"] == {"epochs": 1} for m in records)
    assert "lenet over seeds 3 4:" in out and "test accuracy:" in out and "(n=2:" in out
    assert visualize.main(["table", *map(str, runs)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 3 and "2 (seeds 3 4)" in rows[2] and "±" in rows[2]


@pytest.mark.parametrize("pair, message", [
    ("momentum=1.5", "--set momentum=1.5: momentum must be at most 1 and at least 0"),
    ("weight_decay=-1", "--set weight_decay=-1: weight_decay must be at least 0"),
    ("kernel_size=4", "--set kernel_size=4: kernel_size must be odd"),
    ("lr=inf", "lr must be finite"), ("weight_decay=-inf", "weight_decay must be finite"),
    ("lr=0", "lr must be greater than 0"),
    ("schedule=step", "schedule must be one of warmup_linear, onecycle, cosine, none"),
    ("optimizer=rmsprop", "optimizer must be one of adam, sgd, adamw"),
    ("lr=abc", "lr takes a number"), ("epochs=1.5", "epochs takes an integer"),
    ("batchnorm=maybe", "batchnorm takes true or false"),
    ("lr=1=2", "--set lr=1=2: lr takes a number"),  # the first '=' splits key from value
])
def test_each_rule_of_a_key_says_what_is_wrong(pair, message):
    from core import recipe
    from core.errors import UserError

    cls = MODELS["vgg_bn"]
    with pytest.raises(UserError) as e:
        recipe.apply_overrides(cls.all_defaults(), cls.all_specs(), [pair])
    assert message in str(e.value)


@pytest.mark.parametrize("pair, value", [("momentum=1", 1.0), ("weight_decay=0", 0.0), ("kernel_size=5", 5),
                                          ("schedule=none", None), ("batchnorm=off", False)])
def test_values_on_a_rules_edge_are_taken(pair, value):
    from core import recipe

    cls = MODELS["vgg_bn"]
    key = pair.split("=")[0]
    assert recipe.apply_overrides(cls.all_defaults(), cls.all_specs(), [pair])[key] == value


def test_every_flag_of_a_key_is_made_from_the_key(capsys):
    """A flag that sets a recipe key is generated from its Key: dest, rule, and a switch's value."""
    from core.recipe import flag_keys

    flags = {k: f for cls in MODELS.values() for k, f in flag_keys(cls.all_specs()).items()}
    assert flags == {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "optimizer": "--optimizer",
                     "augment": "--no-augment", "val_size": "--val-size", "weights": "--weights"}
    assert train.parse_args(["--model", "lenet", "--val-size", "1"]).val_size == 1  # the rule's edge is taken
    assert train.parse_args(["--model", "lenet", "--no-augment"]).augment is False
    with pytest.raises(SystemExit):
        train.parse_args(["--model", "lenet", "--val-size", "0"])
    assert "argument --val-size: must be at least 1, got 0" in capsys.readouterr().err


def test_row_keys_drop_the_final_prefix():
    from core.run_folder import row_key

    assert row_key("val/acc") == row_key("best_val/acc") == "val_acc"
    assert row_key("best_test/loss") == "test_loss"
