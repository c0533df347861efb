"""Every registered model (the tests loop over the registry): output shape, the network holding the
whole forward pass, checkpoints that rebuild it, a fast_dev_run through the real CLI; lenet's size."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import train
from conftest import cheap_args, offline_kwargs
from core.errors import UserError
from lit_modules import MODELS, get_model_class
from lit_modules.optim import OPTIMIZERS, make_optimizer
from training import checkpoints


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape(name):
    model = MODELS[name](**offline_kwargs(name))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_fast_dev_run_on_cpu(name, folder_data, tmp_path, capsys):
    code = train.main(["--model", name, "--gpus", "0", "--fast-dev-run", "--data-dir", str(folder_data),
                       "--val-size", "20", "--logdir", str(tmp_path / "logs"), "--batch-size", "8",
                       *cheap_args(name)])
    assert code == 0
    assert "done in" in capsys.readouterr().out
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("metrics.json"))


@pytest.mark.parametrize("name", list(MODELS))
def test_the_network_computes_the_whole_output(name):
    torch.manual_seed(0)
    model = MODELS[name](**offline_kwargs(name)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.net(x), model(x), rtol=1e-5, atol=1e-6)
        assert torch.equal(model.logits_with_tta(x, 0), model(x))


@pytest.mark.parametrize("name", list(MODELS))
def test_a_checkpoint_rebuilds_its_model_from_the_registry_name(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name](**offline_kwargs(name), lr=0.123)
    assert model.hparams.model == name == MODELS[name].name
    for saved in (name, type(model).__name__):  # older checkpoints recorded the class name
        path = tmp_path / f"{saved}.ckpt"
        torch.save({"hyper_parameters": {**model.hparams, "model": saved}, "state_dict": model.state_dict(),
                    "epoch": 2}, path)
        loaded, ckpt, _ = checkpoints.load_model(path)
        assert type(loaded) is type(model) and loaded.hparams.lr == 0.123 and loaded.hparams.model == name
        assert checkpoints.finished_epochs(ckpt) == 3
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(loaded(x), model.eval()(x))


@pytest.mark.parametrize("name", list(MODELS))
def test_tta_only_in_the_final_evaluation(name, monkeypatch):
    model = MODELS[name](**offline_kwargs(name))
    levels = []
    monkeypatch.setattr(model, "logits_with_tta", lambda x, level: levels.append(level) or torch.zeros(len(x), 10))
    monkeypatch.setattr(model, "log", lambda *a, **k: None)
    batch = (torch.zeros(2, 3, 32, 32), torch.tensor([0, 1]))
    model.validation_step(batch, 0, dataloader_idx=0)
    model.validation_step(batch, 0, dataloader_idx=1)
    model.test_step(batch, 0, dataloader_idx=0)
    model.test_step(batch, 0, dataloader_idx=1)
    assert levels == [0, 0, model.hparams.tta, model.hparams.tta]
    assert model.best_val_acc.update_count == model.best_test_acc.update_count == 1


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
    model = MODELS[name](schedule=None, lr=lr, **offline_kwargs(name))
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


def test_channels_last_models_run_in_nhwc():
    model = MODELS["vgg_bn"]()
    assert model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_epoch_train_loss_and_accuracy_are_over_every_training_image(folder_data, tmp_path):
    """The sums kept on the device during the epoch, last partial batch included, against the same
    numbers computed directly: weights held still (lr 1e-12, no augmentation) so both see one model."""
    import json

    import pytorch_lightning as pl

    from datamodules.images import ImageDataModule

    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "1", "--lr", "1e-12", "--no-augment",
                       "--batch-size", "48", "--val-size", "20", "--data-dir", str(folder_data),
                       "--logdir", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "lenet" / "version_0" / "metrics.json").read_text())["epochs"][0]
    pl.seed_everything(0, verbose=False)  # as train.py seeds before it builds the model
    dm = ImageDataModule(str(folder_data), val_size=20, seed=0)
    dm.setup("fit")
    model = MODELS["lenet"](**dm.model_inputs)
    images, labels = dm.arrays.train_images[dm.train_idx], dm.arrays.train_labels[dm.train_idx]
    assert len(labels) % 48  # the last batch is a partial one
    with torch.no_grad():
        logits = model(dm.normalize(images))
    assert row["train_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), abs=1e-5)
    assert row["train_acc"] == pytest.approx((logits.argmax(1) == labels).float().mean().item(), abs=1e-6)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizers_run_foreach_on_the_cpu_and_fused_on_a_gpu(optimizer):
    """foreach: a few ops for the whole network, and the per-tensor loop's numbers to the last bit."""
    hp = SimpleNamespace(optimizer=optimizer, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    params = [nn.Parameter(torch.zeros(2))]
    assert make_optimizer(params, hp, torch.device("cpu")).defaults["foreach"] is True
    assert make_optimizer(params, hp, torch.device("cuda")).defaults["fused"] is True  # built, never stepped here
