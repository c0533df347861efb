"""The report's figures that need a trained network: first/last conv activations and weights, and
the test confusion matrix. `python visualize.py filters|confusion` is their CLI.

A run's best checkpoint is read once (`load`, inference/trained.py), its data module built at most
once, and the confusion matrix is the one the run's final test saved, recomputed only for runs
older than that file.
"""
from __future__ import annotations

from pathlib import Path

from core import run_folder
from figures.confusion import confusion_counts, confusion_figure
from figures.style import plt, save
from inference.trained import Trained


def filter_facts(t: Trained, image: int) -> dict | None:
    """What the filter figures of test image `image` show (layers, sizes, counts); None without a conv layer."""
    from figures.filters import capture

    dm = t.datamodule()
    pixels, label = dm.test_image(image)
    cap = capture(t.model, pixels)
    if cap is None:
        return None
    size = lambda m: f"{m.shape[1]}x{m.shape[2]}"
    w = cap["weights"]
    return {"first_name": cap["first_name"], "first_maps": len(cap["first"]), "first_size": size(cap["first"]),
            "filters": len(w), "kernel": f"{w.shape[2]}x{w.shape[3]}", "channels": w.shape[1],
            "last_name": cap["last_name"], "last_maps": len(cap["last"]), "last_size": size(cap["last"]),
            "image_size": "x".join(map(str, pixels.shape[1:])), "index": image, "truth": dm.classes[label],
            "guess": dm.classes[int(cap["logits"].argmax())]}


def plot_filters(t: Trained, image: int, out: Path) -> list[Path]:
    """Three PNGs (image and first-conv maps, last-conv maps, first-conv weights); none for a
    network without a conv layer."""
    from figures.filters import activation_grid, capture, weight_grid

    dm = t.datamodule()
    pixels, label = dm.test_image(image)
    cap = capture(t.model, pixels)
    if cap is None:
        return []
    truth, guess = dm.classes[label], dm.classes[int(cap["logits"].argmax())]
    panels = [("image_first", [(cap["image"], f"test image {image}: {truth} (predicted {guess})"),
                               (activation_grid(cap["first"]), f"first conv ({cap['first_name']}): "
                                f"{len(cap['first'])} maps of {cap['first'].shape[1]}x{cap['first'].shape[2]}")]),
              ("last", [(activation_grid(cap["last"]), f"last conv block ({cap['last_name']}): the "
                         f"{min(64, len(cap['last']))} most active of {len(cap['last'])} maps of "
                         f"{cap['last'].shape[1]}x{cap['last'].shape[2]}")]),
              ("weights", [(weight_grid(cap["weights"]), f"first conv weights: {len(cap['weights'])} filters "
                            f"{cap['weights'].shape[2]}x{cap['weights'].shape[3]}, each scaled to [0, 1]")])]
    paths = []
    for suffix, items in panels:
        fig, axes = plt.subplots(1, len(items), figsize=(5.5 * len(items), 5.5), squeeze=False)
        for ax, (img, title) in zip(axes[0], items):
            ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.suptitle(t.name)
        paths.append(save(fig, out / f"{t.name}_filters_{suffix}.png"))
    return paths


def confusion_counts_of(t: Trained):
    """(k x k counts, classes) of the best checkpoint on the test set with the model's TTA: the ones
    the run's final test saved, else computed the same way (runs older than that file)."""
    import torch

    tta = t.model.hparams.get("tta", 0)
    saved = run_folder.read_confusion(t.run_dir) if t.run_dir is not None else None
    if saved is not None and saved.get("tta") == tta and run_folder.best_checkpoint(t.run_dir) == t.path:
        return torch.tensor(saved["counts"]), list(saved["classes"])
    dm = t.datamodule()
    images, labels = dm.test_set()
    with torch.no_grad():
        preds = torch.cat([t.model.logits_with_tta(t.model.normalize(images[i:i + 500]), tta).argmax(1)
                           for i in range(0, len(labels), 500)])
    return confusion_counts(labels, preds, len(dm.classes)), list(dm.classes)


def plot_confusion(t: Trained, out: Path) -> Path:
    """Confusion matrix and per-class accuracy of the best checkpoint on the test set, with the
    model's TTA, as the run's final test accuracy was measured."""
    cm, classes = confusion_counts_of(t)
    return save(confusion_figure(cm, classes, t.model.name, t.model.hparams.get("tta", 0)),
                out / f"{t.name}_confusion.png")
