"""The report: `write_report` writes report.md, the skeleton of the assignment's report, with every
figure and table (report/tables.py) from a logdir's runs.

    python visualize.py report [LOGDIR] [--out DIR]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Sequence

from core.errors import UserError
from report import checkpoint_figures, curves
from report.tables import architecture_table, results_table, training_details
from training import checkpoints


DISCUSS = "> *Discussion: write yours here.*"


def _accuracy(runs: list[dict]) -> float:
    """The mean over seeds of the best checkpoint's test accuracy (val where a run has no test)."""
    finals = [m.get("final") or {} for m in runs]
    return sum(f.get("test_acc") or f.get("val_acc") or 0.0 for f in finals) / len(finals)


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

    def curves(self, runs: list[dict], what: str) -> None:
        """Loss and accuracy figures; `what` (a sentence) goes under both."""
        m = runs[0]
        loss, acc = curves.plot_curves(runs, self.figures)
        stages = "train (augmented batches), validation" + (", test" if any("test_acc" in e for e in m["epochs"]) else "")
        seeds = curves.seeds_note(runs) + "; dotted: the best checkpoint's epoch"
        self.figure(loss, f"{m['model']}: {curves.loss_label(m)} per epoch, {stages}{seeds}. {what}")
        self.figure(acc, f"{m['model']}: accuracy per epoch, {stages}{seeds}. {what}")

    def run_line(self, runs: list[dict]) -> None:
        """The run folders as the logdir names them (lenet/version_3): the same on every machine."""
        rels = [f"`{Path(m['run_dir']).parent.name}/{Path(m['run_dir']).name}` (seed {m.get('seed')})" for m in runs]
        self.add(f"Run{'s' if len(runs) > 1 else ''}: {', '.join(rels)} in the logdir; "
                 f"command: `{runs[0]['command']}`" + (" (and its other seeds)" if len(runs) > 1 else ""))

    def model_section(self, runs: list[dict], filters: bool) -> None:
        """Architecture table, training details and, if asked, the filter and confusion figures (of
        the first seed's run: the architecture is the same for every seed)."""
        m, missing = runs[0], None
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
        weights = model.hparams.get("weights")
        source = (model.init_note or {"imagenet": "ImageNet weights", "none": "its random initialisation"}.get(
            weights, f"the weights of {Path(str(weights)).name}"))
        frozen = "" if first.weight.requires_grad else f" This layer is frozen: its weights were not trained ({source})."
        image, last, weights = checkpoint_figures.plot_filters(m["run_dir"], 0, self.figures)
        which = f" (the seed {m.get('seed')} run)" if len(runs) > 1 else ""
        self.figure(image, f"{m['model']}{which}: test image 0 and the first conv layer's output maps "
                           f"(before the activation), each map scaled to 0..1 on its own.{frozen}")
        self.figure(last, f"{m['model']}: the last conv layer's 64 most active output maps for the same image "
                          f"(before the activation), each scaled on its own.")
        self.figure(weights, f"{m['model']}: the first conv layer's weights, RGB, each filter scaled to 0..1.{frozen}")
        self.figure(checkpoint_figures.plot_confusion(m["run_dir"], self.figures),
                    f"{m['model']}{which}: test confusion matrix of the best checkpoint (with the model's TTA, "
                    f"as its test accuracy), per-class accuracy.")


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


def _transfer_note(m: dict) -> str:
    """What trains in a transfer-learning run, and from which weights: from its recorded recipe."""
    weights = (m.get("hparams") or {}).get("weights", "imagenet")
    if weights == "imagenet":
        return "Only layer4 and the classifier train; the rest keeps its ImageNet weights."
    if weights == "none":
        return ("Trained without ImageNet weights (`--weights none`): only layer4 and the classifier train, "
                "the rest keeps its random initialisation, so this is not transfer learning.")
    return f"Only layer4 and the classifier train; the rest keeps the weights of `{Path(weights).name}`."


