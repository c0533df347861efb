"""The callbacks on their own: filter images to TensorBoard, the captures behind them, lookahead."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from callbacks.lookahead import BASE_DECAY, Lookahead


@pytest.mark.slow
def test_filter_images_of_the_best_checkpoint_reach_tensorboard_with_captions(folder_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import train
    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "2", "--batch-size", "32", "--val-size", "20",
                       "--data-dir", str(folder_data), "--logdir", str(tmp_path), "--filter-image", "3"]) == 0
    run_dir = tmp_path / "lenet" / "version_0"
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "tensors": 0}).Reload()
    best = json.loads((run_dir / "metrics.json").read_text())["final"]["epoch"]
    images = {t.split(" ", 1)[0].removeprefix("best/"): (t, events.Images(t)) for t in events.Tags()["images"]}
    assert sorted(images) == ["confusion", "filters/1", "filters/2", "filters/3", "filters/4", "mistakes", "per",
                              "reliability"]
    # The final test's 20 highest-loss images (5 a row of 32x32 tiles, 2-pixel borders, enlarged 3x), their
    # classes, the per-class table and the calibration error, at the best epoch.
    assert [e.step for e in images["mistakes"][1]] == [best] and images["mistakes"][1][0].width == 5 * 36 * 3
    import io

    import numpy as np
    import torch
    from PIL import Image

    from core import run_folder
    from figures.mistakes import tiles, worst
    from inference import trained

    run = trained.load(run_dir)
    pixels, labels = run.datamodule().test_set()
    probs = torch.load(run_dir / run_folder.PROBS, weights_only=True)["probs"]
    wanted = tiles(pixels[[r["index"] for r in worst(probs, labels, run.classes()[0], 20)]])
    shown = np.array(Image.open(io.BytesIO(images["mistakes"][1][0].encoded_image_string)).convert("RGB"))
    assert np.array_equal(shown, wanted.permute(1, 2, 0).numpy())  # those images, highest loss first
    # The per-class bars and the reliability diagram at the best epoch: the report's figures of the
    # saved test probabilities, pixel for pixel.
    from torch.utils.tensorboard._utils import figure_to_image

    from figures.calibration import calibration, reliability_figure
    from figures.mistakes import per_class, per_class_figure
    for key, fig in (("per", per_class_figure(per_class(probs, labels, run.classes()[0]), "lenet")),
                     ("reliability", reliability_figure(calibration(probs, labels), "lenet"))):
        tag, logged = images[key]
        shown = np.array(Image.open(io.BytesIO(logged[0].encoded_image_string)).convert("RGB"))
        assert [e.step for e in logged] == [best] and np.array_equal(shown, figure_to_image(fig)[:3].transpose(1, 2, 0))
    texts = {t: events.Tensors(t) for t in events.Tags()["tensors"] if t.startswith("best/") and "/text_summary" in t}
    table = texts["best/mistakes (test set)/text_summary"][0].tensor_proto.string_val[0].decode()
    assert table.count("\n| ") == 20 and [e.step for e in texts["best/per class (test set)/text_summary"]] == [best]
    assert "expected calibration error: " in texts["best/per class (test set)/text_summary"][0].tensor_proto.string_val[0].decode()
    tag, logged = images["filters/1"]
    assert [e.step for e in logged] == [best]  # the best checkpoint's, at its epoch
    assert tag.startswith("best/filters/1 test image 3 (") and (logged[0].width, logged[0].height) == (32, 32)
    # lenet: 32 first-conv maps of 32x32 in a 6x6 grid; the last conv block's 128 maps of 4x4 (after
    # its pooling), the 64 most active in an 8x8 grid, each enlarged to 32x32; 32 RGB 5x5 filters, each
    # enlarged to 20x20 (1-pixel borders).
    assert images["filters/2"][0] == "best/filters/2 first conv net.0.0: 32 maps 32x32"
    assert (images["filters/2"][1][0].width, images["filters/2"][1][0].height) == (6 * 33 + 1, 6 * 33 + 1)
    assert images["filters/3"][0] == "best/filters/3 last conv block net.2: 64 most active of 128 maps 4x4"
    assert images["filters/3"][1][0].width == 8 * 33 + 1
    assert images["filters/4"][1][0].width == 6 * 21 + 1
    caption = events.Tensors("best/filters/caption/text_summary")[0].tensor_proto.string_val[0].decode()
    assert f"best checkpoint (epoch {best})" in caption and "predicted" in caption


def test_filters_every_n_epochs_keeps_every_epochs_images_beside_the_best(folder_data, tmp_path, monkeypatch):
    """Per-epoch images at steps 1..3 and the best checkpoint's at an earlier step: none is lost."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import train
    from callbacks.epoch_checkpoints import EpochCheckpoints
    real = EpochCheckpoints.check_monitor_top_k
    monkeypatch.setattr(EpochCheckpoints, "check_monitor_top_k",  # the best is epoch 1, not the last
                        lambda self, trainer, current=None: trainer.current_epoch == 0 and real(self, trainer, current))
    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "3", "--batch-size", "32", "--val-size", "20",
                       "--data-dir", str(folder_data), "--logdir", str(tmp_path), "--filters-every", "1"]) == 0
    events = EventAccumulator(str(tmp_path / "lenet" / "version_0"), size_guidance={"images": 0, "tensors": 0}).Reload()
    steps = {t.split(" ", 1)[0]: [e.step for e in events.Images(t)] for t in events.Tags()["images"]}
    assert steps["filters/2"] == [1, 2, 3] and steps["best/filters/2"] == [1]
    assert [e.step for e in events.Tensors("filters/caption/text_summary")] == [1, 2, 3]
    # The event files as written (EventAccumulator above already dropped what TensorBoard drops):
    # in every folder of the run, no tag goes back to a lower step, images, text and scalars alike.
    written = steps_as_written(tmp_path / "lenet" / "version_0")
    assert {"filters/2", "best/filters/2", "about", "acc"} <= {tag for _, tag in written}
    assert all(steps == sorted(steps) for steps in written.values())


