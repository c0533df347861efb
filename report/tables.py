"""The report's Markdown tables: results (one row per experiment, repeats over seeds merged) and the
training details a reader needs to repeat a run (each architecture's table: report/architecture.py).
Torch-free at import: `python visualize.py table` prints at once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from core.recipe import TTA_LEVELS, settings_text, tta_name


def _hparam(m: dict, key: str):
    """A run's hyperparameter. Runs recorded before metrics.json held them all used the model's
    default, which needs the model classes (and torch): only then are they imported."""
    hp = m.get("hparams") or {}
    if key in hp:
        return hp[key]
    from lit_modules import MODELS

    return MODELS[m["model"]].all_defaults().get(key) if m["model"] in MODELS else None


def dataset(m: dict) -> str:
    """The --dataset a run trained on (runs recorded before there was a choice: cifar10)."""
    return (m.get("data") or {}).get("dataset", "cifar10")


def classes(m: dict) -> list[str]:
    """The class names a run recorded; runs recorded before there was a choice trained on CIFAR-10."""
    recorded = (m.get("data") or {}).get("classes")
    if recorded:
        return recorded
    from datamodules.sources import CLASSES  # imports torch: only for older records

    return list(CLASSES)


def same_setup(m: dict) -> str:
    """What makes runs repeats of one experiment: everything in the recipe but the seed."""
    import json

    setup = {"model": m["model"], "recipe": m.get("recipe") or m.get("hparams"), "epochs": len(m.get("epochs", [])),
             "data": {k: v for k, v in (m.get("data") or {}).items() if k != "dir"}, "status": m.get("status"),
             "device": m.get("device"), "precision": m.get("precision")}
    return json.dumps(setup, sort_keys=True, default=str)


def _cell(values: list[float | None], fmt) -> str:
    """One run's value, or the mean +- standard deviation of repeats."""
    import statistics

    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.mean(values))} ± {fmt(statistics.stdev(values)).rstrip('%')}"


def _verdicts(groups: list[list[dict]], baseline: str | None) -> list[str] | None:
    """Per group: its test accuracy's difference to its model's reference group, with Welch's 95%
    interval (studies/verdict.py), where both have two or more seeds. The reference is the group
    holding the run `baseline` names, else the model's group with the fewest changed settings (its
    defaults). None when no group has a verdict."""
    from studies.verdict import welch

    def accs(g):
        return [f["test_acc"] for f in (m.get("final") or {} for m in g) if f.get("test_acc") is not None]

    refs: dict[str, list[dict]] = {}
    for g in groups:
        model = g[0]["model"]
        if baseline is not None:
            if any(Path(m["run_dir"]).resolve() == Path(baseline).resolve() for m in g):
                refs[model] = g
        elif model not in refs or len(g[0].get("changes") or {}) < len(refs[model][0].get("changes") or {}):
            refs[model] = g
    cells = []
    for g in groups:
        ref = refs.get(g[0]["model"])
        verdict = welch(accs(g), accs(ref)) if ref is not None and ref is not g else None
        cells.append("reference" if ref is g and len(g) > 1 else verdict.text() if verdict else "")
    return cells if any(c and c != "reference" for c in cells) else None


def results_table(runs: Sequence[dict], baseline: str | None = None, key=same_setup) -> str:
    """One row per experiment: runs that differ only in their seed share a row, with the mean ±
    standard deviation of their numbers and n. The numbers are the best checkpoint's (val and test
    re-scored, with TTA if the model uses it), and its epoch where it is not the last; s/epoch is
    the wall time divided by the epochs. Where
    runs record it, a "train s" column adds up the epochs' training steps alone (train_seconds), and a
    "changed" column lists what the run set differently from the model's defaults (--set, flags).
    Where groups have two or more seeds, a last column gives each group's test-accuracy difference
    to its model's reference group (`baseline`: a run folder; default: the group with the fewest
    changes), with a 95% interval, and says "within seed noise" when the interval holds zero.
    `key` says which runs are repeats of one experiment (default: the same setup but the seed; the
    ablation's: the same row, on whatever machines its seeds ran); a row names all its devices."""
    timed = any("train_seconds" in e for m in runs for e in m.get("epochs", []))
    changed = any(m.get("changes") for m in runs)
    other_data = {dataset(m) for m in runs} != {"cifar10"}  # then a column says which data each row is
    head = ("| model | " + ("data | " if other_data else "") + ("changed | " if changed else "") + "n | params (trainable) | epochs | s/epoch | "
            + ("train s | " if timed else "") + "train loss | train acc | val loss | val acc | test loss | test acc "
            "| TTA | device |")
    groups: dict[str, list[dict]] = {}
    for i, m in enumerate(runs):
        k = key(m)
        if any(g.get("seed") == m.get("seed") for g in groups.get(k, [])):
            k += str(i)  # the same seed again is not a repeat over seeds: a row of its own
        groups.setdefault(k, []).append(m)
    verdicts = _verdicts(list(groups.values()), baseline)
    if verdicts:
        head += " test acc vs reference (95% CI) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    pct, num = (lambda v: f"{100 * v:.2f}%"), (lambda v: f"{v:.4f}")
    for gi, group in enumerate(groups.values()):
        m, n = group[0], len(group[0].get("epochs", []))
        finals = [g.get("final") or (g["epochs"][-1] if g.get("epochs") else {}) for g in group]
        col = lambda k, fmt: _cell([f.get(k) for f in finals], fmt)
        p = m["params"]
        status = "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
        tta = tta_name(_hparam(m, "tta"))
        change = settings_text(m.get("changes") or {}, "defaults")
        best = sorted({f.get("epoch") for f in finals if f.get("epoch") is not None})
        epochs = f"{n} (best {', '.join(map(str, best))})" if best and best != [n] else str(n)
        seeds = f"{len(group)} (seeds {' '.join(str(g.get('seed')) for g in group)})" if len(group) > 1 else "1"
        train_s = [sum(e["train_seconds"] for e in g["epochs"]) if all("train_seconds" in e for e in g["epochs"])
                   else None for g in group]
        lines.append(f"| {m['model']}{status} | " + (f"{dataset(m)} ({len(classes(m))} classes) | " if other_data else "")
                     + (f"{change} | " if changed else "") + f"{seeds} "
                     f"| {p['total']:,} ({p['trainable']:,}) | {epochs} | {_cell([g['seconds'] / max(n, 1) for g in group], lambda v: f'{v:.1f}')} | "
                     + (f"{_cell(train_s, lambda v: f'{v:.2f}')} | " if timed else "")
                     + f"{col('train_loss', num)} | {col('train_acc', pct)} | {col('val_loss', num)} "
                     f"| {col('val_acc', pct)} | {col('test_loss', num)} | {col('test_acc', pct)} | {tta} | {', '.join(dict.fromkeys(g['device'] for g in group))} |"
                     + (f" {verdicts[gi]} |" if verdicts else ""))
    return "\n".join(lines)


