"""The report's page as blocks (headings, text, tables, figures, discussion places with their
facts), which report/markdown.py, report/pdf.py and report/latex.py each write in their format;
figures go under out/figures, named relative to out. And the per-model block every section uses
(architecture table, training details, filter figures and the confusion matrix from the run's
best checkpoint, read once)."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from core import run_folder
from core.errors import UserError
from report import checkpoint_figures, curves
from inference import trained as trained_runs
from inference.trained import Trained
from report.architecture import architecture_table
from report.tables import training_details

DISCUSS = "Discussion: write yours here."


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "text" (Markdown inline marks, "- " list lines), "table" (a Markdown table), "figure", "discuss"
    text: str = ""  # a figure's caption
    level: int = 0  # a heading's: 1 is the title
    path: str = ""  # a figure's file, relative to the report's folder
    facts: tuple[str, ...] = ()  # a discussion place's measured facts


def portable(text: str) -> str:
    """The text without this machine's absolute paths: /work/data/cifar10-jpeg -> .../cifar10-jpeg."""
    return re.sub(r"(?<![\w.])/(?:[^\s`'\",:;()/]+/)*([^\s`'\",:;()/]+)", r".../\1", text)


class Page:
    """The report's blocks; figures go to out/figures, and every path in the text is relative to out."""

    def __init__(self, out: Path, logdir: Path, runs: list[dict] | None = None, dataset: str = ""):
        """`runs`: every run the report is about (its title block names their commits and machines)."""
        self.out, self.logdir, self.figures, self.blocks = out, logdir, out / "figures", []
        self.runs, self.dataset = list(runs or []), dataset

    def add(self, *texts: str) -> None:
        """Markdown: a heading ("## ..."), a table ("| ..."), or text."""
        for t in texts:
            t = portable(t)
            if t.startswith("#"):
                level = len(t) - len(t.lstrip("#"))
                self.blocks.append(Block("heading", t[level:].strip(), level=level))
            else:
                self.blocks.append(Block("table" if t.startswith("|") else "text", t))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(Block("figure", portable(caption), path=path.relative_to(self.out).as_posix()))

    def discuss(self, facts=()) -> None:
        """A marked place for the student's discussion, with the measured facts it needs."""
        self.blocks.append(Block("discuss", DISCUSS, facts=tuple(portable(f) for f in facts)))

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

    def model_section(self, runs: list[dict], filters: bool) -> dict | None:
        """Architecture table, training details and, if asked, the filter and confusion figures (of
        the first seed's run: the architecture is the same for every seed). The run's best
        checkpoint is read once for all of them. Returns what the filter figures show (None: none)."""
        m, missing, trained = runs[0], None, None
        try:
            trained = trained_runs.load(m["run_dir"], record=m)
            model = trained.model
        except UserError as e:  # a copied metrics.json, say: the structure still follows from the recipe
            model, missing = _untrained(m), e
            if model is None:
                self.add(f"(no architecture: {e})")
                return None
        size = model.hparams.image_size
        self.add(f"Architecture of `{m['model']}` (a 1x3x{size}x{size} input):", architecture_table(model))
        self.add("Training details:", training_details(m, model))
        if filters and missing is not None:
            has_folder = run_folder.checkpoint_dir(Path(m["run_dir"])).is_dir()
            if has_folder:  # a broken or refused checkpoint: say which, not just "missing"
                print(f"warning: no filter figures or confusion matrix for {m['model']}: {missing}", file=sys.stderr)
            self.add(f"**Missing** (filter figures and confusion matrix of {m['model']}): they need the run's "
                     f"checkpoint, {missing if has_folder else 'which is not next to this record'}. "
                     f"Make them with `{m['command']}`.")
        if filters and trained is not None:
            self.trained_figures(trained, runs)
            return checkpoint_figures.filter_facts(trained, 0)
        return None

    def trained_figures(self, t: Trained, runs: list[dict]) -> None:
        """The filter figures (or a line saying the network has none) and the confusion matrix."""
        from figures.filters import NO_CONV, conv_layers

        m = runs[0]
        which = f" (the seed {m.get('seed')} run)" if len(runs) > 1 else ""
        layers = conv_layers(t.model)
        if layers is None:
            self.add(f"No filter figures for `{m['model']}`: {NO_CONV}.")
        else:
            first = layers[0][1]
            weights = t.model.hparams.get("weights")
            source = (t.model.init_note or {"imagenet": "ImageNet weights", "none": "its random initialisation"}.get(
                weights, f"the weights of {Path(str(weights)).name}"))
            frozen = "" if first.weight.requires_grad else f" This layer is frozen: its weights were not trained ({source})."
            image, last, w = checkpoint_figures.plot_filters(t, 0, self.figures)
            self.figure(image, f"{m['model']}{which}: test image 0 and the first conv layer's output maps "
                               f"(before the activation), each map scaled to 0..1 on its own.{frozen}")
            block = t.model.feature_block()[0] if hasattr(t.model, "feature_block") else "the last conv layer"
            self.figure(last, f"{m['model']}: the last conv block's 64 most active output maps for the same image "
                              f"(`{block}`: after its normalisation, activation and shortcut, as "
                              f"`model.children()` minus the classifier gives it), each scaled on its own.")
            self.figure(w, f"{m['model']}: the first conv layer's weights, RGB, each filter scaled to 0..1.{frozen}")
        self.figure(checkpoint_figures.plot_confusion(t, self.figures),
                    f"{m['model']}{which}: test confusion matrix of the best checkpoint (with the model's TTA, "
                    f"as its test accuracy), per-class accuracy.")
        self.mistakes(t, f"{m['model']}{which}")

    def mistakes(self, t: Trained, name: str, n: int = 20) -> None:
        """The highest-loss test images (with Grad-CAM), the per-class table and the reliability diagram."""
        from figures.mistakes import per_class_table
        from report import mistakes

        (grid, bars, reliability), facts = mistakes.plot_mistakes(t, self.figures, n)
        block = t.model.feature_block()
        cam = (f"; beside each, Grad-CAM heatmaps (from `{block[0]}`, the last conv block) for the predicted and "
               f"the true class" if block else "")
        self.figure(grid, f"{name}: the {n} test images the best checkpoint is most wrong about (highest loss), with "
                          f"its probability for the true and for the predicted class{cam}.")
        self.add(f"Per-class precision, recall and F1 of {name} on the test set (with the model's TTA):",
                 per_class_table(facts["per_class"]))
        self.figure(bars, f"{name}: per-class precision, recall and F1 on the test set.")
        self.figure(reliability, f"{name}: reliability diagram, accuracy against confidence in "
                                 f"{facts['calibration']['bins']} equal bins; expected calibration error "
                                 f"{100 * facts['calibration']['ece']:.2f}%.")


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
