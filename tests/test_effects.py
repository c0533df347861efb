"""Promises checked by what they do, not by what is stored: TTA against logits computed by hand,
label smoothing in the training objective, the seed in the initial weights, the figures' contents,
the optimizer keys in the update, the schedule's learning rates, the augmentation options in the
batch, atomic writes under a failing disk."""
from __future__ import annotations

import json
import os

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import train
from conftest import offline_args
from core.run_folder import write_json
from datamodules.augment import random_crop_flip
from lit_modules import MODELS
from lit_modules.optim import make_optimizer, warmup_linear
from figures.confusion import confusion_counts, confusion_figure


@pytest.fixture
def lenet():
    torch.manual_seed(0)
    return MODELS["lenet"]().eval()


def test_tta_levels_equal_logits_computed_by_hand(lenet):
    x = torch.randn(4, 3, 32, 32)
    n = x.shape[-1]
    mirror = lambda t: t[..., torch.arange(n - 1, -1, -1)]  # left-right: the width axis
    up_left = torch.tensor([1] + list(range(n - 1)))          # one pixel, reflected at the border
    down_right = torch.tensor(list(range(1, n)) + [n - 2])
    shift = lambda t, idx: t[:, :, idx][:, :, :, idx]
    f = lambda t: lenet(t)
    with torch.no_grad():
        level1 = 0.5 * (f(x) + f(mirror(x)))
        a, b = shift(x, up_left), shift(x, down_right)
        level2 = 0.5 * level1 + 0.25 * (0.5 * (f(a) + f(mirror(a))) + 0.5 * (f(b) + f(mirror(b))))
        assert torch.equal(lenet.logits_with_tta(x, 0), f(x))
        assert torch.allclose(lenet.logits_with_tta(x, 1), level1, atol=1e-6)
        assert torch.allclose(lenet.logits_with_tta(x, 2), level2, atol=1e-6)


def _one_step(model, x, y, **trainer_kw):
    """The loss the module's own training step returns for batch (x, y), in a real Trainer."""
    seen = []

    class Grab(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(outputs["loss"].detach())
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", callbacks=[Grab()], **trainer_kw)
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=len(y)))
    return seen[0]


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_label_smoothing_is_in_the_training_objective(smoothing):
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    model = MODELS["lenet"](label_smoothing=smoothing)
    with torch.no_grad():
        expected = F.cross_entropy(model(x), y, label_smoothing=smoothing)  # the weights before the step
    assert torch.allclose(_one_step(model, x, y), expected, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_seed_sets_the_initial_weights(name, folder_data, tmp_path, monkeypatch):
    """Same seed, same initial weights; another seed, other weights (weights, not metrics: the seed
    also moves the validation split)."""
    import pytorch_lightning as pl

    from training.plan import plan_run
    from training.run import Run

    weights = []
    for seed in (0, 0, 1):
        argv = ["--model", name, "--gpus", "0", "--seed", str(seed), "--val-size", "20",
                "--data-dir", str(folder_data), "--logdir", str(tmp_path), *offline_args(name)]
        run = Run(plan_run(argv))
        pl.seed_everything(seed, workers=True, verbose=False)  # as Run.execute does first
        model = run.build_model(run.load_data())
        weights.append({k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_confusion_counts_rows_are_the_true_class():
    labels, preds = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 0, 1, 1, 2, 0])
    assert confusion_counts(labels, preds, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 1, 1]]


def test_the_confusion_figure_draws_each_count_in_its_cell():
    cm = torch.tensor([[5, 1, 0], [2, 7, 3], [0, 0, 9]])
    fig = confusion_figure(cm, ["a", "b", "c"], "m", 0)
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text()) for t in ax.texts}
    assert cells == {(i, j): int(cm[i, j]) for i in range(3) for j in range(3)}  # (row = y, column = x)
    assert ax.get_ylabel().startswith("true class") and ax.get_xlabel() == "predicted"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a (83%)", "b (58%)", "c (100%)"]
    assert "80.56% mean per-class accuracy" in ax.get_title()


