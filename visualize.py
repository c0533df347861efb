"""The report's figures and tables, as PNG and Markdown, from runs' metrics.json and checkpoints.

    python visualize.py curves  RUN_DIR [--out DIR]             # loss and accuracy vs epoch: train, val, test
    python visualize.py compare RUN_DIR RUN_DIR [--out DIR]     # train and val loss of two runs in one plot
    python visualize.py filters RUN_DIR|CKPT [--image N] [--out DIR]  # image, first/last conv activations, weights
    python visualize.py confusion RUN_DIR|CKPT [--out DIR]      # test confusion matrix, per-class accuracy
    python visualize.py table   RUN_DIR...                      # the Markdown results table
    python visualize.py report  [LOGDIR] [--out DIR]            # all of it for each model's latest run + report.md

Never reads TensorBoard's event files. Bad input: a one-line error and exit code 2. filters and confusion
live in checkpoint_figures.py (they load a checkpoint and its data).
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
    m["run_dir"], m["file"] = str(file.parent), file.name
    return m


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def loss_label(m: dict) -> str:
    """Runs with a recorded recipe log plain cross-entropy; older ones logged the smoothed objective."""
    smoothing = (m.get("hparams") or {}).get("label_smoothing") or 0
    if m.get("recipe") or not smoothing:
        return "cross-entropy loss"
    return f"loss (with label smoothing {smoothing})"


def _epoch_axis(ax, epochs: list[int]) -> None:
    if len(epochs) <= 12:
        ax.set_xticks(range(1, max(epochs) + 1))  # whole epochs, even for a one-epoch run
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def run_name(m: dict) -> str:
    """model-version_N (a run folder) or model-<file name> (a copied metrics.json): unique per run."""
    where = Path(m["run_dir"]).name if m.get("file", "metrics.json") == "metrics.json" else Path(m["file"]).stem
    return f"{m['model']}-{where}"


def plot_curves(m: dict, out: Path) -> list[Path]:
    epochs = [e["epoch"] for e in m["epochs"]]
    paths, note = [], "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
    for metric, label in (("loss", loss_label(m)), ("acc", "accuracy")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for stage, color in COLORS.items():
            ys = [e.get(f"{stage}_{metric}") for e in m["epochs"]]
            if all(y is None for y in ys):
                continue  # e.g. resnet9 scores the test set only at the end (test_every_epoch=False)
            ax.plot(epochs, [y * 100 if y is not None and metric == "acc" else y for y in ys],
                    marker="o", color=color, label=stage)
        ax.set(title=f"{m['model']}: {label} per epoch{note}", ylabel="accuracy (%)" if metric == "acc" else label)
        _epoch_axis(ax, epochs)
        paths.append(_save(fig, out / f"{m['model']}_{metric}.png"))
    return paths


def compare_labels(ms: list[dict]) -> list[str]:
    """A legend label per run that says what sets it apart: its model, its folder when a model
    appears twice, and the settings whose values differ between the runs."""
    models = [m["model"] for m in ms]
    hps = [m.get("hparams") or {} for m in ms]
    keys = sorted({k for hp in hps for k in hp if len({str(h.get(k)) for h in hps}) > 1})
    labels = []
    for m, hp in zip(ms, hps):
        parts = [run_name(m) if models.count(m["model"]) > 1 else m["model"]]
        if len(set(models)) == 1:  # different models differ in everything: their names say enough
            parts += [f"{k}={hp.get(k)}" for k in keys]
        labels.append(" ".join(parts))
    return labels


def plot_compare(ms: list[dict], out: Path) -> Path:
    """Train and validation loss of two or more runs in one plot (the assignment's comparison)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = ("-", "--", ":", "-.")
    for i, (m, label) in enumerate(zip(ms, compare_labels(ms))):
        epochs = [e["epoch"] for e in m["epochs"]]
        if loss_label(m) != "cross-entropy loss":  # an older record: its loss includes the smoothing
            label += f" ({loss_label(m).removeprefix('loss (')}"
        for stage, color in list(COLORS.items())[:2]:
            ax.plot(epochs, [e.get(f"{stage}_loss") for e in m["epochs"]], styles[i % 4], marker="o",
                    color=color if len(ms) == 2 else f"C{i}", alpha=1 if stage == "val" else 0.6,
                    label=f"{label}: {stage}")
    names = sorted({loss_label(m) for m in ms})
    ax.set(title=" vs ".join(m["model"] for m in ms) + ": train and validation loss",
           ylabel=names[0] if len(names) == 1 else "loss (smoothing: see the legend)")
    _epoch_axis(ax, sorted({e["epoch"] for m in ms for e in m["epochs"]}))
    return _save(fig, out / ("compare_" + "_".join(run_name(m) for m in ms) + ".png"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="visualize.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, nargs in (("curves", 1), ("compare", "+"), ("filters", 1), ("confusion", 1), ("table", "+")):
        c = sub.add_parser(name)
        c.add_argument("runs", nargs=nargs)
        c.add_argument("--out", default="figures")
        c.add_argument("--image", type=int, default=0, help="validation image index (filters)")
    r = sub.add_parser("report")
    r.add_argument("logdir", nargs="?", default="lightning_logs")
    r.add_argument("--out", default="report")
    r.add_argument("--compare", nargs="+", metavar="RUN",
                   help="the runs of item 3d: model names (their latest run) or run folders; "
                        "default: the most accurate run against the resnet18 run")
    args = p.parse_args(argv)
    import checkpoint_figures
    import report  # report.md, which draws on the figures here
    import tables

    try:
        if args.command == "report":
            print(report.write_report(Path(args.logdir), Path(args.out), args.compare))
            return 0
        out = Path(args.out)
        if args.command == "table":
            print(tables.results_table([load_run(r) for r in args.runs]))
        elif args.command == "curves":
            print("\n".join(map(str, plot_curves(load_run(args.runs[0]), out))))
        elif args.command == "compare":
            if len(args.runs) < 2:
                raise UserError("compare needs two or more runs")
            print(plot_compare([load_run(r) for r in args.runs], out))
        elif args.command == "confusion":
            print(checkpoint_figures.plot_confusion(args.runs[0], out))
        elif args.command == "filters":
            print("\n".join(map(str, checkpoint_figures.plot_filters(args.runs[0], args.image, out))))
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
