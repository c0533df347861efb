"""A trained model (inference/trained.py) on images from outside its data set: uint8 images scored
in batches through Lightning's `Trainer.predict` (on a GPU when asked, with a progress bar), preprocessed as the model's training data was (inference/images.py decodes and
resizes; the model's own `predict_step` normalises with the mean/std it was trained with).
"""
from __future__ import annotations

from typing import Any

import torch


def probabilities(model, images: torch.Tensor, batch_size: int = 500, gpus: int | None = 0,
                  tta: int | None = None, progress: bool = True) -> torch.Tensor:
    """(N, classes) softmax probabilities of uint8 images (N, 3, S, S), on the CPU."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from callbacks.interrupt import stop_at_once
    from core.devices import resolve_devices
    from training.run import quiet_lightning

    quiet_lightning(device_lines=True)
    devices = resolve_devices(gpus)
    trainer = pl.Trainer(accelerator=devices["accelerator"], devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=progress and len(images) > batch_size, enable_model_summary=False)
    model.predict_tta = tta
    # Batches sliced from the tensor (batch_size=None: no per-image indexing and collating, which
    # cost predict 12% of vgg_bn's throughput on 2 cores against the final evaluation's loader).
    loader = DataLoader(list(images.split(batch_size)), batch_size=None, shuffle=False)
    try:
        with stop_at_once():
            batches = trainer.predict(model, dataloaders=loader)
    finally:
        model.predict_tta = None
    return torch.cat([b.cpu() for b in batches])


def top_k(probs: torch.Tensor, classes: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per image, its k most probable classes and their probabilities, most probable first
    (1 <= k <= classes: predict.py checks --topk before any image is read)."""
    values, indices = probs.topk(k, dim=1)
    return [[(classes[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(), indices.tolist())]


def rows(names: list[str], top: list[list[tuple[str, float]]]) -> list[dict[str, Any]]:
    """One row per image: file, then class_1, prob_1, ... class_k, prob_k (the CSV's columns)."""
    out = []
    for name, best in zip(names, top):
        row: dict[str, Any] = {"file": name}
        for j, (cls, p) in enumerate(best, 1):
            row[f"class_{j}"], row[f"prob_{j}"] = cls, round(p, 6)
        out.append(row)
    return out
