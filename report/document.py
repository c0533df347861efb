"""The report: `write_report` writes report.md, the skeleton of the assignment's report, with every
figure and table (report/tables.py) from a logdir's runs.

    python visualize.py report [LOGDIR] [--out DIR]
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Sequence

from core.errors import UserError
from report import checkpoint_figures, curves
from report.tables import architecture_table, results_table, training_details
from training import checkpoints, run_dirs


DISCUSS = "> *Discussion: write yours here.*"


def latest_runs(logdir: Path) -> dict[str, dict]:
    """The latest run with a finished epoch of each model in `logdir`; broken runs are skipped."""
    latest, broken = {}, []
    for model_dir in sorted(p for p in logdir.iterdir() if p.is_dir()) if logdir.is_dir() else []:
        for run_dir in reversed(run_dirs.versions(logdir, model_dir.name)):
            try:
                if (run_dirs.read_metrics(run_dir) or {}).get("epochs"):
                    latest[model_dir.name] = curves.load_run(run_dir)
                    break
            except UserError as e:  # one broken run does not spoil the report
                print(f"warning: skipping {run_dir}: {e}", file=sys.stderr)
                broken.append(run_dir / "metrics.json")
    if not latest and broken:
        raise UserError(f"no readable run in {logdir}: {', '.join(map(str, broken))} "
                        f"{'is' if len(broken) == 1 else 'are'} broken (see the warnings above)")
    if not latest:
        raise UserError(f"no runs with a finished epoch in {logdir}; train one first: python train.py --model lenet")
    return latest


def _accuracy(m: dict) -> float:
    f = m.get("final") or {}
    return f.get("test_acc") or f.get("val_acc") or 0.0


def _portable(text: str) -> str:
    """The text without this machine's absolute paths: /work/data/cifar10-jpeg -> .../cifar10-jpeg."""
    return re.sub(r"(?<![\w.])/(?:[^\s`'\",:;()/]+/)*([^\s`'\",:;()/]+)", r".../\1", text)


class _Report:
    """report.md's lines; figures go to out/figures, and every path in the text is relative to out."""

    def __init__(self, out: Path, logdir: Path):
        self.out, self.logdir, self.figures, self.lines = out, logdir, out / "figures", []

    def add(self, *blocks: str) -> None:
        for block in blocks:  # a blank line after each: a table must not touch a paragraph
            self.lines += [block, ""]

    def figure(self, path: Path, caption: str) -> None:
        self.add(f"![{caption}]({path.relative_to(self.out).as_posix()})", f"*{caption}*")

    def missing(self, item: str, command: str) -> None:
        self.add(f"**Missing** ({item}): no such run in this logdir. Make it with `{command}`, then run the report again.")

    def curves(self, m: dict, what: str) -> None:
        loss, acc = curves.plot_curves(m, self.figures)
        stages = "train (augmented batches), validation" + (", test" if any("test_acc" in e for e in m["epochs"]) else "")
        self.figure(loss, f"{m['model']}: {curves.loss_label(m)} per epoch, {stages}. {what}")
        self.figure(acc, f"{m['model']}: accuracy per epoch, {stages}. {what}")

    def run_line(self, m: dict) -> None:
        """The run folder as the logdir names it (lenet/version_3): the same on every machine."""
        rel = os.path.relpath(m["run_dir"], self.logdir)
        self.add(f"Run: `{Path(rel).as_posix()}` in the logdir; command: `{m['command']}`")

    def model_section(self, m: dict, filters: bool) -> None:
        """Architecture table, training details and, if asked, the filter and confusion figures."""
        missing = None
        try:
            model, _ = checkpoints.load_model(m["run_dir"])
        except UserError as e:  # a copied metrics.json, say: the structure still follows from the recipe
            model, missing = _untrained(m), e
            if model is None:
                self.add(f"(no architecture: {e})")
                return
        self.add(f"Architecture of `{m['model']}` (a 1x3x32x32 input):", architecture_table(model))
        self.add("Training details:", training_details(m, model))
        if filters and missing is not None:
            has_folder = (Path(m["run_dir"]) / "checkpoints").is_dir()
            if has_folder:  # a broken or refused checkpoint: say which, not just "missing"
                print(f"warning: no filter figures or confusion matrix for {m['model']}: {missing}", file=sys.stderr)
            self.add(f"**Missing** (filter figures and confusion matrix of {m['model']}): they need the run's "
                     f"checkpoint, {missing if has_folder else 'which is not next to this record'}. "
                     f"Make them with `{m['command']}`.")
        if not filters or missing is not None:
            return
        from torch import nn  # the model is loaded, so torch is too; `visualize.py table` needs neither

        first = next(mod for mod in model.modules() if isinstance(mod, nn.Conv2d))
        frozen = "" if first.weight.requires_grad else " This layer is frozen: its weights were not trained" + (
            f" ({model.init_note})" if model.init_note else " (ImageNet weights)") + "."
        image, last, weights = checkpoint_figures.plot_filters(m["run_dir"], 0, self.figures)
        self.figure(image, f"{m['model']}: validation image 0 and the first conv layer's output maps "
                           f"(before the activation), each map scaled to 0..1 on its own.{frozen}")
        self.figure(last, f"{m['model']}: the last conv layer's 64 most active output maps for the same image "
                          f"(before the activation), each scaled on its own.")
        self.figure(weights, f"{m['model']}: the first conv layer's weights, RGB, each filter scaled to 0..1.{frozen}")
        self.figure(checkpoint_figures.plot_confusion(m["run_dir"], self.figures),
                    f"{m['model']}: test confusion matrix of the best checkpoint (no TTA), per-class accuracy.")


