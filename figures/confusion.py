"""The confusion matrix as a figure: TensorBoard's image at the end of a run (from the final
evaluation's counts) and the report's PNG (visualize.py confusion) draw the same one, from the
same counts (saved beside the run's record when its final test ends)."""
from __future__ import annotations

from typing import Sequence

from core.recipe import tta_name
from figures.style import plt


def confusion_counts(labels, preds, k: int):
    """k x k counts: row i is true class i, column j predicted class j."""
    import torch

    return torch.bincount(labels * k + preds, minlength=k * k).view(k, k)


def confusion_figure(cm, classes: Sequence[str], name: str, tta: int):
    """`cm`: k x k counts (row: true class, column: predicted), as from the model's `tta` level.
    Up to 20 classes: the matrix with counts, classes named on both axes. More (CIFAR-100): the
    matrix as an image beside every class's accuracy, sorted."""
    k = len(classes)
    per_class = cm.diag() / cm.sum(1).clamp_min(1)
    tta_words = "no TTA" if tta == 0 else f"{tta_name(tta)} TTA"
    title = (f"{name}: test confusion matrix ({tta_words})\n"
             f"{100 * per_class.mean():.2f}% mean per-class accuracy")
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
