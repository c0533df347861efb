"""report.md's page: its lines, figures (under out/figures, linked relative to out) and the
per-model block every section uses (architecture table, training details, filter figures and
the confusion matrix from the run's best checkpoint, read once)."""
from __future__ import annotations

import sys
from pathlib import Path

from core.errors import UserError
from report import checkpoint_figures, curves
from report.checkpoint_figures import Trained
from report.architecture import architecture_table
from report.tables import training_details

DISCUSS = "> *Discussion: write yours here.*"


class Page:
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
        the first seed's run: the architecture is the same for every seed). The run's best
        checkpoint is read once for all of them."""
        m, missing, trained = runs[0], None, None
        try:
            trained = checkpoint_figures.load(m["run_dir"], record=m)
            model = trained.model
        except UserError as e:  # a copied metrics.json, say: the structure still follows from the recipe
            model, missing = _untrained(m), e
            if model is None:
                self.add(f"(no architecture: {e})")
                return
        size = model.hparams.image_size
        self.add(f"Architecture of `{m['model']}` (a 1x3x{size}x{size} input):", architecture_table(model))
        self.add("Training details:", training_details(m, model))
        if filters and missing is not None:
            has_folder = (Path(m["run_dir"]) / "checkpoints").is_dir()
            if has_folder:  # a broken or refused checkpoint: say which, not just "missing"
                print(f"warning: no filter figures or confusion matrix for {m['model']}: {missing}", file=sys.stderr)
            self.add(f"**Missing** (filter figures and confusion matrix of {m['model']}): they need the run's "
                     f"checkpoint, {missing if has_folder else 'which is not next to this record'}. "
                     f"Make them with `{m['command']}`.")
        if filters and trained is not None:
            self.trained_figures(trained, runs)

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
            self.figure(last, f"{m['model']}: the last conv layer's 64 most active output maps for the same image "
                              f"(before the activation), each scaled on its own.")
            self.figure(w, f"{m['model']}: the first conv layer's weights, RGB, each filter scaled to 0..1.{frozen}")
        self.figure(checkpoint_figures.plot_confusion(t, self.figures),
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