def _untrained(m: dict):
    """The run's network rebuilt from its recorded recipe (untrained): for the architecture table."""
    from lit_modules import MODELS

    cls = MODELS.get(m["model"])
    if cls is None:
        return None
    specs = cls.all_specs()
    hp = {k: v for k, v in (m.get("hparams") or {}).items() if k in specs}
    if "weights" in specs:
        hp["weights"] = "none"
    try:
        return cls(**hp)
    except UserError:
        return None


def write_report(logdir: Path, out: Path, compare: Sequence[str] | None = None) -> Path:
    """report.md in the order of the assignment's items; items without a run say how to make one."""
    from lit_modules import MODELS

    latest = latest_runs(logdir)
    transfer = [n for n in latest if "weights" in MODELS.get(n, MODELS["lenet"]).all_defaults()]
    custom = [n for n in latest if n != "lenet" and n not in transfer]
    r = _Report(out, logdir)
    from datamodules.sources import DATASETS
    from report.tables import dataset

    titles = sorted({DATASETS[dataset(m)].title if dataset(m) in DATASETS else dataset(m) for m in latest.values()})
    r.add(f"# {' and '.join(titles)} results", "Made by `python visualize.py report` from the latest finished run of each "
          "model; paths are relative to this file. Val and test numbers are the best checkpoint's "
          "(by validation accuracy), re-scored with the model's TTA.", results_table(list(latest.values())))

    r.add("## 1. LeNet baseline")
    if "lenet" in latest:
        m = latest["lenet"]
        r.run_line(m)
        r.add("### 1a. Training curves")
        r.curves(m, "The assignment's train, validation and test loss in a single plot.")
        r.add("### 1b. Final accuracies", results_table([m]))
        r.add("### 1c. Parameters")
        r.model_section(m, filters=True)
        r.add(DISCUSS)
    else:
        r.missing("1a-1c", "python train.py --model lenet")

    r.add("## 2. Custom CNNs")
    if custom:
        r.add("### 2a. Architectures and training details")
        for n in custom:
            r.add(f"#### {n}")
            r.run_line(latest[n])
            r.model_section(latest[n], filters=True)
        r.add("### 2b. The custom models side by side", results_table([latest[n] for n in custom]))
        best = max(custom, key=lambda n: _accuracy(latest[n]))
        r.add(f"### 2c/2d. Curves of the best custom model ({best})")
        r.curves(latest[best], "The most accurate custom model by test accuracy.")
        r.add("### 2e. What helped, what did not", DISCUSS)
    else:
        r.missing("2a-2e", "python train.py --model vgg_bn")

    r.add("## 3. Transfer learning")
    if transfer:
        m = latest[transfer[0]]
        r.run_line(m)
        r.add("### 3b/3c. Training curves")
        r.curves(m, "Only layer4 and the classifier train; the rest keeps its ImageNet weights.")
        r.add("### 3e/3f/3g. First and last conv activations, first-conv weights")
        r.model_section(m, filters=True)
    else:
        r.missing("3b-3g", "python train.py --model resnet18 --gpus 1")
    if compare is not None and len(compare) < 2:
        raise UserError("--compare needs two or more runs (model names or run folders)")
    pair = [latest_or_path(latest, c) for c in compare] if compare else default_pair(latest, transfer)
    r.add("### 3d. Comparison in one plot")
    if len(pair) >= 2:
        r.figure(curves.plot_compare(pair, r.figures),
                 "Train and validation loss of " + " and ".join(curves.compare_labels(pair)) + " in one plot.")
        r.add(DISCUSS)
    else:
        r.missing("3d", "python train.py --model resnet18 --gpus 1")
    path = out / "report.md"
    path.write_text(_portable("\n".join(r.lines)))
    return path


def default_pair(latest: dict[str, dict], transfer: list[str]) -> list[dict]:
    """The most accurate run against the transfer-learning run, or the two most accurate."""
    ranked = sorted(latest.values(), key=_accuracy, reverse=True)
    if transfer and ranked[0]["model"] != transfer[0]:
        return [ranked[0], latest[transfer[0]]]
    return ranked[:2]


def latest_or_path(latest: dict[str, dict], spec: str) -> dict:
    """--compare takes a model name (its latest run here) or a run folder / metrics.json."""
    return latest[spec] if spec in latest else curves.load_run(spec)