def write_report(logdir: Path, out: Path, compare: Sequence[str] | None = None, dataset: str | None = None,
                 named: Sequence[str] | None = None) -> Path:
    """report.md in the order of the assignment's items, for one data set's runs (report/runs.py);
    items without a run say how to make one."""
    from datamodules.sources import DATASETS
    from lit_modules import MODELS
    from report import runs as chosen_runs

    if compare is not None and len(compare) < 2:
        raise UserError("--compare needs two or more runs (model names or run folders)")
    data, latest, note = chosen_runs.select(logdir, dataset, named)
    transfer = [n for n in latest if "weights" in MODELS.get(n, MODELS["lenet"]).all_defaults()]
    custom = [n for n in latest if n != "lenet" and n not in transfer]
    r = _Report(out, logdir)
    every = [m for runs in latest.values() for m in runs]
    r.add(f"# {DATASETS[data].title if data in DATASETS else data} results",
          "Made by `python visualize.py report` from " + ("the runs named" if named else "each model's latest "
          "experiment (its latest finished run's settings)") + ", the seeds of one experiment merged; paths are "
          "relative to this file. Val and test numbers are the "
          "best checkpoint's (by validation accuracy), re-scored with the model's TTA. " + note,
          results_table(every))

    r.add("## 1. LeNet baseline")
    if "lenet" in latest:
        runs = latest["lenet"]
        r.run_line(runs)
        r.add("### 1a. Training curves")
        r.curves(runs, "The assignment's train, validation and test curves in a single plot.")
        r.add("### 1b. Final accuracies", results_table(runs))
        r.add("### 1c. Parameters")
        r.model_section(runs, filters=True)
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
        r.add("### 2b. The custom models side by side", results_table([m for n in custom for m in latest[n]]))
        best = max(custom, key=lambda n: _accuracy(latest[n]))
        r.add(f"### 2c/2d. Curves of the best custom model ({best})")
        r.curves(latest[best], "The most accurate custom model by test accuracy.")
        r.add("### 2e. What helped, what did not", DISCUSS)
    else:
        r.missing("2a-2e", "python train.py --model vgg_bn")

    r.add("## 3. Transfer learning")
    if transfer:
        runs = latest[transfer[0]]
        r.run_line(runs)
        r.add("### 3b/3c. Training curves")
        r.curves(runs, _transfer_note(runs[0]))
        r.add("### 3e/3f/3g. First and last conv activations, first-conv weights")
        r.model_section(runs, filters=True)
    else:
        r.missing("3b-3g", "python train.py --model resnet18 --gpus 1")
    groups = [latest_or_path(latest, c) for c in compare] if compare else default_pair(latest, transfer)
    r.add("### 3d. Comparison in one plot")
    if len(groups) >= 2:
        labels = curves.compare_labels([g[0] for g in groups])
        r.figure(curves.plot_compare(groups, r.figures),
                 "Train (dashed) and validation (solid) loss of " + " and ".join(labels) + " in one plot"
                 + (", seeds as a mean and a band" if any(len(g) > 1 for g in groups) else "") + "."
                 + ("" if compare or transfer else " No transfer-learning run here: the two most accurate models instead."))
        r.add(DISCUSS)
    else:
        r.missing("3d", "python train.py --model resnet18 --gpus 1")
    if (logdir / "optuna.db").is_file():
        from report.study import report_section

        report_section(r, logdir)
    path = out / "report.md"
    path.write_text(_portable("\n".join(r.lines)))
    return path


def default_pair(latest: dict[str, list[dict]], transfer: list[str]) -> list[list[dict]]:
    """The most accurate experiment against the transfer-learning one, or the two most accurate;
    all of one data set (the report's)."""
    ranked = sorted(latest.values(), key=_accuracy, reverse=True)
    if transfer and ranked[0][0]["model"] != transfer[0]:
        return [ranked[0], latest[transfer[0]]]
    return ranked[:2]


def latest_or_path(latest: dict[str, list[dict]], spec: str) -> list[dict]:
    """--compare takes a model name (its experiment here) or a run folder / metrics.json."""
    return latest[spec] if spec in latest else [curves.load_run(spec)]