def test_the_weight_grid_shows_each_filter_scaled_on_its_own():
    from figures.filters import weight_grid

    w = torch.stack([torch.full((3, 2, 2), float(i)) + torch.arange(4.).view(1, 2, 2) * (i + 1) for i in range(4)])
    grid = weight_grid(w, min_size=2)  # 2x2 grid of 2x2 tiles, 1-pixel borders
    for i in range(4):
        r, c = divmod(i, 2)
        tile = grid[:, 1 + 3 * r:3 + 3 * r, 1 + 3 * c:3 + 3 * c]
        expected = (w[i] - w[i].min()) / (w[i].max() - w[i].min())
        assert torch.allclose(tile, expected), i


@pytest.mark.parametrize("key, value", [("weight_decay", 0.1), ("momentum", 0.0), ("nesterov", True)])
def test_the_optimizer_keys_change_the_update(key, value):
    """Two steps of SGD on one weight, against the update rule written out."""
    base = dict(optimizer="sgd", lr=0.1, weight_decay=0.0, momentum=0.9, nesterov=False)
    hp = type("HP", (), {**base, key: value})
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = make_optimizer([{"params": [p]}], hp, torch.device("cpu"))
    grad, buf, w = torch.tensor([0.5]), None, torch.tensor([1.0])
    for _ in range(2):
        p.grad = grad.clone()
        opt.step()
        g = grad + hp.weight_decay * w
        buf = g if buf is None else hp.momentum * buf + g
        w = w - hp.lr * ((g + hp.momentum * buf) if hp.nesterov else buf)
    assert torch.allclose(p.detach(), w)


