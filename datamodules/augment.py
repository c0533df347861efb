"""Batch-wise normalisation and augmentation of uint8 image tensors, on whatever device they are on.

Per-image PIL transforms cost a Python call per image; here one batch is a handful of tensor ops.
"""
from __future__ import annotations

from typing import Sequence

import torch

_STATS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # mean/std *255, per (device, mean, std)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float32 normalised with the data set's per-channel mean/std
    (in [0, 1]: the data module's, or the ones a model records from the data it was trained on)."""
    key = (images.device, tuple(mean), tuple(std))
    if key not in _STATS:  # made once: a new tensor per batch would be a host-to-device copy each step
        _STATS[key] = (torch.tensor(mean, device=images.device).view(1, 3, 1, 1) * 255,
                       torch.tensor(std, device=images.device).view(1, 3, 1, 1) * 255)
    mean, std = _STATS[key]
    # One new tensor, then in place: the same numbers as (x - mean) / std at a third of the cost.
    return images.to(torch.float32, copy=True).sub_(mean).div_(std)


def scaled_padding(padding: int, size: int) -> int:
    """A crop padding given for 32x32 images, at this image size: 4 pixels at 32, 8 at 64."""
    return round(padding * size / 32)


def random_crop_flip(images: torch.Tensor, padding: int = 4, mode: str = "constant",
                     flip: bool = True) -> torch.Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip for a whole batch at once.

    Works on uint8 before normalisation, so zero padding means black pixels, exactly as
    torchvision's RandomCrop on a PIL image; mode="reflect" mirrors the border instead (airbench).
    `flip=False`: crop only (the sampler already flipped the batch: alternating flips).
    """
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4, mode=mode)
    dev = images.device
    dy = torch.randint(0, 2 * padding + 1, (n,), device=dev)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=dev)
    pick = torch.arange(n, device=dev)
    if flip:
        mirror = torch.rand(n, device=dev) < 0.5
        padded = torch.cat([padded, padded.flip(-1)])  # image i, mirrored, is image n + i
        pick = pick + n * mirror
        dx = torch.where(mirror, 2 * padding - dx, dx)  # a mirrored crop at dx = the mirror image's at 2p - dx
    # Every possible crop as a view (N, 2p+1, 2p+1, c, h, w), then one index per image. On the CPU
    # this is 1.5x faster than gathering pixels, and flipping whole padded images beats torch.where.
    windows = padded.unfold(2, h, 1).unfold(3, w, 1).permute(0, 2, 3, 1, 4, 5)
    return windows[pick, dy, dx]


def cutout(images: torch.Tensor, size: int) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017) for a whole batch: in each image a size x size square, its
    centre anywhere in the image (so part of it may fall outside), set to 0. On normalised images 0
    is the data set's mean colour, as in the paper."""
    n, _, h, w = images.shape
    dev = images.device
    top = torch.randint(0, h, (n, 1, 1), device=dev) - size // 2  # the square's corner, from its centre
    left = torch.randint(0, w, (n, 1, 1), device=dev) - size // 2
    ys, xs = torch.arange(h, device=dev).view(1, h, 1), torch.arange(w, device=dev).view(1, 1, w)
    inside = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return images.masked_fill(inside[:, None], 0)


def mix_batch(images: torch.Tensor, labels: torch.Tensor, num_classes: int, mixup: float, cutmix: float):
    """MixUp and/or CutMix (torchvision's v2 batch transforms; with both, one of the two, chosen per
    batch): images mixed with the batch's other images, labels as class probabilities. Their draws
    come from the global RNG, which SeedEachEpoch reseeds each epoch: a resumed run mixes the same."""
    from torchvision.transforms import v2

    kinds = ([v2.MixUp(alpha=mixup, num_classes=num_classes)] if mixup > 0 else []) \
        + ([v2.CutMix(alpha=cutmix, num_classes=num_classes)] if cutmix > 0 else [])
    mix = kinds[0] if len(kinds) == 1 else v2.RandomChoice(kinds)
    return mix(images, labels)
