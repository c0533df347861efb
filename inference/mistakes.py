"""A trained run's test set as its best checkpoint scores it, with the final evaluation's TTA (so
the numbers are the report's): what figures/mistakes.py and figures/calibration.py work from."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Scored:
    """The test set as the model scored it."""
    images: torch.Tensor  # uint8 (N, 3, S, S)
    labels: torch.Tensor  # (N,)
    probs: torch.Tensor   # (N, classes) softmax
    classes: list[str]

    def worst(self, n: int) -> list[dict]:
        from figures.mistakes import worst

        return worst(self.probs, self.labels, self.classes, n)


def score(run, batch_size: int = 500, gpus: int | None = 0) -> Scored:
    """The run's test set through its best checkpoint (inference/trained.Trained), with its TTA."""
    from inference.predict import probabilities

    dm = run.datamodule()
    images, labels = dm.test_set()
    probs = probabilities(run.model, images, batch_size, gpus, progress=False)
    return Scored(images, labels, probs, list(dm.classes))
