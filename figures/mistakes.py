"""What a model gets wrong on its test set, from its probabilities: the images it is most wrong
about (highest loss), shown with Grad-CAM heatmaps for the predicted and the true class, and
per-class precision/recall/F1 (torchmetrics) as bars; with figures/calibration.py's reliability
diagram, `mistake_figures` is the set the report saves as PNG and TensorBoard shows at the best epoch.
"""
from __future__ import annotations

from typing import Sequence

import torch

from figures.style import plt


def losses(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image: the cross-entropy of its true class, -log p(true)."""
    return -probs.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12).log()


def worst(probs: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], n: int) -> list[dict]:
    """The n images with the highest loss, highest first: index, true and predicted class and the
    probability the model gave each."""
    loss = losses(probs, labels)
    out = []
    for i in loss.argsort(descending=True)[:n].tolist():
        pred, true = int(probs[i].argmax()), int(labels[i])
        out.append({"index": i, "true": classes[true], "pred": classes[pred], "p_true": float(probs[i, true]),
                    "p_pred": float(probs[i, pred]), "loss": float(loss[i])})
    return out


def per_class(probs: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]) -> list[dict]:
    """Per class: precision, recall, F1 and its number of images."""
    from torchmetrics.classification import MulticlassF1Score, MulticlassPrecision, MulticlassRecall

    k = len(classes)
    values = {name: metric(k, average=None)(probs, labels).tolist()
              for name, metric in (("precision", MulticlassPrecision), ("recall", MulticlassRecall),
                                   ("f1", MulticlassF1Score))}
    counts = torch.bincount(labels, minlength=k).tolist()
    return [{"class": c, "precision": values["precision"][i], "recall": values["recall"][i], "f1": values["f1"][i],
             "images": counts[i]} for i, c in enumerate(classes)]


def _show(ax, image, title: str = "", heat=None) -> None:
    ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    if heat is not None:
        ax.imshow(heat.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def mistakes_figure(images, rows: Sequence[dict], name: str, cams=None):
    """`rows` (`worst`) with their uint8 `images`; with `cams` ((pred heatmaps,
    true heatmaps)), each image is followed by its Grad-CAM for the predicted and the true class."""
    n = len(rows)
    per = 3 if cams is not None else 1
    cols = min(n, 5) * per if cams is not None else min(n, 10)
    fig_rows = -(-n * per // cols)
    fig, axes = plt.subplots(fig_rows, cols, figsize=(1.35 * cols, 1.6 * fig_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (img, r) in enumerate(zip(images, rows)):
        j = i * per
        _show(axes.flat[j], img, f"true {r['true']} {100 * r['p_true']:.0f}%\npred {r['pred']} {100 * r['p_pred']:.0f}%")
        if cams is not None:
            _show(axes.flat[j + 1], img, f"CAM: {r['pred']}", cams[0][i])
            _show(axes.flat[j + 2], img, f"CAM: {r['true']}", cams[1][i])
    fig.suptitle(f"{name}: the {n} test images with the highest loss" + (" and Grad-CAM" if cams is not None else ""),
                 fontsize=9)
    return fig


def per_class_figure(rows: Sequence[dict], name: str):
    """Grouped bars: precision, recall and F1 per class."""
    import numpy as np

    k = len(rows)
    x = np.arange(k)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * k), 3.4))
    for j, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (j - 1) * 0.27, [100 * r[key] for r in rows], 0.27, label=key if key != "f1" else "F1")
    ax.set_xticks(x, [r["class"] for r in rows], rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set(ylabel="%", ylim=(0, 100), title=f"{name}: per-class precision, recall and F1 (test set)")
    ax.legend(fontsize=8, ncols=3, loc="lower right")
    return fig


def mistake_figures(model, images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor, classes: Sequence[str],
                    name: str, n: int = 20) -> dict:
    """{"mistakes", "per class", "reliability"} -> figure, with the numbers behind them under
    "facts" (worst, per_class, calibration). Grad-CAM where the network has a conv block."""
    from figures.calibration import calibration, reliability_figure
    from figures.cam import grad_cam

    rows = worst(probs, labels, classes, n)
    picked = images[[r["index"] for r in rows]]
    cams = None
    if model.feature_block() is not None:
        index = {c: i for i, c in enumerate(classes)}
        cams = tuple(grad_cam(model, picked, torch.tensor([index[r[k]] for r in rows])) for k in ("pred", "true"))
    facts = {"worst": rows, "per_class": per_class(probs, labels, classes), "calibration": calibration(probs, labels)}
    return {"mistakes": mistakes_figure(picked, rows, name, cams), "per class": per_class_figure(facts["per_class"], name),
            "reliability": reliability_figure(facts["calibration"], name), "facts": facts}
