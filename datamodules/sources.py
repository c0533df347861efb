"""The data sets `--dataset` names, and how each is read from disk into uint8 tensors.

    cifar10   torchvision's cifar-10-batches-py/ (downloaded when missing), or a class-folder tree
              with CIFAR-10's ten class folders (labels in CIFAR-10's order)
    cifar100  torchvision's cifar-100-python/ (downloaded when missing): the 100 fine labels
    folder    any class-folder tree train/<class>/* + test/<class>/*: the classes are the sorted
              folder names, the mean/std are the training split's (cached with the decoded images)

Every source ends as `ImageArrays`: NCHW uint8 images, int64 labels, the class names and the
per-channel mean/std that normalise them. Adding a data set is one function that returns
ImageArrays from a folder, and its `Source` entry in DATASETS; nothing outside datamodules/
names a class, a class count or a data set's statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torchvision.datasets import CIFAR10, CIFAR100

from core.errors import UserError
from datamodules import folder

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # CIFAR-10's
# The usual published training-set statistics; computing them from a copy would move every result.
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
CACHE_NAME = "cifar10_uint8_cache.pt"  # a CIFAR-10 tree's cache; other trees' is "uint8_cache.pt"
# What a model is built for (ImageDataModule.model_inputs), for models whose checkpoints predate
# other data sets and so do not record it: CIFAR-10's.
CIFAR10_INPUTS = {"num_classes": len(CLASSES), "image_size": 32, "mean": list(CIFAR10_STATS[0]),
                  "std": list(CIFAR10_STATS[1])}


@dataclass
class ImageArrays:
    train_images: torch.Tensor  # (N, 3, S, S) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str                 # human-readable description, recorded in metrics.json
    classes: tuple[str, ...]    # label i is classes[i]
    mean: tuple[float, ...]     # per channel, pixels scaled to [0, 1]
    std: tuple[float, ...]

    @property
    def image_size(self) -> int:
        return self.train_images.shape[-1]


@dataclass(frozen=True)
class Source:
    load: Callable[[Path, int | None], ImageArrays]  # (folder, --image-size) -> arrays
    present: Callable[[Path], bool]                  # is the data set in this folder?
    accepts: str                                     # what --data-dir may hold, in words
    title: str                                       # its name in a report's title
    download: Callable[[Path], None] | None = None   # fetch it into the folder
    resizes: bool = False                            # takes --image-size


def _torchvision(cls, root: Path, stats) -> ImageArrays:
    parts = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=False)  # checks every file's md5
        except RuntimeError:
            raise UserError(
                f"the batch files in {root / cls.base_folder} are missing or corrupted (md5 check "
                f"failed); delete that folder and run again to re-download") from None
        parts += [torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)]
    return ImageArrays(*parts, source=f"torchvision {cls.__name__} batches at {root.resolve()}",
                       classes=tuple(ds.classes), mean=stats[0], std=stats[1])


def _downloader(cls, name: str, accepts: str) -> Callable[[Path], None]:
    def download(root: Path) -> None:
        """torchvision's own download + md5 check; a failure becomes a UserError naming the layouts."""
        try:
            cls(str(root), train=True, download=True)
        except Exception as e:  # URLError, timeouts, SSL, disk: all mean "no data here"
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"no {name} data in {root.resolve()} and downloading it failed ({reason}); "
                            f"point --data-dir at a copy: {accepts}") from None
    return download


def _cifar10(root: Path, image_size: int | None) -> ImageArrays:
    if not folder.is_tree(root):
        return _torchvision(CIFAR10, root, CIFAR10_STATS)
    for split in ("train", "test"):
        names = folder.class_names(root / split, [CLASSES])
        if tuple(names) != CLASSES:
            missing, extra = sorted(set(CLASSES) - set(names)), sorted(set(names) - set(CLASSES))
            diff = "; ".join(f"{what}: {', '.join(n)}" for what, n in (("missing", missing), ("not CIFAR-10's", extra)) if n)
            raise UserError(f"{root / split} has {len(names)} class folders, CIFAR-10 needs 10 ({diff}); fix the "
                            f"folders, or pass --dataset folder to train on these classes")
    arrays, _ = folder.load(root, list(CLASSES), CACHE_NAME, need=32, stats=False)
    return ImageArrays(*arrays, source=f"class-folder tree at {root.resolve()}", classes=CLASSES,
                       mean=CIFAR10_STATS[0], std=CIFAR10_STATS[1])


def _cifar100(root: Path, image_size: int | None) -> ImageArrays:
    return _torchvision(CIFAR100, root, CIFAR100_STATS)


def _folder(root: Path, image_size: int | None) -> ImageArrays:
    classes = folder.class_names(root / "train", [CLASSES])
    if len(classes) < 2:
        raise UserError(f"{root / 'train'} has {len(classes)} class folder(s); a classifier needs 2 or more")
    name = "uint8_cache" + (f"_{image_size}px" if image_size else "") + ".pt"
    arrays, (mean, std) = folder.load(root, classes, CACHE_NAME if tuple(classes) == CLASSES and not image_size
                                      else name, image_size)
    return ImageArrays(*arrays, source=f"class-folder tree at {root.resolve()}", classes=tuple(classes),
                       mean=mean, std=std)


TREE = "a class-folder tree train/<class>/*.png|jpg + test/<class>/*.png|jpg"
DATASETS: dict[str, Source] = {
    "cifar10": Source(_cifar10, lambda r: folder.is_tree(r) or (r / CIFAR10.base_folder).is_dir(),
                      f"torchvision's {CIFAR10.base_folder}/ folder, or {TREE} with CIFAR-10's classes", "CIFAR-10",
                      _downloader(CIFAR10, "CIFAR-10", f"{CIFAR10.base_folder}/ or {TREE}")),
    "cifar100": Source(_cifar100, lambda r: (r / CIFAR100.base_folder).is_dir(),
                       f"torchvision's {CIFAR100.base_folder}/ folder (its python batches)", "CIFAR-100",
                       _downloader(CIFAR100, "CIFAR-100", f"{CIFAR100.base_folder}/")),
    "folder": Source(_folder, folder.is_tree, TREE + " (any classes, one square image size)", "image-folder",
                     resizes=True),
}


def get(dataset: str) -> Source:
    try:
        return DATASETS[dataset]
    except KeyError:
        raise UserError(f"unknown data set {dataset!r}; choose one of: {', '.join(DATASETS)}") from None


def load(root: Path, dataset: str = "cifar10", image_size: int | None = None) -> ImageArrays:
    source = get(dataset)
    if root.exists() and not root.is_dir():
        raise UserError(f"--data-dir {root} is a file; pass the folder that holds the data")
    if image_size is not None and not source.resizes:
        raise UserError(f"--image-size applies to --dataset folder, not {dataset}; leave it out")
    if not source.present(root):
        raise UserError(f"no {dataset} data in {root.resolve()}; expected {source.accepts}")
    return source.load(root, image_size)
