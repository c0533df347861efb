"""resnet18 transfer learning without a network: counts, freezing, BN mode, --weights handling."""
from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

import train
from core.errors import UserError
from lit_modules.resnet18 import ResNet18


@pytest.fixture(scope="module")
def model() -> ResNet18:
    torch.manual_seed(0)
    return ResNet18(weights="none")


def test_trainable_and_total_counts(model):
    assert model.param_counts() == {"total": 11_181_642, "trainable": 8_398_858}


def test_output_shape_for_a_cifar_batch(model):
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_frozen_batchnorm_stays_in_eval_mode(model):
    model.train()
    assert not model.net.backbone.bn1.training and not model.net.backbone.layer3[0].bn1.training
    assert model.net.backbone.layer4[0].bn1.training


@pytest.mark.slow
def test_a_training_run_keeps_the_frozen_batchnorm_statistics(tiny_runs):
    """In a Trainer, not only after an explicit model.train(): Lightning 2.x never calls it."""
    ckpt = torch.load(tiny_runs / "resnet18" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    tracked = {k.removeprefix("net.backbone.").removesuffix(".num_batches_tracked"): int(v)
               for k, v in ckpt["state_dict"].items() if k.endswith("num_batches_tracked")}
    assert len(tracked) == 20 and tracked["layer4.0.bn1"] == ckpt["global_step"] > 0
    assert all(n == 0 for k, n in tracked.items() if not k.startswith("layer4."))


def test_one_step_changes_only_layer4_and_fc(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 8_398_858
    model.train()
    loss = model.criterion(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("net.backbone.layer4.", "net.backbone.fc.")) for k in changed)
    assert any(k.startswith("net.backbone.fc.") for k in changed)


def test_state_dict_file_round_trips_through_weights_path(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)  # ImageNet-shaped: 1000-class fc
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    loaded = ResNet18(weights=str(tmp_path / "r18.pth")).net.backbone
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    assert torch.equal(loaded.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert loaded.fc.out_features == 10


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("hello"), "not a plain PyTorch state-dict file"),
    (lambda p: torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, p), "'conv1.weight' has shape (64, 3, 3, 3)"),
    (lambda p: torch.save(torchvision.models.resnet34(weights=None).state_dict(), p), "unexpected key 'layer1.2"),
])
def test_bad_weights_files_name_the_problem(make, message, tmp_path):
    path = tmp_path / "w.pth"
    make(path)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ResNet18(weights=str(path))


def test_imagenet_weights_offline_say_how_to_fix(monkeypatch, tmp_path, folder_data, capsys):
    def offline(*a, **kw):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    import torchvision.models._api as tv_api
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # an empty cache
    code = train.main(["--model", "resnet18", "--gpus", "0", "--data-dir", str(folder_data), "--val-size", "20",
                       "--logdir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--weights PATH" in err and str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in err
