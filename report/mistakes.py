"""The report's figures of what a trained run gets wrong, as PNG files: `visualize.py mistakes` (the
highest-loss test images, per-class precision/recall/F1, the reliability diagram) and
`visualize.py cam` (Grad-CAM of chosen test images, by default the same mistakes)."""
from __future__ import annotations

from pathlib import Path

import torch

from core.errors import UserError
from figures.mistakes import mistakes_figure, per_class_figure, reliability_figure
from figures.style import save
from inference import mistakes
from inference.cam import grad_cam
from inference.trained import Trained


def _cams(t: Trained, images: torch.Tensor, rows: list[dict], classes: list[str]):
    """Grad-CAM heatmaps of `images` for each row's predicted and true class; None without a conv layer."""
    if t.model.feature_block() is None:
        return None
    index = {c: i for i, c in enumerate(classes)}
    pred = torch.tensor([index[r["pred"]] for r in rows])
    true = torch.tensor([index[r["true"]] for r in rows])
    return grad_cam(t.model, images, pred), grad_cam(t.model, images, true)


def analyse(t: Trained, n: int = 20) -> dict:
    """The numbers behind the figures: the n worst test images, the per-class table, calibration."""
    scored = mistakes.score(t)
    return {"scored": scored, "worst": mistakes.worst(scored, n), "per_class": mistakes.per_class(scored),
            "calibration": mistakes.calibration(scored.probs, scored.labels)}


def plot_mistakes(t: Trained, out: Path, n: int = 20, facts: dict | None = None) -> list[Path]:
    """mistakes (with Grad-CAM where the network has a conv layer), per-class bars, reliability diagram."""
    facts = facts or analyse(t, n)
    rows = facts["worst"]
    images = facts["scored"].images[[r["index"] for r in rows]]
    return [save(mistakes_figure(images, rows, t.name, _cams(t, images, rows, facts["scored"].classes)),
                 out / f"{t.name}_mistakes.png"),
            save(per_class_figure(facts["per_class"], t.name), out / f"{t.name}_per_class.png"),
            save(reliability_figure(facts["calibration"], t.name), out / f"{t.name}_reliability.png")]


def plot_cam(t: Trained, out: Path, indices: list[int] | None = None, n: int = 20) -> Path:
    """Grad-CAM of test images `indices` (default: the n highest-loss ones) for their predicted and true class."""
    if t.model.feature_block() is None:
        raise UserError(f"{t.model.name} has no conv layer, so there is no Grad-CAM to draw")
    scored = mistakes.score(t)
    if indices is None:
        rows = mistakes.worst(scored, n)
    else:
        bad = [i for i in indices if not 0 <= i < len(scored.labels)]
        if bad:
            raise UserError(f"--images {bad[0]}: not a test image index (0 to {len(scored.labels) - 1})")
        by_index = {r["index"]: r for r in mistakes.worst(scored, len(scored.labels))}
        rows = [by_index[i] for i in indices]
    images = scored.images[[r["index"] for r in rows]]
    return save(mistakes_figure(images, rows, t.name, _cams(t, images, rows, scored.classes)), out / f"{t.name}_cam.png")


def per_class_table(rows: list[dict]) -> str:
    """Markdown: one row per class."""
    lines = ["| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
    lines += [f"| {r['class']} | {100 * r['precision']:.1f}% | {100 * r['recall']:.1f}% | {100 * r['f1']:.1f}% | "
              f"{r['images']} |" for r in rows]
    return "\n".join(lines)