def test_the_schedule_warms_up_then_decays_linearly():
    f = warmup_linear(total_steps=10, warmup=0.2, start=0.1, end=0.05)
    assert [round(f(s), 4) for s in range(11)] == [0.1, 0.55, 1.0, 0.8812, 0.7625, 0.6438, 0.525, 0.4062,
                                                    0.2875, 0.1688, 0.05]


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_the_crop_pads_the_way_aug_pad_mode_says(mode):
    torch.manual_seed(0)
    images = torch.randint(1, 255, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(images, padding=2, mode=mode, flip=False)
    padded = F.pad(images.float(), (2, 2, 2, 2), mode=mode).to(torch.uint8)
    windows = padded.unfold(2, 8, 1).unfold(3, 8, 1).permute(0, 2, 3, 1, 4, 5)  # every 8x8 crop
    for i in range(len(images)):
        assert (windows[i] == out[i]).flatten(2).all(-1).any(), i
    assert bool((out == 0).any()) == (mode == "constant")  # zeros only from zero padding (pixels are 1..254)
    assert not all(torch.equal(out[i], images[i]) for i in range(len(images)))  # it does crop


def test_the_flip_mirrors_left_right_and_only_when_asked():
    images = torch.arange(16 * 3 * 4 * 4, dtype=torch.uint8).view(16, 3, 4, 4)
    assert torch.equal(random_crop_flip(images, padding=0, flip=False), images)
    torch.manual_seed(0)
    out = random_crop_flip(images, padding=0, flip=True)
    mirrored = [torch.equal(out[i], images[i].flip(-1)) for i in range(16)]
    assert all(m or torch.equal(out[i], images[i]) for i, m in enumerate(mirrored))
    assert 0 < sum(mirrored) < 16


def test_a_json_write_that_fails_half_way_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"epochs": [1]})
    real = os.replace

    def full_disk(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        write_json(path, {"epochs": [1, 2]})
    monkeypatch.setattr(os, "replace", real)
    assert json.loads(path.read_text()) == {"epochs": [1]}


def _tiny(folder_data, tmp_path, *extra: str) -> list[str]:
    return ["--model", "lenet", "--gpus", "0", "--epochs", "2", "--batch-size", "32", "--val-size", "20",
            "--data-dir", str(folder_data), "--logdir", str(tmp_path), *extra]


class _Seen(pl.Callback):
    """What the Trainer and the process looked like while fitting, and metrics.json at each epoch start."""

    def __init__(self):
        self.seen = {}
        self.records = []

    def on_train_start(self, trainer, pl_module):
        self.seen.update(deterministic=torch.are_deterministic_algorithms_enabled(), precision=trainer.precision)

    def on_train_epoch_start(self, trainer, pl_module):
        path = trainer.logger.log_dir + "/metrics.json"
        self.records.append(json.loads(open(path).read()) if os.path.exists(path) else None)


@pytest.mark.parametrize("flags, expected", [
    ([], {"deterministic": False, "precision": "32-true"}),
    (["--deterministic"], {"deterministic": True, "precision": "32-true"}),
    (["--precision", "bf16-mixed"], {"deterministic": False, "precision": "bf16-mixed"}),
])
def test_deterministic_and_precision_flags_reach_the_training(flags, expected, folder_data, tmp_path):
    from conftest import trainer_callback

    with trainer_callback(_Seen()) as seen:
        assert train.main(_tiny(folder_data, tmp_path, *flags)) == 0
    assert {k: seen.seen[k] for k in expected} == expected


def test_metrics_json_holds_every_finished_epoch_while_the_run_goes_on(folder_data, tmp_path):
    from conftest import trainer_callback

    with trainer_callback(_Seen()) as seen:
        assert train.main(_tiny(folder_data, tmp_path, "--epochs", "3")) == 0
    at_epoch_start = [(r["status"], [e["epoch"] for e in r["epochs"]]) if r else None for r in seen.records]
    assert at_epoch_start == [None, ("running", [1]), ("running", [1, 2])]


def test_compile_compiles_the_network_in_place(folder_data, tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    assert train.main(_tiny(folder_data, tmp_path, "--compile", "--epochs", "1")) == 0
    assert compiled == ["Sequential"]  # lenet's net, so the module's state_dict keys stay the same


def test_a_read_only_data_folder_caches_under_the_home_folder(tmp_path, monkeypatch):
    """The writability check is patched, not chmod: the suite may run as root, who can write anyway."""
    from conftest import write_folder_tree
    from datamodules import folder, sources

    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    real = os.access
    monkeypatch.setattr(folder.os, "access", lambda p, mode: False if os.path.samefile(p, root) else real(p, mode))
    sources.load(root)
    assert not list(root.glob("*.pt"))
    cached = list((tmp_path / "home" / ".cache" / "cifar10-lightning").glob("*.pt"))
    assert len(cached) == 1
    monkeypatch.setattr(folder, "_decode", lambda *a, **k: pytest.fail("decoded again despite the cache"))
    sources.load(root)


def test_lenets_architecture_table_is_the_assignments_table_1():
    from report.architecture import architecture_table

    conv = lambda c_in, c_out: c_in * c_out * 25 + c_out  # 5x5 kernels and a bias
    rows = [("net.0.0 (Conv2d)", "32x32x32", "ReLU", conv(3, 32)), ("net.0.2 (MaxPool2d)", "32x16x16", "", 0),
            ("net.1.0 (Conv2d)", "64x16x16", "ReLU", conv(32, 64)), ("net.1.2 (MaxPool2d)", "64x8x8", "", 0),
            ("net.2.0 (Conv2d)", "128x8x8", "ReLU", conv(64, 128)), ("net.2.2 (MaxPool2d)", "128x4x4", "", 0),
            ("net.3 (Flatten)", "2048", "", 0), ("net.4 (Linear)", "64", "ReLU", 2048 * 64 + 64),
            ("net.6 (Linear)", "10", "", 64 * 10 + 10)]
    expected = ["| layer | output shape | activation | parameters |", "|---|---|---|---|", "| input | 3x32x32 | | |"]
    expected += [f"| {a} | {b} | {c} | {d:,} |" for a, b, c, d in rows]
    expected.append(f"| **total** | | | **{sum(r[3] for r in rows):,}** |")
    assert architecture_table(MODELS["lenet"]()).splitlines() == expected


def test_training_details_say_what_the_recipe_did():
    from report.tables import training_details

    record = {"command": "python train.py --model vgg_bn", "epochs": [{}] * 3, "seed": 5, "device": "cpu",
              "precision": "32", "hparams": {"epochs": 10, "batch_size": 256, "aug_pad_mode": "reflect",
                                             "aug_flip": "alternate"},
              "data": {"dataset": "cifar10", "source": "a copy", "train": 45000, "val": 5000, "test": 10000}}
    model = MODELS["vgg_bn"](tta=2)
    lines = dict(line[4:].split("**: ", 1) for line in training_details(record, model).splitlines())
    assert lines["optimizer"] == "sgd (lr 0.2, weight decay 0.0005, momentum 0.9, nesterov True)"
    assert lines["learning-rate schedule"] == ("per step: linear warmup from 0.1x to 1x over 15% of the steps, "
                                               "then linear decay to 0.0x")
    assert lines["epochs"] == "3 of 10" and lines["batch size"] == "256"
    assert lines["loss"] == "cross-entropy, label smoothing 0.1"
    assert lines["augmentation"] == ("random crop 32x32 after 4-pixel reflect padding + alternating horizontal flip, "
                                     "per batch on the device")
    assert lines["test-time augmentation"] == "flip + 1-pixel translations (final val/test scoring only)"
    assert lines["data"] == "cifar10, 10 classes, a copy: 45,000 train / 5,000 val / 10,000 test"
    assert lines["seed, device, precision"] == "5, cpu, 32"
    plain = dict(line[4:].split("**: ", 1) for line in training_details(
        {**record, "command": "python train.py --model lenet --no-augment"}, MODELS["lenet"]()).splitlines())
    assert plain["augmentation"] == "none" and plain["learning-rate schedule"] == "constant learning rate"
    assert plain["optimizer"] == "adam (lr 0.001, weight decay 0)" and plain["initialisation"] == "PyTorch defaults"
    older = {**record, "hparams": {"aug_flip": "none"}}  # a record without `augment`: augmentation was on
    r9 = MODELS["resnet9"](tta=1)
    details = dict(line[4:].split("**: ", 1) for line in training_details(older, r9).splitlines())
    assert details["augmentation"] == "random crop 32x32 after 2-pixel reflect padding, per batch on the device"
    assert details["test-time augmentation"] == "horizontal flip (final val/test scoring only)"
    assert details["initialisation"] == f"PyTorch defaults; {r9.init_note}"


def _fp16_trainer(steps: int, callbacks=(), root=None):
    """16-mixed with its gradient scaler, on the CPU: Lightning's plugin drives the real scaler here
    (train.py refuses --precision 16-mixed on the CPU, where the flag alone would run bf16 unscaled)."""
    from pytorch_lightning.plugins.precision import MixedPrecision

    from callbacks.nonfinite import StopOnNonFiniteLoss
    return pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", default_root_dir=root,
                      plugins=[MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))],
                      callbacks=[StopOnNonFiniteLoss(), *callbacks])


