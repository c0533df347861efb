"""What a trained model gets wrong on its test set: the images it is most wrong about, per-class
precision/recall/F1, and calibration (does a 95% softmax mean 95%?), all from one pass of the
run's best checkpoint with the final evaluation's TTA, so the numbers are the report's.

The metrics are torchmetrics' (MulticlassPrecision/Recall/F1Score per class, and
MulticlassCalibrationError: the expected calibration error over 15 equal-width confidence bins);
the reliability diagram's bins are the same metric's own binning, not a second one written here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

N_BINS = 15  # torchmetrics' default, and the usual choice since Guo et al. 2017


@dataclass
class Scored:
    """The test set as the model scored it."""
    images: torch.Tensor  # uint8 (N, 3, S, S)
    labels: torch.Tensor  # (N,)
    probs: torch.Tensor   # (N, classes) softmax
    classes: list[str]

    @property
    def losses(self) -> torch.Tensor:
        """Per image: cross-entropy of its true class, -log p(true)."""
        return -self.probs.gather(1, self.labels[:, None]).squeeze(1).clamp_min(1e-12).log()


def score(run, batch_size: int = 500, gpus: int | None = 0) -> Scored:
    """The run's test set through its best checkpoint (inference/trained.Trained), with its TTA."""
    from inference.predict import probabilities

    dm = run.datamodule()
    images, labels = dm.test_set()
    probs = probabilities(run.model, images, batch_size, gpus, progress=False)
    return Scored(images, labels, probs, list(dm.classes))


def worst(s: Scored, n: int) -> list[dict]:
    """The n test images with the highest loss, highest first: index, true and predicted class and
    the probability the model gave each."""
    order = s.losses.argsort(descending=True)[:n]
    out = []
    for i in order.tolist():
        pred, true = int(s.probs[i].argmax()), int(s.labels[i])
        out.append({"index": i, "true": s.classes[true], "pred": s.classes[pred], "p_true": float(s.probs[i, true]),
                    "p_pred": float(s.probs[i, pred]), "loss": float(s.losses[i])})
    return out


def per_class(s: Scored) -> list[dict]:
    """Per class: precision, recall, F1 and its number of test images."""
    from torchmetrics.classification import MulticlassF1Score, MulticlassPrecision, MulticlassRecall

    k = len(s.classes)
    values = {name: metric(k, average=None)(s.probs, s.labels).tolist()
              for name, metric in (("precision", MulticlassPrecision), ("recall", MulticlassRecall),
                                   ("f1", MulticlassF1Score))}
    counts = torch.bincount(s.labels, minlength=k).tolist()
    return [{"class": c, "precision": values["precision"][i], "recall": values["recall"][i], "f1": values["f1"][i],
             "images": counts[i]} for i, c in enumerate(s.classes)]


def calibration(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> dict:
    """Expected calibration error (torchmetrics, L1, top-label) and the reliability diagram's bins:
    per bin its accuracy, mean confidence and share of the images."""
    from torchmetrics.classification import MulticlassCalibrationError
    # The metric's own binning (a private helper of torchmetrics, stable since 0.11): the diagram
    # then shows exactly the bins the ECE sums over.
    from torchmetrics.functional.classification.calibration_error import _binning_bucketize

    ece = MulticlassCalibrationError(probs.shape[1], n_bins=n_bins, norm="l1")(probs, labels)
    confidences, predictions = probs.max(1)
    boundaries = torch.linspace(0, 1, n_bins + 1, dtype=confidences.dtype)
    acc, conf, share = _binning_bucketize(confidences, predictions.eq(labels).float(), boundaries)
    # Its bins are [edge, next edge) and one more for a confidence of exactly 1.0 (float32 softmax
    # saturates there): that one is drawn as part of the last bin.
    last = share[n_bins - 1:].sum()
    if last > 0:
        acc[n_bins - 1] = (acc[n_bins - 1:] * share[n_bins - 1:]).sum() / last
        conf[n_bins - 1] = (conf[n_bins - 1:] * share[n_bins - 1:]).sum() / last
        share[n_bins - 1] = last
    return {"ece": float(ece), "bins": n_bins, "accuracy": acc[:n_bins].tolist(), "confidence": conf[:n_bins].tolist(),
            "share": share[:n_bins].tolist(), "edges": boundaries.tolist()}
