"""The report's figures and tables, as PNG and Markdown, from runs' metrics.json and checkpoints.

    python visualize.py curves  RUN_DIR [--out DIR]             # loss and accuracy vs epoch: train, val, test
    python visualize.py compare RUN_DIR RUN_DIR [--out DIR]     # train and val loss of two runs in one plot
    python visualize.py filters RUN_DIR|CKPT [--image N] [--out DIR]  # image, first/last conv activations, weights
    python visualize.py confusion RUN_DIR|CKPT [--out DIR]      # test confusion matrix, per-class accuracy
    python visualize.py table   RUN_DIR...                      # the Markdown results table
    python visualize.py report  [LOGDIR] [--out DIR]            # all of it for each model's latest run + report.md

Never reads TensorBoard's event files. Bad input: a one-line error and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

import checkpoints  # noqa: E402
import runs  # noqa: E402
from errors import UserError  # noqa: E402

COLORS = dict(zip(runs.STAGES, ("tab:blue", "tab:orange", "tab:green")))


def load_run(path: str | Path) -> dict:
    """A run directory, its metrics.json, or a copy under another name (results/<model>.json)."""
    path = Path(path)
    file = path if path.suffix == ".json" else path / "metrics.json"
    if not file.is_file():
        raise UserError(f"{file} does not exist; pass a run directory written by train.py "
                        f"(lightning_logs/<model>/version_N) or its metrics.json")
    m = runs.read_metrics_file(file)
    if not m.get("epochs"):
        raise UserError(f"{file.parent} has no finished epoch yet (status: {m.get('status')}); nothing to plot")
    m["run_dir"] = str(file.parent)
    return m


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_curves(m: dict, out: Path) -> list[Path]:
    epochs = [e["epoch"] for e in m["epochs"]]
    paths, note = [], "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
    for metric, label in (("loss", "cross-entropy loss"), ("acc", "accuracy")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for stage, color in COLORS.items():
            ys = [e.get(f"{stage}_{metric}") for e in m["epochs"]]
            if all(y is None for y in ys):
                continue  # e.g. resnet9 scores the test set only at the end (test_every_epoch=False)
            ax.plot(epochs, [y * 100 if y is not None and metric == "acc" else y for y in ys],
                    marker="o", color=color, label=stage)
        ax.set(title=f"{m['model']}: {label} per epoch{note}", xlabel="epoch",
               ylabel="accuracy (%)" if metric == "acc" else label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
        paths.append(_save(fig, out / f"{m['model']}_{metric}.png"))
    return paths


def plot_compare(a: dict, b: dict, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, style in ((a, "-"), (b, "--")):
        epochs = [e["epoch"] for e in m["epochs"]]
        for stage, color in list(COLORS.items())[:2]:
            ax.plot(epochs, [e.get(f"{stage}_loss") for e in m["epochs"]], style, marker="o", color=color,
                    label=f"{m['model']} {stage}")
    ax.set(title=f"{a['model']} vs {b['model']}: train and validation loss", xlabel="epoch", ylabel="loss")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out / f"compare_{a['model']}_{b['model']}.png")


def _datamodule(ckpt: dict):
    """The data a checkpoint was trained on: the same folder, split and seed."""
    from datamodules.cifar10 import CIFAR10DataModule

    hp = ckpt.get("datamodule_hyper_parameters", {})
    dm = CIFAR10DataModule(hp.get("data_dir", "data"), val_size=hp.get("val_size", 5000), seed=hp.get("seed", 0))
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
        paths.append(_save(fig, out / f"{name}_filters_{suffix}.png"))
    return paths


def plot_confusion(target: str | Path, out: Path) -> Path:
    """Confusion matrix and per-class accuracy of the best checkpoint on the test set (no TTA)."""
    import torch

    from datamodules.augment import normalize

    model, ckpt = checkpoints.load_model(target)
    dm = _datamodule(ckpt)
    images, labels = dm.arrays.test_images, dm.arrays.test_labels
    with torch.no_grad():
        preds = torch.cat([model(normalize(images[i:i + 500])).argmax(1) for i in range(0, len(labels), 500)])
    classes, k = dm.classes, len(dm.classes)
    cm = torch.bincount(labels * k + preds, minlength=k * k).view(k, k)
    per_class = cm.diag() / cm.sum(1).clamp_min(1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(cm / cm.sum(1, keepdim=True).clamp_min(1), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 * cm[i].sum() else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), [f"{c} ({100 * a:.0f}%)" for c, a in zip(classes, per_class.tolist())])
    ax.set(xlabel="predicted", ylabel="true class (per-class accuracy)",
           title=f"{model.name}: test confusion matrix, {100 * per_class.mean():.2f}% mean per-class accuracy")
    return _save(fig, out / f"{model.name}_confusion.png")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="visualize.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, nargs in (("curves", 1), ("compare", 2), ("filters", 1), ("confusion", 1), ("table", "+")):
        c = sub.add_parser(name)
        c.add_argument("runs", nargs=nargs)
        c.add_argument("--out", default="figures")
        c.add_argument("--image", type=int, default=0, help="validation image index (filters)")
    r = sub.add_parser("report")
    r.add_argument("logdir", nargs="?", default="lightning_logs")
    r.add_argument("--out", default="report")
    args = p.parse_args(argv)
    import report  # the report's tables and report.md, which draw on the figures here

    try:
        if args.command == "report":
            print(report.write_report(Path(args.logdir), Path(args.out)))
            return 0
        out = Path(args.out)
        if args.command == "table":
            print(report.results_table([load_run(r) for r in args.runs]))
        elif args.command == "curves":
            print("\n".join(map(str, plot_curves(load_run(args.runs[0]), out))))
        elif args.command == "compare":
            print(plot_compare(load_run(args.runs[0]), load_run(args.runs[1]), out))
        elif args.command == "confusion":
            print(plot_confusion(args.runs[0], out))
        elif args.command == "filters":
            print("\n".join(map(str, plot_filters(args.runs[0], args.image, out))))
    except UserError as e:
        print(f"visualize.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # --out naming a file, a read-only folder, a full disk
        print(f"visualize.py: error: cannot write {e.filename or args.out} ({e.strerror or e}); "
              f"pass another --out folder", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