class _Batches(pl.LightningDataModule):
    """Made-up batches, with the batch_size lookahead reads from a data module."""

    def __init__(self, x, y, batch_size: int = 8):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size)


@pytest.mark.slow  # fp16 kernels on the CPU are slow: 15 s
def test_16_mixed_skips_an_overflowing_step_and_the_run_goes_on(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    model = MODELS["lenet"](schedule="warmup_linear", warmup=0.5, lookahead=True)
    weight = model.net[0][0].weight
    seen = {}

    class Watch(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen[trainer.global_step] = (weight.detach().clone(), trainer.precision_plugin.scaler.get_scale())
    weight.register_hook(lambda g: g * float("inf") if model.trainer.global_step == 2 else g)  # step 3 overflows
    trainer = _fp16_trainer(6, [Watch()])
    trainer.fit(model, datamodule=_Batches(x, y))
    assert trainer.global_step == 6 and torch.isfinite(weight).all()  # not stopped as a diverged run
    assert torch.isfinite(model.train_loss_sum)
    assert torch.equal(seen[3][0], seen[2][0]) and not torch.equal(seen[2][0], seen[1][0])  # step 3 skipped
    assert seen[3][1] == seen[2][1] / 2  # by the scaler, which halved its scale
    assert model.lr_schedulers().last_epoch == trainer.global_step  # the schedule kept counting
    lookahead = next(c for c in trainer.callbacks if type(c).__name__ == "Lookahead")
    assert lookahead.total == 6 and all(torch.equal(v, model.net.state_dict()[k]) for k, v in lookahead.ema.items())

    path = tmp_path / "fp16.ckpt"
    trainer.save_checkpoint(path)
    resumed = _fp16_trainer(8, [Watch()])
    seen.clear()
    resumed.fit(MODELS["lenet"](schedule="warmup_linear", warmup=0.5, lookahead=True), datamodule=_Batches(x, y),
                ckpt_path=str(path))
    assert seen[6][1] == trainer.precision_plugin.scaler.get_scale()  # the scaler's state came back
