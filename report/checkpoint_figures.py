"""The report's figures that need a checkpoint and its data: first/last conv activations and
weights, and the test confusion matrix. `python visualize.py filters|confusion` is their CLI.
"""
from __future__ import annotations

from pathlib import Path

from callbacks.confusion import confusion_counts, confusion_figure
from report.figure import file_name, plt, save
from training import checkpoints


def figure_name(target: str | Path, model_name: str) -> str:
    """lenet-version_3: the model and its run folder, so that two runs' figures never share a file."""
    path = Path(target)
    run_dir = path.parent.parent if path.suffix == ".ckpt" else path
    return file_name(f"{model_name}-{run_dir.name}")


def _datamodule(ckpt: dict):
    """The data a checkpoint was trained on: the same folder, split and seed."""
    from datamodules.cifar10 import CIFAR10DataModule

    hp = ckpt.get("datamodule_hyper_parameters", {})
    dm = CIFAR10DataModule(hp.get("data_dir", "data"), val_size=hp.get("val_size", 5000), seed=hp.get("seed", 0),
                           dataset=hp.get("dataset", "cifar10"), resize_to=hp.get("resize_to"))
    dm.setup("fit")
    return dm


def plot_filters(target: str | Path, image: int, out: Path) -> list[Path]:
    from callbacks.filters import activation_grid, capture, weight_grid

    model, ckpt = checkpoints.load_model(target)
    dm = _datamodule(ckpt)
    pixels, label = dm.test_image(image)
    cap = capture(model, pixels)
    truth, guess = dm.classes[label], dm.classes[int(cap["logits"].argmax())]
    name = figure_name(target, model.name)
    panels = [("image_first", [(cap["image"], f"test image {image}: {truth} (predicted {guess})"),
                               (activation_grid(cap["first"]), f"first conv ({cap['first_name']}): "
                                f"{len(cap['first'])} maps of {cap['first'].shape[1]}x{cap['first'].shape[2]}")]),
              ("last", [(activation_grid(cap["last"]), f"last conv ({cap['last_name']}): the "
                         f"{min(64, len(cap['last']))} most active of {len(cap['last'])} maps")]),
              ("weights", [(weight_grid(cap["weights"]), f"first conv weights: {len(cap['weights'])} filters "
                            f"{cap['weights'].shape[2]}x{cap['weights'].shape[3]}, each scaled to [0, 1]")])]
    paths = []
    for suffix, items in panels:
        fig, axes = plt.subplots(1, len(items), figsize=(5.5 * len(items), 5.5), squeeze=False)
        for ax, (img, title) in zip(axes[0], items):
            ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.suptitle(name)
        paths.append(save(fig, out / f"{name}_filters_{suffix}.png"))
    return paths


def plot_confusion(target: str | Path, out: Path) -> Path:
    """Confusion matrix and per-class accuracy of the best checkpoint on the test set, with the
    model's TTA, as the run's final test accuracy was measured."""
    import torch

    model, ckpt = checkpoints.load_model(target)
    dm = _datamodule(ckpt)
    images, labels = dm.test_set()
    tta = model.hparams.get("tta", 0)
    with torch.no_grad():
        preds = torch.cat([model.logits_with_tta(model.normalize(images[i:i + 500]), tta).argmax(1)
                           for i in range(0, len(labels), 500)])
    cm = confusion_counts(labels, preds, len(dm.classes))
    name = figure_name(target, model.name)
    return save(confusion_figure(cm, dm.classes, model.name, tta), out / f"{name}_confusion.png")
