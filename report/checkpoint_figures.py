"""The report's figures that need a checkpoint and its data: first/last conv activations and
weights, and the test confusion matrix. `python visualize.py filters|confusion` is their CLI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from report.figure import plt, save
from training import checkpoints


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
    pixels, label = dm.val_image(image)
    cap = capture(model, pixels)
    truth, guess = dm.classes[label], dm.classes[int(cap["logits"].argmax())]
    name = model.name
    panels = [("image_first", [(cap["image"], f"validation image {image}: {truth} (predicted {guess})"),
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
        fig.suptitle(f"{name}")
        paths.append(save(fig, out / f"{name}_filters_{suffix}.png"))
    return paths


def confusion_counts(labels, preds, k: int):
    """k x k counts: row i is true class i, column j predicted class j."""
    import torch

    return torch.bincount(labels * k + preds, minlength=k * k).view(k, k)


def plot_confusion(target: str | Path, out: Path) -> Path:
    """Confusion matrix and per-class accuracy of the best checkpoint on the test set (no TTA)."""
    import torch

    model, ckpt = checkpoints.load_model(target)
    dm = _datamodule(ckpt)
    images, labels = dm.test_set()
    with torch.no_grad():
        preds = torch.cat([model(model.normalize(images[i:i + 500])).argmax(1) for i in range(0, len(labels), 500)])
    cm = confusion_counts(labels, preds, len(dm.classes))
    return save(confusion_figure(cm, dm.classes, model.name), out / f"{model.name}_confusion.png")


def confusion_figure(cm, classes: Sequence[str], name: str):
    """Up to 20 classes: the matrix with counts, classes named on both axes. More (CIFAR-100): the
    matrix as an image beside every class's accuracy, sorted."""
    k = len(classes)
    per_class = cm.diag() / cm.sum(1).clamp_min(1)
    title = f"{name}: test confusion matrix, {100 * per_class.mean():.2f}% mean per-class accuracy"
    rates = cm / cm.sum(1, keepdim=True).clamp_min(1)
    if k > 20:
        return _many_classes(rates, per_class, classes, title)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 * cm[i].sum() else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), [f"{c} ({100 * a:.0f}%)" for c, a in zip(classes, per_class.tolist())])
    ax.set(xlabel="predicted", ylabel="true class (per-class accuracy)", title=title)
    return fig


def _many_classes(rates, per_class, classes: Sequence[str], title: str):
    """Too many classes for numbers in cells: the matrix as an image, and the sorted accuracies."""
    k = len(classes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, max(6, 0.16 * k)), width_ratios=(3, 2))
    left.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    left.set(xlabel="predicted class index", ylabel="true class index", title="share of each true class")
    order = per_class.argsort(descending=True).tolist()
    right.barh(range(k), [100 * per_class[i].item() for i in order], color="tab:blue")
    right.set_yticks(range(k), [classes[i] for i in order], fontsize=max(4, min(8, 600 // k)))
    right.set_ylim(k - 0.5, -0.5)  # best at the top, no empty margin
    right.set(xlabel="accuracy (%)", xlim=(0, 100), title="per-class accuracy, best first")
    right.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return fig
