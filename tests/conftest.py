"""Tiny made-up CIFAR-10 copies in both on-disk layouts, and tiny runs of every registered model.
No network, nothing from outside the repo.

Every image's red channel is 25 * label, so a test can check labels from pixels after loading.
"""
from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datamodules.sources import CLASSES  # noqa: E402
from lit_modules import MODELS  # noqa: E402

N_TRAIN, N_TEST = 12, 4  # per class


def offline_kwargs(name: str) -> dict:
    """Constructor overrides that keep a model off the network: no pretrained weights to fetch."""
    return {"weights": "none"} if "weights" in MODELS[name].all_defaults() else {}


def offline_args(name: str) -> list[str]:
    """The same as train.py flags."""
    return [arg for k, v in offline_kwargs(name).items() for arg in (f"--{k}", v)]


def make_images(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = 25 * label
    return images


def write_folder_tree(root: Path, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(CLASSES):
            d = root / split / name
            d.mkdir(parents=True)
            for i, img in enumerate(make_images(label, n, rng)):
                Image.fromarray(img).save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def folder_data(tmp_path_factory) -> Path:
    """Read-only by convention: tests that modify a tree make their own with write_folder_tree."""
    return write_folder_tree(tmp_path_factory.mktemp("cifar_folder"))


@pytest.fixture
def torchvision_data(tmp_path: Path, monkeypatch) -> Path:
    """torchvision's cifar-10-batches-py layout; the md5 table is patched to these fake files' sums."""
    from torchvision.datasets import CIFAR10

    rng = np.random.default_rng(1)
    base = tmp_path / CIFAR10.base_folder
    base.mkdir()

    def batch(n_per_class: int) -> dict:
        imgs = [make_images(label, n_per_class, rng) for label in range(10)]
        data = np.concatenate(imgs).transpose(0, 3, 1, 2).reshape(-1, 3072)  # rows are CHW
        return {"data": data, "labels": [label for label in range(10) for _ in range(n_per_class)]}

    def dump(name: str, obj: dict) -> list[str]:
        (base / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((base / name).read_bytes()).hexdigest()]

    train_list = [dump(f"data_batch_{i}", batch(2)) for i in range(1, 6)]
    test_list = [dump("test_batch", batch(N_TEST))]
    meta_name, meta_md5 = dump("batches.meta", {"label_names": list(CLASSES)})
    monkeypatch.setattr(CIFAR10, "train_list", train_list)
    monkeypatch.setattr(CIFAR10, "test_list", test_list)
    monkeypatch.setattr(CIFAR10, "meta", {"filename": meta_name, "key": "label_names", "md5": meta_md5})
    return tmp_path


@pytest.fixture
def offline(monkeypatch):
    """Make torchvision's download fail at once, as it does on a machine with no network."""
    import urllib.error

    import torchvision.datasets.cifar as tv_cifar

    def fail(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fail)


@pytest.fixture(scope="session")
def tiny_runs(folder_data, tmp_path_factory) -> Path:
    """A logdir with one finished 2-epoch run of every registered model (version_0 each)."""
    import train

    logdir = tmp_path_factory.mktemp("runs")
    for name in MODELS:
        assert train.main(["--model", name, "--gpus", "0", "--epochs", "2", "--batch-size", "50",
                           "--val-size", "20", "--data-dir", str(folder_data), "--logdir", str(logdir),
                           *offline_args(name)]) == 0
    return logdir
