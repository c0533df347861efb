"""The measured facts each discussion place of the report needs, in sentences, from the runs'
records (and, for the filter figures, from what the figures show). Facts only: the student writes
the interpretation. A fact the runs do not hold is not written. Torch-free.
"""
from __future__ import annotations

import statistics
from typing import Sequence

from core.recipe import settings_text
from report.tables import same_setup


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _mean(values: list[float]) -> str:
    if len(values) == 1:
        return _pct(values[0])
    return f"{_pct(statistics.mean(values))} ± {100 * statistics.stdev(values):.2f} over {len(values)} seeds"


def final_numbers(runs: Sequence[dict]) -> list[str]:
    """1b/2b: the best checkpoint's test, validation and train accuracy of one experiment."""
    finals = [m["final"] for m in runs if m.get("final")]
    if not finals:
        return []
    m, parts = runs[0], []
    for key, label in (("test_acc", "test accuracy"), ("val_acc", "validation accuracy"), ("train_acc", "train accuracy")):
        values = [f[key] for f in finals if f.get(key) is not None]
        if values:
            parts.append(f"{label} {_mean(values)}")
    epochs = sorted({f.get("epoch") for f in finals} - {None})
    where = f" (best checkpoint: epoch {', '.join(map(str, epochs))} of {len(m['epochs'])})" if epochs else ""
    return [f"{m['model']}: " + ", ".join(parts) + where]


def _groups(runs: Sequence[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for m in runs:
        groups.setdefault(same_setup(m), []).append(m)
    return list(groups.values())


def ablation(runs: Sequence[dict]) -> list[str]:
    """2e: of the experiments that change a model's defaults, the one with the largest and the one
    with the smallest effect on test accuracy against that model's defaults, each with Welch's 95%
    interval where both sides have two or more seeds (the verdict `visualize.py table` gives)."""
    from studies.verdict import welch

    rows = []
    for model in sorted({m["model"] for m in runs}):
        groups = [g for g in _groups([m for m in runs if m["model"] == model])
                  if all((m.get("final") or {}).get("test_acc") is not None for m in g)]
        refs = [g for g in groups if not g[0].get("changes")]
        if not refs:
            continue
        ref = max(refs, key=len)
        accs = lambda g: [m["final"]["test_acc"] for m in g]
        for g in groups:
            if g is ref:
                continue
            diff = statistics.mean(accs(g)) - statistics.mean(accs(ref))
            changes = settings_text(g[0]["changes"])
            rows.append((abs(diff), model, changes, diff, welch(accs(g), accs(ref)), len(g), len(ref)))
    if not rows:
        return []
    rows.sort()
    picked = [("largest", rows[-1])] + ([("smallest", rows[0])] if len(rows) > 1 else [])
    out = []
    for label, (_, model, changes, diff, verdict, n, n_ref) in picked:
        text = f"{label} effect of {len(rows)} changes: {model} with {changes}, test accuracy {100 * diff:+.2f} points against its defaults"
        if verdict is None:
            text += f" (not measured over seeds: n={n} against n={n_ref})"
        else:
            text += (f" [{100 * verdict.low:+.2f}, {100 * verdict.high:+.2f}] (Welch, 95%), "
                     + ("within seed noise" if verdict.noise else "beyond seed noise"))
        out.append(text)
    return out


def lowest_val_loss(groups: Sequence[Sequence[dict]]) -> list[str]:
    """3d: per compared experiment, the epoch of its lowest validation loss (the mean over seeds)
    and the train-validation gap there."""
    out = []
    for runs in groups:
        per_epoch: dict[int, list[dict]] = {}
        for m in runs:
            for e in m["epochs"]:
                per_epoch.setdefault(e["epoch"], []).append(e)
        rows = {ep: es for ep, es in per_epoch.items() if len(es) == len(runs)
                and all(e.get(k) is not None for e in es for k in ("val_loss", "train_loss", "val_acc", "train_acc"))}
        if not rows:
            continue
        mean = lambda ep, k: statistics.mean(e[k] for e in rows[ep])
        best = min(rows, key=lambda ep: mean(ep, "val_loss"))
        out.append(f"{runs[0]['model']}: validation loss lowest at epoch {best} of {max(per_epoch)} "
                   f"({mean(best, 'val_loss'):.4f}); there the train loss is {mean(best, 'train_loss'):.4f} "
                   f"(gap {mean(best, 'val_loss') - mean(best, 'train_loss'):+.4f}) and train accuracy is "
                   f"{100 * (mean(best, 'train_acc') - mean(best, 'val_acc')):+.2f} points from validation's")
    return out


def filters(model: str, shown: dict | None) -> list[str]:
    """3e-3g: which layers the filter figures show, at what resolution, how many maps and filters.
    `shown`: report/checkpoint_figures.filter_facts; None for a network without a conv layer."""
    if shown is None:
        return []
    return [f"{model}: first conv layer `{shown['first_name']}`: {shown['first_maps']} maps of {shown['first_size']} "
            f"(all shown), from {shown['filters']} filters of {shown['kernel']} on {shown['channels']} input channels",
            f"{model}: last conv block `{shown['last_name']}`: {shown['last_maps']} maps of {shown['last_size']}, "
            f"the {min(64, shown['last_maps'])} most active shown",
            f"{model}: input image {shown['image_size']}; test image {shown['index']} "
            f"({shown['truth']}, predicted {shown['guess']})"]
