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


def _overlay(image: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """uint8 (3, S, S) with a heatmap in [0, 1] blended over it (matplotlib's jet), uint8."""
    from matplotlib import colormaps

    colour = torch.from_numpy(colormaps["jet"](heat.numpy())[..., :3]).permute(2, 0, 1).float() * 255
    return (0.55 * image.float() + 0.45 * colour).round().clamp(0, 255).to(torch.uint8)


def tiles(images: torch.Tensor, cams=None, per_row: int = 5, scale: int = 3, band: int = 0) -> torch.Tensor:
    """One uint8 (3, H, W) image: each of `images` (uint8, N x 3 x S x S), followed, with `cams`
    ((pred heatmaps, true heatmaps)), by itself under each heatmap; `per_row` groups a row (with a
    white band of `band` pixels above it, for labels), each tile enlarged `scale` times (nearest)
    with a 2-pixel white border. TensorBoard shows it as it is."""
    groups = []
    for i, img in enumerate(images.cpu()):
        group = [img] + ([_overlay(img, cams[0][i]), _overlay(img, cams[1][i])] if cams is not None else [])
        groups.append(torch.cat([torch.nn.functional.pad(t, (2, 2, 2, 2), value=255) for t in group], 2))
    while len(groups) % per_row:
        groups.append(torch.full_like(groups[0], 255))
    rows = [torch.nn.functional.pad(torch.cat(groups[r:r + per_row], 2), (0, 0, band, 0), value=255)
            for r in range(0, len(groups), per_row)]
    grid = torch.cat(rows, 1)
    return grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def mistake_label(r: dict) -> str:
    return f"true {r['true']} {100 * r['p_true']:.0f}% / pred {r['pred']} {100 * r['p_pred']:.0f}%"


def mistakes_figure(images, rows: Sequence[dict], name: str, cams=None, per_row: int = 5, label=mistake_label,
                    title: str | None = None):
    """The tiles of `rows` (`worst`) and their uint8 `images` in one picture, each labelled with its
    true and predicted class and their probabilities (or `label(row)`); with `cams`, each image is
    followed by its Grad-CAM for the predicted and the true class (or the two classes `title` names)."""
    scale, per, band = 3, 3 if cams is not None else 1, 6
    grid = tiles(images, cams, per_row, scale, band)
    tile_w, row_h = (images.shape[-1] + 4) * scale, (images.shape[-1] + 4 + band) * scale
    fig, ax = plt.subplots(figsize=(grid.shape[2] / 100, grid.shape[1] / 100 + 0.3))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    for i, r in enumerate(rows):
        x, y = (i % per_row) * per * tile_w, (i // per_row) * row_h + band * scale
        ax.text(x + 6, y - 2, label(r), fontsize=6.5, va="bottom")
    ax.axis("off")
    how = ("; beside each, Grad-CAM for the predicted, then the true class" if cams is not None else "")
    ax.set_title(title or f"{name}: the {len(rows)} test images with the highest loss{how}", fontsize=8)
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


def row_cams(model, images: torch.Tensor, rows: Sequence[dict], classes: Sequence[str]):
    """Grad-CAM of each row's image for its predicted and its true class: (pred heatmaps, true heatmaps)."""
    from figures.cam import grad_cam

    index = {c: i for i, c in enumerate(classes)}
    return grad_cam(model, images, tuple(torch.tensor([index[r[k]] for r in rows]) for k in ("pred", "true")))


def per_class_table(rows: Sequence[dict]) -> str:
    """`per_class`'s rows as a Markdown table (the report's and TensorBoard's)."""
    lines = ["| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
    lines += [f"| {r['class']} | {100 * r['precision']:.1f}% | {100 * r['recall']:.1f}% | {100 * r['f1']:.1f}% | "
              f"{r['images']} |" for r in rows]
    return "\n".join(lines)


def mistake_figures(model, images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor, classes: Sequence[str],
                    name: str, n: int = 20) -> dict:
    """{"mistakes", "per class", "reliability"} -> figure, with the numbers behind them under
    "facts" (worst, per_class, calibration). Grad-CAM where the network has a conv block."""
    from figures.calibration import calibration, reliability_figure

    rows = worst(probs, labels, classes, n)
    picked = images[[r["index"] for r in rows]]
    cams = row_cams(model, picked, rows, classes) if model.feature_block() is not None else None
    facts = {"worst": rows, "per_class": per_class(probs, labels, classes), "calibration": calibration(probs, labels)}
    return {"mistakes": mistakes_figure(picked, rows, name, cams), "per class": per_class_figure(facts["per_class"], name),
            "reliability": reliability_figure(facts["calibration"], name), "facts": facts}