def steps_as_written(run_dir):
    """(folder, tag) -> steps in the order the run's event files hold them."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    def order(path):  # events.out.tfevents.<time>.<host>.<pid>.<n>: by time, then by the writer's number
        parts = path.name.split(".")
        return int(parts[3]), int(parts[-1])

    written: dict[tuple[str, str], list[int]] = {}
    for folder in [run_dir] + sorted(p for p in run_dir.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("events.out.tfevents.*"), key=order):
            for event in EventFileLoader(str(file)).Load():
                for value in event.summary.value:
                    tag = value.tag.split(" ", 1)[0].removesuffix("/text_summary").removesuffix("/image_summary")
                    written.setdefault((folder.name, tag), []).append(event.step)
    return written


def test_capture_finds_resnet18s_first_conv_and_last_conv_block():
    import torch

    from figures.filters import activation_grid, capture
    from lit_modules.resnet18 import ResNet18
    cap = capture(ResNet18(weights="none"), torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    assert cap["first_name"] == "net.backbone.conv1" and cap["first"].shape == (64, 128, 128)
    assert cap["last_name"] == "net.backbone.layer4" and cap["last"].shape == (512, 8, 8)  # 3f: layer4's output
    assert cap["weights"].shape == (64, 3, 7, 7)
    assert activation_grid(cap["last"], k=64).shape == (3, 8 * 9 + 1, 8 * 9 + 1)




def lookahead_at(callback: Lookahead, net: nn.Module, step: int, total: int = 100) -> None:
    trainer = SimpleNamespace(global_step=step, estimated_stepping_batches=total,
                              datamodule=SimpleNamespace(batch_size=512))  # every 10 steps
    module = SimpleNamespace(net=net)
    callback.on_train_batch_end(trainer, module, None, None, 0)


def test_lookahead_pulls_the_weights_to_their_ema_every_few_steps_and_fully_at_the_end():
    net, la = nn.Linear(2, 2), Lookahead()
    lookahead_at(la, net, 10)  # the first lookahead step starts the EMA at the current weights
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    lookahead_at(la, net, 15)  # not a lookahead step: nothing happens
    assert torch.equal(net.weight, start + 1)
    lookahead_at(la, net, 20)
    decay = BASE_DECAY * 0.2 ** 3
    assert torch.allclose(net.weight, start + (1 - decay)) and torch.equal(la.ema["weight"], net.weight)
    with torch.no_grad():
        net.weight.add_(5.0)
    lookahead_at(la, net, 100)  # the last step: the weights become the EMA, which stays as it was
    assert torch.allclose(net.weight, start + (1 - decay))


def test_lookahead_state_travels_in_checkpoints_old_and_new():
    net, la = nn.Linear(2, 2), Lookahead()
    lookahead_at(la, net, 10)
    restored = Lookahead()
    restored.load_state_dict(la.state_dict())
    assert torch.equal(restored.ema["weight"], net.weight)
    old = Lookahead()  # checkpoints written before lookahead was a callback kept the EMA at the top level
    old.on_load_checkpoint(None, None, {"lookahead": la.ema})
    assert old.ema is la.ema
