"""Does a 95% softmax mean 95%? The expected calibration error (torchmetrics'
MulticlassCalibrationError: top-label, L1, 15 equal-width confidence bins) and the reliability
diagram drawn from the same metric's own binning, not a second one written here."""
from __future__ import annotations

import torch

from figures.style import plt

N_BINS = 15  # torchmetrics' default, and the usual choice since Guo et al. 2017


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


def reliability_figure(cal: dict, name: str):
    """Accuracy against mean confidence per bin (the diagonal is perfect calibration), with the
    share of images in each bin below."""
    edges = cal["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.6, 5), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    filled = [i for i, s in enumerate(cal["share"]) if s > 0]
    top.bar([centres[i] for i in filled], [cal["accuracy"][i] for i in filled], width * 0.95, label="accuracy")
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    top.plot([cal["confidence"][i] for i in filled], [cal["accuracy"][i] for i in filled], "o", ms=3, color="C1",
             label="mean confidence")
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
            title=f"{name}: reliability diagram\nexpected calibration error {100 * cal['ece']:.2f}%")
    top.legend(fontsize=7, loc="upper left")
    bottom.bar(centres, [100 * s for s in cal["share"]], width * 0.95, color="C7")
    bottom.set(xlabel="confidence (top-1 softmax probability)", ylabel="% of images")
    return fig
