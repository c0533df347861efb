"""The data module: both layouts, labels, the split, the decoded cache, batch augmentation."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import N_TEST, N_TRAIN, write_folder_tree
from core.errors import UserError
from datamodules import folder, sources
from datamodules.augment import normalize, random_crop_flip
from datamodules.images import ImageDataModule
from datamodules.sampler import BatchIndexSampler, _Tensors


def check_arrays(a: sources.ImageArrays, n_train: int, n_test: int) -> None:
    assert a.train_images.shape == (n_train, 3, 32, 32) and a.train_images.dtype == torch.uint8
    assert a.test_images.shape == (n_test, 3, 32, 32) and a.test_images.dtype == torch.uint8
    assert a.train_labels.dtype == torch.int64
    # The fixtures paint the red channel with 25 * label: labels must match pixels.
    assert torch.equal(a.train_images[:, 0, 0, 0].long(), 25 * a.train_labels)
    assert torch.equal(a.test_images[:, 0, 0, 0].long(), 25 * a.test_labels)
    assert torch.equal(torch.bincount(a.train_labels), torch.full((10,), n_train // 10))


def test_folder_layout_loads_with_cifar_label_order(folder_data):
    a = sources.load(folder_data)
    check_arrays(a, 10 * N_TRAIN, 10 * N_TEST)
    assert "class-folder" in a.source


def test_torchvision_layout_loads(torchvision_data):
    a = sources.load(torchvision_data)
    check_arrays(a, 100, 10 * N_TEST)
    assert "torchvision" in a.source


def test_corrupted_torchvision_batch_is_a_clear_error(torchvision_data):
    batch = torchvision_data / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])  # truncated
    with pytest.raises(UserError, match="corrupted"):
        sources.load(torchvision_data)


def test_split_sizes_and_determinism(folder_data):
    def split(seed):
        dm = ImageDataModule(str(folder_data), val_size=20, seed=seed)
        dm.setup("fit")
        return dm

    a, b, c = split(0), split(0), split(1)
    assert a.sizes == {"train": 100, "val": 20, "test": 40}
    assert torch.equal(a.val_idx, b.val_idx) and torch.equal(a.train_idx, b.train_idx)
    assert not torch.equal(a.val_idx, c.val_idx)
    assert set(a.val_idx.tolist()).isdisjoint(a.train_idx.tolist())


def test_val_size_too_large_is_a_clear_error(folder_data):
    with pytest.raises(UserError, match="--val-size"):
        ImageDataModule(str(folder_data), val_size=120).setup("fit")


def test_decoded_cache_is_reused_and_rebuilt_when_stale(tmp_path, monkeypatch):
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    first = sources.load(root)
    assert (root / sources.CACHE_NAME).exists()

    real_decode = folder._decode
    monkeypatch.setattr(folder, "_decode", lambda *a: pytest.fail("decoded again despite a valid cache"))
    assert torch.equal(sources.load(root).train_images, first.train_images)

    # Change one image: the cache is stale and must be rebuilt, not trained on.
    monkeypatch.setattr(folder, "_decode", real_decode)
    victim = root / "train" / "cat" / "0000.png"
    from PIL import Image
    Image.new("RGB", (32, 32), (75, 1, 2)).save(victim)
    os.utime(victim, ns=(1, 1))
    rebuilt = sources.load(root)
    assert not torch.equal(rebuilt.train_images, first.train_images)
    assert (rebuilt.train_images[:, :, 0, 0] == torch.tensor([75, 1, 2], dtype=torch.uint8)).all(1).any()


def test_missing_class_is_a_clear_error(tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    for f in (root / "train" / "dog").iterdir():
        f.unlink()
    (root / "train" / "dog").rmdir()
    with pytest.raises(UserError, match="missing: dog"):
        sources.load(root)


def test_an_extra_class_folder_is_named(tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    (root / "train" / "zebra").mkdir()
    with pytest.raises(UserError, match="11 class folders.*not CIFAR-10's: zebra"):
        sources.load(root)


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path, offline):
    (tmp_path / "data").write_text("")
    dm = ImageDataModule(str(tmp_path / "data"))
    with pytest.raises(UserError, match="is a file"):
        dm.prepare_data()


@pytest.mark.parametrize("unreadable", ["train/cat", "test"])
def test_a_class_or_split_with_no_readable_image_is_a_clear_error(tmp_path, unreadable, capsys):
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    for f in (root / unreadable).rglob("*.png"):
        f.write_bytes(b"not a png")
    with pytest.raises(UserError, match="no readable image in .*" + unreadable.split("/")[0]):
        sources.load(root)
    assert "warning: skipping" in capsys.readouterr().err


def test_sampler_covers_every_index_once_and_reshuffles_per_epoch():
    s = BatchIndexSampler(103, 10, shuffle=True, seed=0)
    first = torch.cat(list(s))
    assert len(s) == 11 and sorted(first.tolist()) == list(range(103))
    s.set_epoch(1)
    assert not torch.equal(torch.cat(list(s)), first)
    s.set_epoch(0)
    assert torch.equal(torch.cat(list(s)), first)


def test_alternating_flip_mirrors_each_image_every_other_epoch():
    images = torch.arange(6 * 3 * 2 * 4, dtype=torch.uint8).view(6, 3, 2, 4)
    data = _Tensors(images, torch.arange(6))
    s = BatchIndexSampler(6, 3, shuffle=True, seed=0, alternate_flip=True)

    def mirrored(epoch: int) -> dict[int, bool]:
        s.set_epoch(epoch)
        out = {}
        for key in s:
            got, labels = data[key]
            for img, i in zip(got, labels.tolist()):
                assert torch.equal(img, images[i]) or torch.equal(img, images[i].flip(-1))
                out[i] = torch.equal(img, images[i].flip(-1))
        return out

    e0, e1, e2 = mirrored(0), mirrored(1), mirrored(2)
    assert sorted(e0) == list(range(6)) and 0 < sum(e0.values()) < 6  # a mix, not all one way
    assert all(e1[i] != e0[i] for i in range(6)) and e2 == e0


def test_augmentation_keeps_shape_and_dtype_and_is_a_crop_or_flipped_crop():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    y = random_crop_flip(x)
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert not torch.equal(x, y)
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(len(x)):
        crops = [padded[i, :, r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
        assert any(torch.equal(y[i], c) or torch.equal(y[i], c.flip(-1)) for c in crops)


def test_normalize_uses_the_statistics_it_is_given():
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    mean, std = sources.CIFAR10_STATS
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32
    assert torch.allclose(out[0, :, 0, 0], -torch.tensor(mean) / torch.tensor(std))
    assert torch.allclose(normalize(x + 255, (0.5,) * 3, (0.25,) * 3), torch.full((1, 3, 2, 2), 2.0))


def test_offline_with_no_data_names_the_path_and_layouts(tmp_path, offline):
    dm = ImageDataModule(str(tmp_path / "nothing"))
    with pytest.raises(UserError) as e:
        dm.prepare_data()
    msg = str(e.value)
    assert str((tmp_path / "nothing").resolve()) in msg and "class-folder" in msg and "cifar-10-batches-py" in msg
    assert "\n" not in msg


def test_empty_class_is_a_clear_error(tmp_path):
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    for f in (root / "test" / "ship").iterdir():
        f.unlink()
    with pytest.raises(UserError, match="ship has no .png/.jpg images"):
        sources.load(root)


def test_unreadable_image_is_skipped_with_a_warning_naming_it(tmp_path, capsys):
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    bad = root / "train" / "frog" / "9999.png"
    bad.write_bytes(b"this is not a png")
    a = sources.load(root)
    assert len(a.train_labels) == 20  # the 20 good images, the bad one skipped
    err = capsys.readouterr().err
    assert f"warning: skipping {bad}: not a readable image\n" in err and "UserWarning" not in err  # a plain line


def test_images_in_a_subfolder_of_a_class_folder_are_named_in_a_warning(tmp_path, capsys):
    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    (root / "train" / "cat" / "more").mkdir()
    (root / "train" / "cat" / "0000.png").rename(root / "train" / "cat" / "more" / "0000.png")
    a = sources.load(root)
    assert len(a.train_labels) == 19
    err = capsys.readouterr().err
    assert "train/cat has subfolders (more)" in err and "not used" in err


def test_16_bit_grayscale_pngs_are_scaled_to_8_bits_not_clipped(tmp_path):
    from PIL import Image
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    ramp = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(32, 0).repeat(8, 1)  # 32x32, 4 bands
    path = root / "train" / "cat" / "0000.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as check:
        assert check.mode == "I;16"  # PIL reads it back as 16-bit, the case convert("RGB") clips
    a = sources.load(root)
    cat = next(i for i, lab in enumerate(a.train_labels.tolist()) if lab == a.classes.index("cat"))
    assert a.train_images[cat][:, 0, ::8].tolist() == [[0, 1, 128, 255]] * 3
    # Older Pillow versions open such files as 32-bit "I": the same scaling
    wide = Image.fromarray(ramp.astype(np.int32), "I")
    assert np.asarray(folder.to_rgb(wide))[0, ::8].tolist() == [[0] * 3, [1] * 3, [128] * 3, [255] * 3]


def test_wrong_image_size_names_the_file(tmp_path):
    from PIL import Image
    root = write_folder_tree(tmp_path / "tree", n_train=1, n_test=1)
    Image.new("RGB", (64, 48)).save(root / "train" / "cat" / "big.png")
    with pytest.raises(UserError, match=r"big.png is 64x48"):
        sources.load(root)
