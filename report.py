"""The report: `write_report` (report.md with every figure), and its Markdown tables: results, each
architecture as in the assignment's Table 1, and the training details a reader needs to repeat a run.

    python visualize.py report [LOGDIR] [--out DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import checkpoints
import runs
import visualize
from errors import UserError


def _hparam(m: dict, key: str):
    """A run's hyperparameter; runs recorded before metrics.json held them all used the model's default."""
    from lit_modules import MODELS

    hp = m.get("hparams") or {}
    return hp[key] if key in hp else MODELS[m["model"]].all_defaults().get(key)


def results_table(runs: Sequence[dict]) -> str:
    """One row per run, the numbers of its best checkpoint (val and test re-scored, with TTA if the
    model uses it); s/epoch is the run's wall time divided by its epochs. Where runs record it, a
    "train s" column adds up the epochs' training steps alone (metrics.json's train_seconds)."""
    timed = any("train_seconds" in e for m in runs for e in m.get("epochs", []))
    head = ("| model | params (trainable) | epochs | s/epoch | " + ("train s | " if timed else "")
            + "train loss | train acc | val loss | val acc | test acc | TTA | device |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for m in runs:
        f = m.get("final") or (m["epochs"][-1] if m.get("epochs") else {})
        n = len(m.get("epochs", []))
        pct = lambda k: f"{100 * f[k]:.2f}%" if f.get(k) is not None else "n/a"
        num = lambda k: f"{f[k]:.4f}" if f.get(k) is not None else "n/a"
        p = m["params"]
        status = "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
        tta = {0: "none", 1: "flip", 2: "flip+translate"}.get(_hparam(m, "tta"), "?")
        train_s = [e["train_seconds"] for e in m.get("epochs", []) if "train_seconds" in e]
        train_col = (f"{sum(train_s):.2f} | " if len(train_s) == n else "n/a | ") if timed else ""
        lines.append(f"| {m['model']}{status} | {p['total']:,} ({p['trainable']:,}) | {n} "
                     f"| {m['seconds'] / max(n, 1):.1f} | {train_col}{num('train_loss')} | {pct('train_acc')} "
                     f"| {num('val_loss')} | {pct('val_acc')} | {pct('test_acc')} | {tta} | {m['device']} |")
    return "\n".join(lines)


def architecture_table(model) -> str:
    """Layer, output shape, activation, parameters: one row per weight or pooling layer, for a
    1x3x32x32 input; an activation that follows a layer is folded into that layer's row."""
    import torch
    from torch import nn

    activations = (nn.ReLU, nn.GELU, nn.Sigmoid, nn.Tanh)
    rows: list[list[str]] = []

    def hook(name: str):
        def fn(module, inputs, output):
            if isinstance(module, activations) and rows:
                rows[-1][2] = type(module).__name__
                return
            params = sum(p.numel() for p in module.parameters(recurse=False))
            shape = "x".join(map(str, output.shape[1:])) if isinstance(output, torch.Tensor) else "?"
            rows.append([f"{name} ({type(module).__name__})", shape, "", f"{params:,}"])
        return fn

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children()) and n]
    handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    total = sum(p.numel() for p in model.parameters())
    lines = ["| layer | output shape | activation | parameters |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append(f"| **total** | | | **{total:,}** |")
    return "\n".join(lines)


def training_details(m: dict, model) -> str:
    hp = dict(model.hparams)
    sched = ("constant learning rate" if not hp.get("schedule") else
             f"per step: linear warmup from {hp['start_lr_frac']}x to 1x over {hp['warmup']:.0%} of the steps, "
             f"then linear decay to {hp['end_lr_frac']}x")
    aug = (f"random crop 32x32 after {hp['aug_padding']}-pixel {hp['aug_pad_mode']} padding + "
           f"{'alternating' if hp.get('aug_flip') == 'alternate' else 'random'} horizontal flip, "
           f"per batch on the device" if "--no-augment" not in m["command"] else "none")
    items = {
        "optimizer": f"{hp['optimizer']} (lr {hp['lr']:g}, weight decay {hp['weight_decay']:g}"
                     + (f", momentum {hp['momentum']}, nesterov {hp['nesterov']}" if hp["optimizer"] == "sgd" else "")
                     + ")",
        "learning-rate schedule": sched,
        "batch size": hp["batch_size"], "epochs": len(m["epochs"]),
        "loss": f"cross-entropy, label smoothing {hp['label_smoothing']}",
        "augmentation": aug,
        "test-time augmentation": {0: "none", 1: "horizontal flip", 2: "flip + 1-pixel translations"}[hp["tta"]]
                                  + " (final val/test scoring only)",
        "initialisation": "ImageNet weights (torchvision)" if hp.get("weights") == "imagenet" else
                          "PyTorch defaults" + (f"; {model.init_note}" if model.init_note else ""),
        "data": f"{m['data']['source']}: {m['data']['train']:,} train / {m['data']['val']:,} val / "
                f"{m['data']['test']:,} test",
        "seed, device, precision": f"{m['seed']}, {m['device']}, {m['precision']}",
    }
    return "\n".join(f"- **{k}**: {v}" for k, v in items.items())


def write_report(logdir: Path, out: Path) -> Path:
    latest = {}
    for model_dir in sorted(p for p in logdir.iterdir() if p.is_dir()) if logdir.is_dir() else []:
        for run_dir in reversed(runs.versions(logdir, model_dir.name)):  # the latest run with an epoch
            try:
                if (runs.read_metrics(run_dir) or {}).get("epochs"):
                    latest[model_dir.name] = visualize.load_run(run_dir)
                    break
            except UserError as e:  # one broken run does not spoil the report
                print(f"warning: skipping {run_dir}: {e}", file=sys.stderr)
    if not latest:
        raise UserError(f"no runs with a finished epoch in {logdir}; train one first: python train.py --model lenet")
    lines = ["# CIFAR-10 results", "", results_table(list(latest.values())), ""]
    for name, m in latest.items():
        lines += [f"## {name}", "", f"Run: `{m['run_dir']}`, command: `{m['command']}`", ""]
        lines += [f"![{name} {k}]({p.relative_to(out)})" for k, p in
                  zip(("loss", "accuracy"), visualize.plot_curves(m, out / "figures"))]
        try:
            model, _ = checkpoints.load_model(m["run_dir"])
            lines += ["", "### Architecture", "", architecture_table(model), "", "### Training details", "",
                      training_details(m, model), ""]
            lines += [f"![{name} filters]({p.relative_to(out)})" for p in visualize.plot_filters(m["run_dir"], 0, out / "figures")]
            lines += [f"![{name} confusion]({visualize.plot_confusion(m['run_dir'], out / 'figures').relative_to(out)})"]
        except UserError as e:
            lines += ["", f"(no architecture or filter figures: {e})"]
        lines.append("")
    names = list(latest)
    if len(names) >= 2:
        lines += ["## Comparison", "", f"![compare]({visualize.plot_compare(latest[names[0]], latest[names[1]], out / 'figures').relative_to(out)})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
