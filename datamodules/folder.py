"""Class-folder trees: `train/<class>/*.png|jpg` and `test/<class>/*.png|jpg`, decoded to uint8 tensors.

A tree is decoded once and cached next to it (or under ~/.cache when that folder is read-only),
keyed by a fingerprint of the file list, sizes and mtimes, so that a changed tree is decoded again
rather than trained on stale. The cache also holds the training split's per-channel mean/std.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Sequence

import torch

from core.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
Stats = tuple[tuple[float, ...], tuple[float, ...]]


def is_tree(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def class_names(split_dir: Path, known: Sequence[Sequence[str]] = ()) -> list[str]:
    """The class folders of one split, sorted by name, or in a known data set's label order when
    they are exactly its classes (CIFAR-10's tree keeps CIFAR-10's labels)."""
    try:
        names = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    except OSError as e:
        raise UserError(f"cannot read {split_dir} ({e.strerror}); fix its permissions or point --data-dir elsewhere") from None
    for order in known:
        if set(names) == set(order):
            return list(order)
    return names


def _list_images(root: Path, classes: list[str], image_size: int | None):
    """(path, label) per split, and a fingerprint of every file's name, label, size and mtime.

    os.scandir and plain strings, not pathlib: for 60,000 files Path objects cost a second of
    start-up on every run (measured 1.2-1.9 s -> 0.4 s on 2 cores)."""
    files: dict[str, list[tuple[str, int]]] = {}
    h = hashlib.sha1()
    for split in ("train", "test"):
        files[split] = []
        for label, name in enumerate(classes):
            d = root / split / name
            with os.scandir(d) as it:
                entries = list(it)
            images = sorted((e for e in entries if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES),
                            key=lambda e: e.name)
            nested = [e.name for e in entries if e.is_dir()]
            if nested:  # only a class folder's own files are its images
                _warn(f"{d} has subfolders ({', '.join(sorted(nested)[:3])}{', ...' if len(nested) > 3 else ''}); "
                      f"their images are not used: move them into {d} itself")
            if not images:
                raise UserError(f"{d} has no .png/.jpg images; every class needs some")
            for e in images:
                st = e.stat()
                h.update(f"{split}/{e.name}/{label}/{st.st_size}/{st.st_mtime_ns}\n".encode())
            files[split] += [(e.path, label) for e in images]
    if image_size is not None:  # a resized copy is another cache; unresized keeps older caches valid
        h.update(f"resized to {image_size}\n".encode())
    return files, h.hexdigest()


def _warn(message: str) -> None:
    """One plain line on stderr, on a line of its own even while a progress bar is drawn."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def to_rgb(im):
    """A PIL image as 8-bit RGB. 16-bit grayscale (PNG's I;16, or I) is scaled to 8 bits:
    PIL's convert("RGB") would clip it, and nearly every pixel would be 255."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":
        import numpy as np

        wide = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.rint(wide * 255 / 65535), 0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def read_image(path, size: int | None = None) -> torch.Tensor:
    """One image file as uint8 (3, H, W) RGB; with `size`, stretched to size x size with the bilinear
    filter. The data module's decoding, and predict.py's (the same preprocessing, by construction)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im = to_rgb(im)
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.array(im)).permute(2, 0, 1)


def _decode(items: list[tuple[str, int]], desc: str, image_size: int | None = None,
            need: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image as uint8 CHW. `image_size`: resize each to that square (stretching, bilinear).
    Else all must share one square size (`need`, when the data set fixes it)."""
    from tqdm import tqdm

    images, labels = [], []
    size = image_size or need
    for path, label in tqdm(items, desc=desc, unit="img", mininterval=1.0, leave=False):
        try:
            img = read_image(path, image_size)
        except Exception:
            _warn(f"skipping {path}: not a readable image")
            continue
        if size is None and img.shape[1] == img.shape[2]:
            size = img.shape[1]  # the first image sets the size every other must have
        if img.shape[1:] != (size, size):
            want = f"{size}x{size} like the others" if size else "square"
            raise UserError(f"{path} is {img.shape[2]}x{img.shape[1]}, images must be {want}; "
                            f"pass --dataset folder --image-size N to resize them all to NxN")
        images.append(img)
        labels.append(label)
    wanted = sorted({label for _, label in items})
    if sorted(set(labels)) != wanted:  # a whole class (or split) unreadable: refuse to train without it
        lost = sorted(set(wanted) - set(labels))
        folders = sorted({os.path.dirname(p) for p, label in items if label in lost})
        raise UserError(f"no readable image in {', '.join(folders)}; replace the files or point --data-dir "
                        f"at a good copy")
    return torch.stack(images), torch.tensor(labels)


def channel_stats(images: torch.Tensor) -> Stats:
    """Per-channel mean and standard deviation of uint8 images over every pixel, in [0, 1]."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for i in range(0, len(images), 2048):  # float64 chunks: the whole set at once is 1.2 GB
        x = images[i:i + 2048].double()
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
    n = images.numel() / 3
    mean = total / n
    std = (squares / n - mean.square()).sqrt()
    return tuple(round(v / 255, 6) for v in mean.tolist()), tuple(round(v / 255, 6) for v in std.tolist())


def _cache_path(root: Path, name: str) -> Path:
    if os.access(root, os.W_OK):
        return root / name
    key = hashlib.sha1(f"{root.resolve()}/{name}".encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "cifar10-lightning" / f"{key}.pt"


def _save(cache: Path, saved: dict) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # runs decoding at once must not share it
        torch.save(saved, tmp)
        os.replace(tmp, cache)  # never leave a half-written cache behind
    except OSError as e:
        _warn(f"could not write the decoded-image cache {cache} ({e}); decoding again next run")


def load(root: Path, classes: list[str], cache_name: str, image_size: int | None = None,
         need: int | None = None, stats: bool = True) -> tuple[list[torch.Tensor], Stats | None]:
    """[train_images, train_labels, test_images, test_labels] of the tree's `classes` (in label
    order), and with `stats` the training split's mean/std."""
    for split in ("train", "test"):
        if class_names(root / split) != sorted(classes):
            raise UserError(f"{root / split} and {root / 'train'} have different class folders")
    files, fingerprint = _list_images(root, classes, image_size)
    cache = _cache_path(root, cache_name)
    saved = None
    if cache.exists():
        try:
            saved = torch.load(cache, weights_only=True)
            saved = saved if saved.get("fingerprint") == fingerprint else None
        except Exception as e:  # unreadable or tampered with: decode again and overwrite it, said so
            _warn(f"the cache {cache} could not be read ({type(e).__name__}); decoding the images again")
            saved = None
    if saved is None:
        n = sum(len(v) for v in files.values())
        print(f"Decoding {n:,} images from {root} once; caching them in {cache}")
        train = _decode(files["train"], "decode train", image_size, need)
        arrays = [*train, *_decode(files["test"], "decode test", image_size, train[0].shape[-1])]
        saved = {"fingerprint": fingerprint, "arrays": arrays}
        if stats:
            saved["stats"] = channel_stats(arrays[0])
        _save(cache, saved)
    elif stats and "stats" not in saved:  # a cache written before it held them
        saved["stats"] = channel_stats(saved["arrays"][0])
        _save(cache, saved)
    return saved["arrays"], (tuple(map(tuple, saved["stats"])) if stats else None)
