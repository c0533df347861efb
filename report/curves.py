"""The figures drawn from runs' metrics.json alone: one run's curves, several runs compared, and
reading a run's record for them. Torch-free."""
from __future__ import annotations

from pathlib import Path

import matplotlib.ticker

from core.errors import UserError
from core.records import STAGES
from report.figure import file_name, plt, save
from training.run_dirs import read_metrics_file

COLORS = dict(zip(STAGES, ("tab:blue", "tab:orange", "tab:green")))


def load_run(path: str | Path) -> dict:
    """A run directory, its metrics.json, or a copy under another name (results/<model>.json)."""
    path = Path(path)
    file = path if path.suffix == ".json" else path / "metrics.json"
    if not file.is_file():
        raise UserError(f"{file} does not exist; pass a run directory written by train.py "
                        f"(lightning_logs/<model>/version_N) or its metrics.json")
    m = read_metrics_file(file)
    if not m.get("epochs"):
        raise UserError(f"{file.parent} has no finished epoch yet (status: {m.get('status')}); nothing to plot")
    m["run_dir"], m["file"] = str(file.parent), file.name
    return m


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
        paths.append(save(fig, out / file_name(f"{m['model']}_{metric}.png")))
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
    return save(fig, out / file_name("compare_" + "_".join(run_name(m) for m in ms) + ".png"))
