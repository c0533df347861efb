"""What TensorBoard shows, written by us rather than by Lightning's per-step logger, so that it reads
well. The layout is TensorBoard's own convention (Keras's callback does the same): one event folder
per stage under the run, `version_N/train`, `/val`, `/test`, each with the same tags (`acc`,
`loss`) at step = epoch. Every chart then overlays the stages in their own colours, in Scalars and
Time Series alike, and runs of any batch size line up. The run folder itself holds what belongs to
the run as a whole: its Text entry (what it is), the HParams entry, filter images, the confusion
matrix. The best checkpoint's re-scored numbers go to `result/acc` and `result/loss` of the val and
test folders, at the best epoch.

The model logs with `logger=False`: these are the only scalars in the event files.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from core.recipe import settings_text
from core.run_folder import EPOCH_TAGS, FINAL_PREFIX, METRICS, STAGES, best_epoch, row_key

# The best checkpoint's re-scored numbers: a group named to sort after the curves, not above them.
RESULT = "result"
STEP_LOSS = "loss per step (with label smoothing)"


class StagedLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger plus one writer per stage in the run's `train/`, `val/`,
    `test/` subfolders, opened when first used (on the first process only) and closed with the logger."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stages: dict[str, Any] = {}

    def stage(self, name: str):
        from torch.utils.tensorboard import SummaryWriter

        if name not in self._stages:
            self._stages[name] = SummaryWriter(str(Path(self.log_dir) / name))
        return self._stages[name]

    def flush_stages(self) -> None:
        for w in self._stages.values():
            w.flush()

    def close_stages(self) -> None:
        for w in self._stages.values():
            w.close()
        self._stages = {}  # a later use reopens them: a new event file, same folder

    def finalize(self, status: str) -> None:
        super().finalize(status)
        self.close_stages()


def _logger(trainer: pl.Trainer) -> StagedLogger | None:
    logger = trainer.logger
    return logger if isinstance(logger, StagedLogger) and trainer.is_global_zero else None


def _writer(trainer: pl.Trainer):
    logger = trainer.logger
    if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
        return logger.experiment
    return None


def run_text(info: dict[str, Any]) -> str:
    """The run's Text entry, in Markdown: what a run name like lenet/version_2 does not say."""
    data = info["data"]
    changes = ", ".join(f"`{k}={v}`" for k, v in info.get("changes", {}).items()) or "nothing (the model's defaults)"
    classes = data.get("classes") or []
    return "\n".join([
        f"**{info['model']}**, seed {info['seed']}, on `{data.get('dataset', 'cifar10')}` "
        f"({len(classes)} classes: {', '.join(classes)})",
        "",
        f"- images: {data.get('train')} train, {data.get('val')} validation, {data.get('test')} test",
        f"- changed from the defaults: {changes}",
        f"- device: {info['device']}, precision {info['precision']}",
        f"- command: `{info['command']}`",
    ])


