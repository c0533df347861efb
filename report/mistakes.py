"""The report's figures of what a trained run gets wrong, as PNG files: `visualize.py mistakes` (the
highest-loss test images with Grad-CAM, per-class precision/recall/F1, the reliability diagram)
and `visualize.py cam` (Grad-CAM of chosen test images, by default the same mistakes). The figures
are figures/mistakes.py's, the ones TensorBoard shows at the best epoch."""
from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from figures.mistakes import mistake_figures, mistakes_figure, row_cams
from figures.style import save
from inference import mistakes
from inference.trained import Trained


def plot_mistakes(t: Trained, out: Path, n: int = 20) -> tuple[list[Path], dict]:
    """The three figures' files, and the numbers behind them (worst, per_class, calibration)."""
    s = mistakes.score(t)
    figs = mistake_figures(t.model, s.images, s.labels, s.probs, s.classes, t.name, n)
    paths = [save(figs[k], out / f"{t.name}_{k.replace(' ', '_')}.png") for k in ("mistakes", "per class", "reliability")]
    return paths, figs["facts"]


def plot_cam(t: Trained, out: Path, indices: list[int] | None = None, n: int = 20) -> Path:
    """Grad-CAM of test images `indices` (default: the n highest-loss ones) for their predicted and true class."""
    if t.model.feature_block() is None:
        raise UserError(f"{t.model.name} has no conv layer, so there is no Grad-CAM to draw")
    s = mistakes.score(t)
    bad = [i for i in indices or [] if not 0 <= i < len(s.labels)]
    if bad:
        raise UserError(f"--images {bad[0]}: not a test image index (0 to {len(s.labels) - 1})")
    by_index = {r["index"]: r for r in s.worst(len(s.labels))}
    rows = [by_index[i] for i in indices] if indices else s.worst(n)
    images = s.images[[r["index"] for r in rows]]
    return save(mistakes_figure(images, rows, t.name, row_cams(t.model, images, rows, s.classes)), out / f"{t.name}_cam.png")
