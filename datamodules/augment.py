"""Batch-wise normalisation and augmentation of uint8 image tensors, on whatever device they are on.

Per-image PIL transforms cost a Python call per image; here one batch is a handful of tensor ops.
"""
from __future__ import annotations

import torch

# CIFAR-10 training-set statistics (the usual published values).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float32 normalised with the CIFAR-10 mean/std."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std


def random_crop_flip(images: torch.Tensor, padding: int = 4, mode: str = "constant",
                     flip: bool = True) -> torch.Tensor:
    """RandomCrop(32, padding) + RandomHorizontalFlip for a whole batch at once.

    Works on uint8 before normalisation, so zero padding means black pixels, exactly as
    torchvision's RandomCrop on a PIL image; mode="reflect" mirrors the border instead (airbench).
    `flip=False`: crop only (the sampler already flipped the batch: alternating flips).
    """
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4, mode=mode)
    hp, wp = h + 2 * padding, w + 2 * padding
    dev = images.device
    dy = torch.randint(0, 2 * padding + 1, (n, 1), device=dev)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), device=dev)
    # One gather from the flattened padded images: index = crop corner + (channel, row, col) offset.
    # A flat gather runs about twice as fast on the CPU as advanced indexing with four index tensors.
    corner = dy * wp + dx  # (n, 1)
    cols = torch.arange(w, device=dev)
    rows = torch.arange(c, device=dev)[:, None, None] * (hp * wp) + torch.arange(h, device=dev)[None, :, None] * wp
    idx = (rows + cols).view(1, -1) + corner
    if flip:  # mirroring = reading the columns backwards
        mirror = torch.rand(n, device=dev) < 0.5
        idx = torch.where(mirror[:, None], (rows + cols.flip(0)).view(1, -1) + corner, idx)
    return padded.reshape(n, -1).gather(1, idx).view(n, c, h, w)