class EpochScalars(pl.Callback):
    """Per-epoch `acc` and `loss` in each stage's folder at step = epoch; the training loss every
    `every_n_steps` steps (written at the epoch's end); the run's Text entry at the start (`info`:
    the run's record without its numbers); when the final test ends, the best checkpoint's entries
    (`log_final`, with test image `image_index`'s filter images)."""

    def __init__(self, every_n_steps: int = 50, info: dict[str, Any] | None = None, image_index: int = 0):
        self.every_n_steps, self.info, self.image_index = every_n_steps, info, image_index
        self.text = run_text(info) if info else None
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not written yet

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = _writer(trainer)
        if tb is not None and self.text:  # at the first epoch to come: a resume writes no earlier step
            tb.add_text("about", self.text, trainer.current_epoch + 1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 and _logger(trainer) is not None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            if loss is not None:  # kept on the device: reading it now would make the host wait for the GPU
                self.pending.append((step, loss.detach().clone()))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = _logger(trainer)
        if logger is None:
            return
        if self.pending:  # one read for the epoch's per-step losses
            for (step, _), value in zip(self.pending, torch.stack([v for _, v in self.pending]).tolist()):
                logger.stage("train").add_scalar(STEP_LOSS, value, step)
            self.pending = []
        metrics = trainer.callback_metrics
        for tag in EPOCH_TAGS:
            if tag in metrics:
                stage, metric = tag.split("/")
                logger.stage(stage).add_scalar(metric, float(metrics[tag]), trainer.current_epoch + 1)
        logger.flush_stages()

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        epoch = best_epoch(best) if best else None
        if _logger(trainer) is None or epoch is None or self.info is None:
            return
        from figures.confusion import confusion_figure
        from figures.filters import filter_images

        dm = trainer.datamodule
        images, caption = filter_images(pl_module, *dm.test_image(self.image_index), self.image_index, dm.classes)
        cm = getattr(pl_module, "test_confusion", None)
        figure = None if cm is None else confusion_figure(cm, dm.classes, self.info["model"], pl_module.hparams.tta)
        final = {row_key(k): float(v) for k, v in trainer.callback_metrics.items()
                 if k.startswith(FINAL_PREFIX) and math.isfinite(float(v))}  # the record's `final`, re-scored part
        wrong, texts, figures = _mistakes(pl_module, dm)
        log_final(trainer, self.info, final, epoch, {**images, **wrong}, caption, figure, texts, figures)


def _mistakes(model, dm) -> tuple[dict, dict, dict]:
    """The final test's 20 highest-loss test images as one image, as text their classes and
    probabilities, the per-class precision/recall/F1 and the expected calibration error, and as
    figures the per-class bars and the reliability diagram (none under DDP, or when the test did not
    cover the test set). The figures are the report's own, drawn once at the run's end like the
    confusion matrix beside them (a few hundred milliseconds; the mistakes grid is tensor tiles)."""
    probs = getattr(model, "test_probs", None)
    images, labels = dm.test_set()
    if probs is None or len(probs) != len(labels):
        return {}, {}, {}
    from figures.calibration import calibration, reliability_figure
    from figures.mistakes import per_class, per_class_figure, per_class_table, tiles, worst

    classes, name = list(dm.classes), model.name
    rows = worst(probs, labels, classes, 20)
    table = ["| image | true | p(true) | predicted | p(predicted) |", "|---|---|---|---|---|"]
    table += [f"| {i + 1} (test {r['index']}) | {r['true']} | {100 * r['p_true']:.1f}% | {r['pred']} | "
              f"{100 * r['p_pred']:.1f}% |" for i, r in enumerate(rows)]
    scores, cal = per_class(probs, labels, classes), calibration(probs, labels)
    figures = {"best/per class (test set)": per_class_figure(scores, name),
               "best/reliability diagram (test set)": reliability_figure(cal, name)}
    return ({"mistakes (test set, highest loss first, 5 a row)": tiles(images[[r["index"] for r in rows]])},
            {"best/mistakes (test set)": "\n".join(table),
             "best/per class (test set)": per_class_table(scores)
             + f"\n\nexpected calibration error: {100 * cal['ece']:.2f}%"}, figures)


def flat_hparams(info: dict[str, Any]) -> dict[str, Any]:
    """The run's settings as plain scalars for the HParams tab: what sets runs apart (model, data
    set, seed, the settings changed from the defaults), then every recipe key.

    The HParams table opens with five columns ticked: the keys whose values differ between runs,
    by name. Capitalised, the four that say what a run is sort before every recipe key."""
    changes = settings_text(info.get("changes", {}), "defaults", sep=" ")
    flat: dict[str, Any] = {"Model": info["model"], "Dataset": info["data"].get("dataset", "cifar10"),
                            "Seed": info["seed"], "Changed": changes, "precision": info["precision"]}
    if info.get("study"):  # a tune.py trial: compared with its study's other trials
        flat.update({"Study": info["study"]["name"], "Trial": info["study"]["trial"], "State": info["study"]["state"]})
    for group in info["recipe"].values():
        for k, v in group.items():
            flat[k] = v if isinstance(v, (bool, int, float, str)) else str(v)
    return flat


def hparams_entry(flat: dict[str, Any], step: int, writer) -> None:
    """The run's HParams session, without an experiment summary of its own. TensorBoard takes the
    first experiment summary it finds as the columns of every run: with each run's own (its model's
    keys only), the other models' keys vanished. Without one, TensorBoard builds the columns from
    all runs' sessions, the union of their keys, puts those whose values differ first, and takes
    the metrics from the stage folders (acc and loss of train, val, test; result/*)."""
    from torch.utils.tensorboard.summary import hparams

    _, start, end = hparams(flat, {})
    for summary in (start, end):
        writer._get_file_writer().add_summary(summary, step)


def log_final(trainer: pl.Trainer, info: dict[str, Any], final: dict[str, Any], best_epoch: int,
              images: dict[str, torch.Tensor], caption: str, confusion=None, texts: dict | None = None,
              figures: dict | None = None) -> None:
    """The best checkpoint's numbers (result/*), the HParams entry, the filter images, the confusion
    matrix, `texts` (tag -> Markdown) and `figures` (tag -> matplotlib figure), at the best epoch.
    `images`: tag -> (3, H, W) image."""
    logger = _logger(trainer)
    if logger is None:
        return
    for stage in STAGES[1:]:
        for metric in METRICS:
            if final.get(f"{stage}_{metric}") is not None:
                logger.stage(stage).add_scalar(f"{RESULT}/{metric}", final[f"{stage}_{metric}"], best_epoch)
    logger.close_stages()
    tb = logger.experiment
    # Tags of their own: the per-epoch filter images (--filters-every) already reach later steps, and
    # TensorBoard reads a tag's step going back as a restart and drops everything after it.
    for tag, image in images.items():
        tb.add_image(f"best/{tag}", image, best_epoch)
    tb.add_text("best/filters/caption", f"best checkpoint (epoch {best_epoch}): {caption}", best_epoch)
    if confusion is not None:
        tb.add_figure("best/confusion matrix (test set)", confusion, best_epoch)  # its title names the TTA
    for tag, fig in (figures or {}).items():
        tb.add_figure(tag, fig, best_epoch)  # closes the figure
    for tag, text in (texts or {}).items():
        tb.add_text(tag, text, best_epoch)
    hparams_entry(flat_hparams(info), best_epoch, tb)
    tb.flush()
