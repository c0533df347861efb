"""The figures drawn from runs' metrics.json alone: one run's curves, several runs compared, and
reading a run's record for them. Torch-free."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.ticker

from core.errors import UserError
from core.run_folder import RECORD, STAGES, read_record_file
from figures.style import file_name, plt, save

COLORS = dict(zip(STAGES, ("tab:blue", "tab:orange", "tab:green")))


def load_run(path: str | Path) -> dict:
    """A run directory, its metrics.json, or a copy under another name (results/<model>.json)."""
    path = Path(path)
    file = path if path.suffix == ".json" else path / RECORD
    if not file.is_file():
        raise UserError(f"{file} does not exist; pass a run directory written by train.py "
                        f"(lightning_logs/<model>/version_N) or its metrics.json")
    m = read_record_file(file)
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
    where = Path(m["run_dir"]).name if m.get("file", RECORD) == RECORD else Path(m["file"]).stem
    return f"{m['model']}-{where}"


def _group(runs: dict | Sequence[dict]) -> list[dict]:
    return [runs] if isinstance(runs, dict) else list(runs)


def _mean_band(runs: list[dict], key: str, scale: float = 1.0):
    """Epochs, and the mean, min and max over the runs (seeds) of `key` at each epoch that every
    run has; None where no run has the key (resnet9 scores the test set only at the end)."""
    per_run = [{e["epoch"]: e.get(key) for e in m["epochs"]} for m in runs]
    epochs = sorted(set.intersection(*(set(r) for r in per_run)))
    values = [[r[ep] for r in per_run] for ep in epochs]
    if not epochs or any(v is None for vs in values for v in vs):
        return None
    mean = [scale * sum(vs) / len(vs) for vs in values]
    return epochs, mean, [scale * min(vs) for vs in values], [scale * max(vs) for vs in values]


def _draw(ax, runs: list[dict], key: str, scale: float, **style) -> list[float]:
    """One line (the mean over seeds) and, for two or more seeds, a band from their min to max."""
    series = _mean_band(runs, key, scale)
    if series is None:
        return []
    epochs, mean, lo, hi = series
    ax.plot(epochs, mean, **style)
    if len(runs) > 1:
        ax.fill_between(epochs, lo, hi, color=style.get("color"), alpha=0.15, linewidth=0)
    return lo + hi


def _loss_axis(ax, values: list[float]) -> str:
    """A log axis when the losses span more than 10x (one diverged run would flatten the rest)."""
    positive = [v for v in values if v is not None and v > 0]
    if positive and max(positive) > 10 * min(positive):
        ax.set_yscale("log")
        return " (log scale)"
    return ""


def _mark_best(ax, runs: list[dict]) -> None:
    """The best checkpoint's epoch (by validation accuracy) of each run, as a dotted line."""
    best = sorted({(m.get("final") or {}).get("epoch") for m in runs} - {None})
    for i, epoch in enumerate(best):
        ax.axvline(epoch, color="grey", linestyle=":", linewidth=1,
                   label="best checkpoint" + ("s" if len(best) > 1 else "") if i == 0 else None)


def seeds_note(runs: list[dict]) -> str:
    return f", mean of {len(runs)} seeds (band: min to max)" if len(runs) > 1 else ""


def plot_curves(runs: dict | Sequence[dict], out: Path) -> list[Path]:
    """Loss and accuracy per epoch, train/val/test, of one run or of the seeds of one experiment."""
    runs = _group(runs)
    m = runs[0]
    name = run_name(m) if len(runs) == 1 else f"{m['model']}-{len(runs)}seeds"
    paths, note = [], "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
    for metric, label in (("loss", loss_label(m)), ("acc", "accuracy")):
        fig, ax = plt.subplots(figsize=(6, 4))
        drawn = []
        for stage, color in COLORS.items():
            drawn += _draw(ax, runs, f"{stage}_{metric}", 100 if metric == "acc" else 1,
                           marker="o", color=color, label=stage)
        _mark_best(ax, runs)
        scale = _loss_axis(ax, drawn) if metric == "loss" else ""
        seeds = f"\nmean of {len(runs)} seeds, band: min to max" if len(runs) > 1 else ""
        ax.set_title(f"{name}: {label} per epoch{note}{seeds}", fontsize=10)
        ax.set_ylabel(("accuracy (%)" if metric == "acc" else label) + scale)
        _epoch_axis(ax, [e["epoch"] for r in runs for e in r["epochs"]])
        paths.append(save(fig, out / file_name(f"{name}_{metric}.png")))
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


def plot_compare(groups: Sequence[dict | Sequence[dict]], out: Path) -> Path:
    """Train and validation loss of two or more runs (or experiments, their seeds as a mean and a
    band) in one plot: a colour per run, solid validation, dashed train."""
    groups = [_group(g) for g in groups]
    firsts = [g[0] for g in groups]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    drawn = []
    for i, (runs, label) in enumerate(zip(groups, compare_labels(firsts))):
        m = runs[0]
        if loss_label(m) != "cross-entropy loss":  # an older record: its loss includes the smoothing
            label += f" ({loss_label(m).removeprefix('loss (')}"
        if len(runs) > 1:
            label += f", {len(runs)} seeds"
        for stage, line in (("train", "--"), ("val", "-")):
            drawn += _draw(ax, runs, f"{stage}_loss", 1, linestyle=line, marker="o", markersize=3,
                           color=f"C{i}", label=f"{label}: {stage}")
    names = sorted({loss_label(m) for m in firsts})
    scale = _loss_axis(ax, drawn)
    ax.set(title=" vs ".join(m["model"] for m in firsts) + ": train (dashed) and validation (solid) loss",
           ylabel=(names[0] if len(names) == 1 else "loss (smoothing: see the legend)") + scale)
    _epoch_axis(ax, sorted({e["epoch"] for g in groups for m in g for e in m["epochs"]}))
    return save(fig, out / file_name("compare_" + "_".join(run_name(m) for m in firsts) + ".png"))
