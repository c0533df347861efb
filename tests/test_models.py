"""Every registered model: output shape, a fast_dev_run through the real CLI; lenet's exact size."""
from __future__ import annotations

import pytest
import torch

import train
from lit_modules import MODELS, get_model_class
from errors import UserError

# Offline stand-ins for arguments that would fetch something (ImageNet weights).
OFFLINE_KWARGS = {"resnet18": {"weights": "none"}}
OFFLINE_ARGS = {"resnet18": ["--weights", "none"]}


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape(name):
    model = MODELS[name](**OFFLINE_KWARGS.get(name, {}))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", list(MODELS))
def test_fast_dev_run_on_cpu(name, folder_data, tmp_path, capsys):
    code = train.main(["--model", name, "--gpus", "0", "--fast-dev-run", "--data-dir", str(folder_data),
                       "--val-size", "20", "--logdir", str(tmp_path / "logs"), "--batch-size", "8",
                       *OFFLINE_ARGS.get(name, [])])
    assert code == 0
    assert "done in" in capsys.readouterr().out
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("metrics.json"))


@pytest.mark.parametrize("name", list(MODELS))
def test_defaults_are_complete(name):
    assert {"epochs", "batch_size", "lr", "optimizer"} <= set(MODELS[name].all_defaults())


def test_lenet_has_table1_parameter_count():
    counts = MODELS["lenet"]().param_counts()
    assert counts == {"total": 390_410, "trainable": 390_410}


@pytest.mark.parametrize("name", list(MODELS))
def test_one_optimizer_step_lowers_the_loss_on_a_fixed_batch(name):
    torch.manual_seed(0)
    # The model's own optimizer at the lr of its schedule's first step (the schedule needs a Trainer).
    d = MODELS[name].all_defaults()
    lr = d["lr"] * (d["start_lr_frac"] if d["schedule"] else 1)
    model = MODELS[name](schedule=None, lr=lr, **OFFLINE_KWARGS.get(name, {}))
    opt = model.configure_optimizers()
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    model.train()
    losses = []
    for _ in range(2):
        loss = model.criterion(model(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[1] < losses[0]


def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError, match="choose one of: lenet"):
        get_model_class("alexnet")
