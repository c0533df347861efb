"""Tiny made-up CIFAR-10 copies in both on-disk layouts, and tiny runs of every registered model.
No network, nothing from outside the repo.

Every image's red channel is 25 * label, so a test can check labels from pixels after loading.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock  # torch's own dependency
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datamodules.sources import CLASSES  # noqa: E402
from lit_modules import MODELS  # noqa: E402

N_TRAIN, N_TEST = 12, 4  # per class

# pytest.ini runs the suite in pytest-xdist workers, one per core. Each takes its share of the cores, as
# `tune.py --workers` gives its runs: with torch's default (every core) in each, the workers' threads
# wait on each other.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(max(1, torch.get_num_threads() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder `build(folder)` fills once per test session, however many xdist workers ask for it
    (pytest-xdist's documented pattern: a lock in the folder the workers' temporary folders share).
    Read-only by convention, as every session fixture's."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    shared = tmp_path_factory.getbasetemp().parent
    path, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(path)
            done.touch()
    return path


@contextlib.contextmanager
def trainer_callback(callback):
    """While open, the Trainer that train.main builds has `callback` too (training/run.py's public
    `extra_callbacks` hook)."""
    from training import run as training_run

    training_run.extra_callbacks.append(callback)
    try:
        yield callback
    finally:
        training_run.extra_callbacks.remove(callback)


def live_processes_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (a killed child can stay a zombie where no init reaps it)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def offline_kwargs(name: str) -> dict:
    """Constructor overrides that keep a model off the network: no pretrained weights to fetch."""
    return {"weights": "none"} if "weights" in MODELS[name].all_defaults() else {}


def offline_args(name: str) -> list[str]:
    """The same as train.py flags."""
    return [arg for k, v in offline_kwargs(name).items() for arg in (f"--{k}", v)]


# resnet18's cost is its upsampling (256x256 inputs, 64 times lenet's pixels). The tests' runs upsample
# to 64: no claim of theirs depends on the side (a step's numbers, a resume, an export, a report, the
# golden runs, which tests/golden/write.py made at 64 from the old code), and a tiny run costs 10 s
# instead of 30 here. What 256 does is test_resnet18.py's.
CHEAP = {"resnet18": ["--set", "upsample=64"]}


def cheap_args(name: str) -> list[str]:
    """offline_args, and for resnet18 its upsampling to 64."""
    return offline_args(name) + CHEAP.get(name, [])


def make_images(label: int, n: int, rng: np.random.Generator, size: int = 32, step: int = 25) -> np.ndarray:
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    images[..., 0] = step * label
    return images


def write_folder_tree(root: Path, n_train: int = N_TRAIN, n_test: int = N_TEST, classes=CLASSES,
                      size: int = 32, step: int = 25) -> Path:
    """train/<class>/*.png and test/<class>/*.png; the red channel of class i (in `classes`' order)
    is step * i."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True)
            for i, img in enumerate(make_images(label, n, rng, size, step)):
                Image.fromarray(img).save(d / f"{i:04d}.png")
    return root


@pytest.fixture
def own_tmpdir(monkeypatch) -> Path:
    """TMPDIR for the processes a test starts, removed after it: torchrun leaves a torchelastic_*
    log folder in it and a killed tune.py its fork server's pymp-* folder, one per suite run in /tmp
    otherwise. Short (/tmp/tXXXX): the fork server's socket path must fit in 108 bytes."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="t", dir="/tmp" if os.path.isdir("/tmp") else None))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def folder_data(tmp_path_factory) -> Path:
    """Read-only by convention: tests that modify a tree make their own with write_folder_tree."""
    return built_once(tmp_path_factory, "cifar_folder", write_folder_tree)


def fake_torchvision_set(cls, root: Path, monkeypatch, train: dict[str, dict], test: dict[str, dict],
                         meta: tuple[str, str, dict]) -> Path:
    """Pickled batches in torchvision's layout for `cls` (CIFAR10, CIFAR100); its md5 table is
    patched to these fake files' sums."""
    base = root / cls.base_folder
    base.mkdir()

    def dump(name: str, obj: dict) -> list[str]:
        (base / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((base / name).read_bytes()).hexdigest()]

    monkeypatch.setattr(cls, "train_list", [dump(name, b) for name, b in train.items()])
    monkeypatch.setattr(cls, "test_list", [dump(name, b) for name, b in test.items()])
    meta_name, meta_key, meta_obj = meta
    monkeypatch.setattr(cls, "meta", dict(zip(("filename", "md5"), dump(meta_name, meta_obj)), key=meta_key))
    return root


def fake_batch(rng: np.random.Generator, classes: int, n_per_class: int, step: int, label_key: str) -> dict:
    imgs = [make_images(label, n_per_class, rng, step=step) for label in range(classes)]
    data = np.concatenate(imgs).transpose(0, 3, 1, 2).reshape(-1, 3072)  # rows are CHW
    return {"data": data, label_key: [label for label in range(classes) for _ in range(n_per_class)]}


@pytest.fixture
def torchvision_data(tmp_path: Path, monkeypatch) -> Path:
    """torchvision's cifar-10-batches-py layout."""
    from torchvision.datasets import CIFAR10

    rng = np.random.default_rng(1)
    train = {f"data_batch_{i}": fake_batch(rng, 10, 2, 25, "labels") for i in range(1, 6)}
    test = {"test_batch": fake_batch(rng, 10, N_TEST, 25, "labels")}
    return fake_torchvision_set(CIFAR10, tmp_path, monkeypatch, train, test,
                                ("batches.meta", "label_names", {"label_names": list(CLASSES)}))


@pytest.fixture
def cifar100_data(tmp_path: Path, monkeypatch) -> Path:
    """torchvision's cifar-100-python layout, 100 fine classes; red channel = 2 * fine label."""
    from torchvision.datasets import CIFAR100

    rng = np.random.default_rng(2)
    train, test = fake_batch(rng, 100, 2, 2, "fine_labels"), fake_batch(rng, 100, 1, 2, "fine_labels")
    for batch in (train, test):
        batch["coarse_labels"] = [f // 5 for f in batch["fine_labels"]]
    names = [f"fine_{i:02d}" for i in range(100)]
    return fake_torchvision_set(CIFAR100, tmp_path, monkeypatch, {"train": train}, {"test": test},
                                ("meta", "fine_label_names", {"fine_label_names": names, "coarse_label_names": names[:20]}))


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
    """A logdir with one finished 2-epoch run of every registered model (version_0 each), with
    cheap_args: every default but resnet18's side."""
    import train

    def build(logdir):
        for name in MODELS:
            assert train.main([*tiny_run(name), "--data-dir", str(folder_data), "--logdir", str(logdir),
                               *cheap_args(name)]) == 0
    return built_once(tmp_path_factory, "runs", build)


def tiny_run(name: str) -> list[str]:
    """The tiny runs' flags: two epochs of two batches, 20 validation images."""
    return ["--model", name, "--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20"]


@pytest.fixture(scope="session")
def two_data_sets(folder_data, tmp_path_factory):
    """lenet over seeds 0 and 1 and vgg_bn on 10-class data; then, later (so the latest run of each
    model), lenet and vgg_bn on a 3-class folder, where accuracy is easier."""
    import train

    def build(root):
        three = write_folder_tree(root / "three", classes=("a", "b", "c"))
        common = ["--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20", "--logdir", str(root / "logs")]
        for model, extra in (("lenet", ["--seed", "0"]), ("lenet", ["--seed", "1"]), ("vgg_bn", []),
                             ("lenet", ["--dataset", "folder", "--data-dir", str(three)]),
                             ("vgg_bn", ["--dataset", "folder", "--data-dir", str(three)])):
            assert train.main(["--model", model, "--data-dir", str(folder_data), *common, *extra]) == 0
    return built_once(tmp_path_factory, "two_data_sets", build) / "logs"
