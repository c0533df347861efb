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
    probs = _saved(run, len(labels))
    if probs is None:
        probs = probabilities(run.model, images, batch_size, gpus, progress=False)
    return Scored(images, labels, probs, list(dm.classes))


def _saved(run, n: int) -> torch.Tensor | None:
    """The final test's own probabilities, saved beside the record (no second pass over the test
    set: minutes for resnet18 on a CPU), when they are this checkpoint's, with its TTA."""
    from core import run_folder
    from training.checkpoints import load_safely

    path = run.run_dir / run_folder.PROBS if run.run_dir is not None else None
    try:
        saved = load_safely(path, map_location="cpu") if path is not None and path.is_file() else None
    except Exception:  # noqa: BLE001 -- a damaged file: score again
        return None
    if not (isinstance(saved, dict) and saved.get("checkpoint") == run.path.name
            and saved.get("tta") == run.model.hparams.tta and getattr(saved.get("probs"), "shape", (0,))[0] == n):
        return None
    return saved["probs"].float()
