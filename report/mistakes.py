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


def plot_cam(t: Trained, out: Path, images: list[str] | None = None, n: int = 20, warn=None) -> Path:
    """Grad-CAM of test images (`images` as indices; default: the n highest-loss ones) for their
    predicted and true class, or of one's own image files and folders for the two likeliest classes."""
    if t.model.feature_block() is None:
        raise UserError(f"{t.model.name} has no conv layer, so there is no Grad-CAM to draw")
    numbers = [i for i in images or [] if i.lstrip("-").isdigit()]
    if numbers and len(numbers) < len(images):
        raise UserError(f"--images {numbers[0]} {next(i for i in images if i not in numbers)}: give test image "
                        f"indices or image files and folders, not both")
    if images and not numbers:
        return _cam_of_files(t, out, images, n, warn)
    s = mistakes.score(t)
    bad = [i for i in map(int, numbers) if not 0 <= i < len(s.labels)]
    if bad:
        raise UserError(f"--images {bad[0]}: not a test image index (0 to {len(s.labels) - 1})")
    by_index = {r["index"]: r for r in s.worst(len(s.labels))}
    rows = [by_index[int(i)] for i in numbers] if numbers else s.worst(n)
    images = s.images[[r["index"] for r in rows]]
    return save(mistakes_figure(images, rows, t.name, row_cams(t.model, images, rows, s.classes)), out / f"{t.name}_cam.png")


def _cam_of_files(t: Trained, out: Path, paths: list[str], n: int, warn) -> Path:
    """The first n image files, decoded and resized as predict.py does, each with Grad-CAM for the class
    the model gives the most probability and the runner-up: no true class to show for a file."""
    from figures.cam import grad_cam
    from inference import images as own
    from inference.predict import probabilities

    files = own.find_images(paths)
    if len(files) > n and warn is not None:
        warn(f"{len(files)} image files: Grad-CAM of the first {n} (--n sets how many)")
    pixels, kept = own.decode(files[:n], t.model.hparams.image_size, warn=warn)
    probs = probabilities(t.model, pixels, gpus=0, progress=False)  # as predict.py ranks them, with its TTA
    classes = t.classes()[0]
    top = probs.topk(min(2, probs.shape[1]), dim=1)
    first, second = top.indices[:, 0], top.indices[:, -1]
    rows = [{"file": name, "pred": classes[a], "p_pred": float(probs[i, a]), "next": classes[b], "p_next": float(probs[i, b])}
            for i, (name, a, b) in enumerate(zip(own.short_names(kept), first.tolist(), second.tolist()))]
    label = lambda r: f"{r['file']}: {r['pred']} {100 * r['p_pred']:.0f}% / {r['next']} {100 * r['p_next']:.0f}%"
    title = (f"{t.name}: {len(rows)} image file(s) as the model sees them; beside each, Grad-CAM for the "
             f"likeliest, then the next likeliest class")
    cams = grad_cam(t.model, pixels, (first, second))
    figure = mistakes_figure(pixels, rows, t.name, cams, per_row=min(5, len(rows)), label=label, title=title)
    return save(figure, out / f"{t.name}_cam_files.png")
