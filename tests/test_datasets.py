"""--dataset: CIFAR-100, any class-folder tree, and CIFAR-10's tree unchanged by them."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

import train
import visualize
from conftest import offline_args, offline_kwargs, write_folder_tree
from core.errors import UserError
from datamodules import folder, sources
from datamodules.images import ImageDataModule
from lit_modules import MODELS
from inference import trained
from report import checkpoint_figures

THREE = ("zebra", "apple", "mango")  # sorted: apple 0, mango 1, zebra 2


def test_a_100_class_tree_loads_with_sorted_classes_labels_and_its_own_statistics(tmp_path):
    names = [f"class_{i}" for i in range(100)]  # sorted by name: class_0, class_1, class_10, ...
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1, classes=names, step=2)
    a = sources.load(root, "folder")
    assert a.classes == tuple(sorted(names)) and a.image_size == 32
    assert a.train_images.shape == (200, 3, 32, 32) and a.test_images.shape == (100, 3, 32, 32)
    for images, labels in ((a.train_images, a.train_labels), (a.test_images, a.test_labels)):
        painted = [names[int(r) // 2] for r in images[:, 0, 0, 0]]  # the class each image was written for
        assert painted == [a.classes[i] for i in labels]
    pixels = a.train_images.double() / 255
    assert torch.allclose(torch.tensor(a.mean, dtype=torch.float64), pixels.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(torch.tensor(a.std, dtype=torch.float64), pixels.transpose(0, 1).reshape(3, -1).std(1, correction=0), atol=1e-6)
    assert (root / "uint8_cache.pt").exists() and not (root / sources.CACHE_NAME).exists()
    assert torch.load(root / "uint8_cache.pt")["stats"] == (a.mean, a.std)  # cached with the images


def test_fake_cifar100_batches_load_with_fine_labels(cifar100_data):
    a = sources.load(cifar100_data, "cifar100")
    assert a.train_images.shape == (200, 3, 32, 32) and a.test_images.shape == (100, 3, 32, 32)
    assert torch.equal(a.train_images[:, 0, 0, 0].long(), 2 * a.train_labels)  # fine, not coarse, labels
    assert a.classes == tuple(f"fine_{i:02d}" for i in range(100))
    assert (a.mean, a.std) == sources.CIFAR100_STATS and "CIFAR100" in a.source
    dm = ImageDataModule(str(cifar100_data), dataset="cifar100", val_size=50, seed=0)
    dm.setup("fit")
    assert dm.sizes == {"train": 150, "val": 50, "test": 100} and dm.model_inputs["num_classes"] == 100


def test_cifar100_offline_with_no_data_is_one_line_naming_its_folder(tmp_path, offline):
    dm = ImageDataModule(str(tmp_path / "none"), dataset="cifar100")
    with pytest.raises(UserError, match=r"no CIFAR-100 data in .*cifar-100-python/") as e:
        dm.prepare_data()
    assert "\n" not in str(e.value)


def old_fingerprint(root) -> str:
    """The cache key of a CIFAR-10 tree as the loader wrote it before there were other data sets."""
    h = hashlib.sha1()
    for split in ("train", "test"):
        for label, name in enumerate(sources.CLASSES):
            for e in sorted(os.scandir(root / split / name), key=lambda e: e.name):
                st = e.stat()
                h.update(f"{split}/{e.name}/{label}/{st.st_size}/{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def test_a_cifar10_tree_keeps_its_labels_split_and_cache(tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=3, n_test=1)
    default, as_folder = sources.load(root), sources.load(root, "folder")
    assert default.classes == as_folder.classes == sources.CLASSES  # CIFAR-10's order, not alphabetical
    assert torch.equal(default.train_labels, as_folder.train_labels)
    assert torch.equal(default.train_images[:, 0, 0, 0].long(), 25 * default.train_labels)
    assert (default.mean, default.std) == sources.CIFAR10_STATS  # published, as before
    assert torch.load(root / sources.CACHE_NAME)["fingerprint"] == old_fingerprint(root)
    splits = []
    for dataset in ("cifar10", "folder"):
        dm = ImageDataModule(str(root), dataset=dataset, val_size=5, seed=3)
        dm.setup("fit")
        splits.append(dm.val_idx)
    assert torch.equal(splits[0], splits[1])
    assert torch.equal(splits[0], torch.randperm(30, generator=torch.Generator().manual_seed(3))[:5].sort().values)


def test_other_classes_under_cifar10_point_to_the_folder_dataset(tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1, classes=THREE)
    with pytest.raises(UserError, match="3 class folders, CIFAR-10 needs 10.*--dataset folder"):
        sources.load(root)


def test_image_sizes_one_size_kept_mixed_sizes_need_image_size(tmp_path):
    from PIL import Image

    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1, classes=THREE, size=48)
    assert sources.load(root, "folder").image_size == 48
    Image.new("RGB", (40, 30)).save(root / "train" / "apple" / "odd.png")
    with pytest.raises(UserError, match=r"odd.png is 40x30, images must be 48x48.*--image-size"):
        sources.load(root, "folder")
    a = sources.load(root, "folder", image_size=24)
    assert a.train_images.shape[1:] == (3, 24, 24) and len(a.train_labels) == 7
    assert (root / "uint8_cache_24px.pt").exists()
    with pytest.raises(UserError, match="--image-size applies to --dataset folder"):
        sources.load(root, "cifar10", image_size=24)


def test_a_model_refuses_images_smaller_than_its_downsampling_allows():
    with pytest.raises(UserError, match="resnet9 needs images of at least 25x25"):
        MODELS["resnet9"](image_size=16)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("num_classes,size", [(3, 40), (100, 32)])
def test_every_model_is_built_for_the_data_it_is_given(name, num_classes, size):
    model = MODELS[name](**offline_kwargs(name), num_classes=num_classes, image_size=size,
                         mean=[0.5] * 3, std=[0.25] * 3).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, size, size)).shape == (2, num_classes)
    assert model.val_acc.num_classes == num_classes


@pytest.fixture(scope="module")
def three_class_tree(tmp_path_factory):
    return write_folder_tree(tmp_path_factory.mktemp("three"), n_train=8, n_test=2, classes=THREE, size=40)


@pytest.mark.parametrize("name", MODELS)
def test_a_three_class_tree_of_40px_images_trains_every_model(name, three_class_tree, tmp_path):
    assert train.main(["--model", name, "--gpus", "0", "--dataset", "folder", "--data-dir", str(three_class_tree),
                       "--batch-size", "4", "--val-size", "6", "--logdir", str(tmp_path), "--fast-dev-run",
                       *offline_args(name)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("classes", [THREE, tuple(f"c{i:03d}" for i in range(100))], ids=["3", "100"])
def test_a_run_records_its_data_set_and_its_figures_and_report_use_it(classes, tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1, classes=classes, step=2)
    logdir = tmp_path / "logs"
    assert train.main(["--model", "lenet", "--gpus", "0", "--dataset", "folder", "--data-dir", str(root),
                       "--epochs", "1", "--val-size", "3", "--logdir", str(logdir)]) == 0
    run = logdir / "lenet" / "version_0"
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert data["dataset"] == "folder" and data["classes"] == sorted(classes) and data["image_size"] == 32
    assert data["mean"] == list(folder.channel_stats(sources.load(root, "folder").train_images)[0])
    figure = checkpoint_figures.plot_confusion(trained.load(run), tmp_path / "figures")
    assert figure.stat().st_size > 1000
    assert visualize.main(["report", str(logdir), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "# image-folder results" in report and f"| lenet | folder ({len(classes)} classes) |" in report