INIT_WORDS = {"xavier": "Xavier/Glorot uniform", "kaiming": "Kaiming/He normal (fan-out)"}


def training_details(m: dict, model) -> str:
    from datamodules.augment import scaled_padding  # imports torch, as the model passed in has

    hp = {**model.all_defaults(), **(m.get("hparams") or {}), **model.hparams}  # the recipe the run used
    augment = hp.get("augment", True) and "--no-augment" not in m["command"]  # older runs: the flag only
    flip = {"alternate": " + alternating horizontal flip", "none": ""}.get(hp["aug_flip"], " + random horizontal flip")
    decay = {"onecycle": "one-cycle (cosine warmup and decay, PyTorch's OneCycleLR)", "cosine": "cosine decay"}
    sched = ("constant learning rate" if not hp.get("schedule") else
             f"per step: {'linear' if hp['schedule'] != 'onecycle' else 'cosine'} warmup from {hp['start_lr_frac']}x "
             f"to 1x over {hp['warmup']:.0%} of the steps, then "
             + (f"linear decay to {hp['end_lr_frac']}x" if hp["schedule"] == "warmup_linear"
                else f"{decay[hp['schedule']]} to {hp['end_lr_frac']}x"))
    size = model.hparams.image_size
    pad = scaled_padding(hp["aug_padding"], size)
    aug = (f"random crop {size}x{size} after {pad}-pixel {hp['aug_pad_mode']} padding{flip}, "
           f"per batch on the device" if augment else "none")
    extra = [f"Cutout {hp['cutout']}x{hp['cutout']}" if hp.get("cutout") else "",
             f"MixUp (alpha {hp['mixup']:g})" if hp.get("mixup") else "",
             f"CutMix (alpha {hp['cutmix']:g})" if hp.get("cutmix") else ""]
    if any(extra):
        aug = ("" if aug == "none" else aug + "; ") + " + ".join(e for e in extra if e) \
            + (" (one of the two per batch)" if hp.get("mixup") and hp.get("cutmix") else "")
    items = {
        "optimizer": f"{hp['optimizer']} (lr {hp['lr']:g}, weight decay {hp['weight_decay']:g}"
                     + (f", momentum {hp['momentum']}, nesterov {hp['nesterov']}" if hp["optimizer"] == "sgd" else "")
                     + ")",
        "learning-rate schedule": sched,
        "batch size": hp["batch_size"], "epochs": f"{len(m['epochs'])} of {hp['epochs']}",
        "loss": f"cross-entropy, label smoothing {hp['label_smoothing']}",
        "augmentation": aug,
        "test-time augmentation": TTA_LEVELS[hp["tta"]][1]
                                  + " (final val/test scoring only)",
        **({"input upsampling": f"{size}x{size} to {hp.get('upsample', 256)}x{hp.get('upsample', 256)} inside the "
                                f"network, {hp['upsample_mode']} interpolation"
            + (" (Code Listing 1's `interpolate(x, scale_factor=8)`)" if hp["upsample_mode"] == "nearest" else "")}
           if hp.get("upsample_mode") and size < 224 else {}),
        "initialisation": ("ImageNet weights (torchvision)" if hp.get("weights") == "imagenet" else
                           "PyTorch defaults" if hp.get("init", "default") == "default" else
                           f"{INIT_WORDS[hp['init']]} (biases zero)") + (f"; {model.init_note}" if model.init_note else "")
                          + (f"; new head: {INIT_WORDS[hp['init']]}" if hp.get("weights") == "imagenet"
                             and hp.get("init", "default") != "default" else ""),
        **({"trained layers": {"fc": "fc only", "layer4": "layer4 and fc", "layer3": "layer3, layer4 and fc",
                               "all": "all"}[hp["trainable"]] + "; the rest frozen"} if hp.get("trainable") else {}),
        "data": f"{dataset(m)}, {len(classes(m))} classes, {m['data']['source']}: "
                f"{m['data']['train']:,} train / {m['data']['val']:,} val / {m['data']['test']:,} test",
        "seed, device, precision": f"{m['seed']}, {m['device']}, {m['precision']}",
    }
    return "\n".join(f"- **{k}**: {v}" for k, v in items.items())
