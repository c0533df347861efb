"""Your own image files -> the uint8 tensors a trained model's data module would have made of them.

Decoding is the data module's own function (datamodules/folder.read_image: any mode PIL reads, RGBA and grayscale to RGB,
16-bit scaled to 8 bits, not clipped), and so is the resizing: an image that is not the model's
size is stretched to it with PIL's bilinear filter, as `--dataset folder --image-size N` does to
training images. A CIFAR-10 model sees 32x32; a photo is shrunk to that whole, not cropped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from core.errors import UserError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def find_images(paths: Sequence[str | Path]) -> list[Path]:
    """The files given and the image files inside the folders given (recursively, sorted)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += sorted(p for p in given.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif given.is_file():
            found.append(given)
        else:
            raise UserError(f"{given} does not exist; pass image files or folders of them")
    if not found:
        raise UserError(f"no image files ({' '.join(SUFFIXES)}) in {' '.join(map(str, paths))}; "
                        f"pass image files or folders that hold some")
    return found


def decode(files: Sequence[Path], size: int, warn=None) -> tuple[torch.Tensor, list[Path]]:
    """(N, 3, size, size) uint8 and the files they came from. A file PIL cannot read is named
    (through `warn`) and skipped; none readable is a UserError."""
    from tqdm import tqdm

    from datamodules.folder import read_image

    images, kept = [], []
    for path in tqdm(files, desc="read images", unit="img", mininterval=1.0, leave=False, disable=len(files) < 200):
        try:
            images.append(read_image(path, size))
            kept.append(path)
        except Exception as e:  # noqa: BLE001 -- any failure to read is the file's, said and skipped
            if warn is not None:
                warn(f"skipping {path}: not a readable image ({type(e).__name__})")
    if not images:
        raise UserError(f"none of the {len(files)} file(s) is a readable image; pass PNG, JPEG or other files PIL reads")
    return torch.stack(images), kept


def short_names(files: Sequence[Path]) -> list[str]:
    """The files' names relative to their common folder, for a table a reader can scan."""
    if len(files) == 1:
        return [files[0].name]
    common = os.path.commonpath([str(f.resolve().parent) for f in files])
    return [os.path.relpath(f.resolve(), common) for f in files]
