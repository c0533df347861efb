"""What a model gets wrong, drawn: its highest-loss test images (with Grad-CAM heatmaps for the
predicted and the true class beside each), per-class precision/recall/F1 as bars, and the
reliability diagram. The numbers come in (inference/mistakes.py, inference/cam.py); the report's
PNGs and TensorBoard's images are these same figures."""
from __future__ import annotations

from typing import Sequence

from figures.style import plt


def _show(ax, image, title: str = "", heat=None) -> None:
    ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    if heat is not None:
        ax.imshow(heat.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def mistakes_figure(images, rows: Sequence[dict], name: str, cams=None):
    """`rows` (inference/mistakes.worst) with their uint8 `images`; with `cams` ((pred heatmaps,
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


def reliability_figure(cal: dict, name: str):
    """Accuracy against mean confidence per bin (the diagonal is perfect calibration), with the
    share of images in each bin below."""
    edges = cal["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.6, 5), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    filled = [i for i, s in enumerate(cal["share"]) if s > 0]
    top.bar([centres[i] for i in filled], [cal["accuracy"][i] for i in filled], width * 0.95, label="accuracy")
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    top.plot([cal["confidence"][i] for i in filled], [cal["accuracy"][i] for i in filled], "o", ms=3, color="C1",
             label="mean confidence")
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
            title=f"{name}: reliability diagram\nexpected calibration error {100 * cal['ece']:.2f}%")
    top.legend(fontsize=7, loc="upper left")
    bottom.bar(centres, [100 * s for s in cal["share"]], width * 0.95, color="C7")
    bottom.set(xlabel="confidence (top-1 softmax probability)", ylabel="% of images")
    return fig
