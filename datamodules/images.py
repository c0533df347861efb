"""The LightningDataModule of every data set (datamodules/sources.py: CIFAR-10, CIFAR-100, a folder
of images): uint8 tensors in memory, batches cut by index, augmented on device.

    dm = ImageDataModule(data_dir="data", batch_size=64)   # CIFAR-10, downloaded into data/ when missing
    dm = ImageDataModule(data_dir="../cifar10-jpeg")       # or a class-folder tree, offline
    dm = ImageDataModule(data_dir="data", dataset="cifar100")

Validation returns two dataloaders, [val, test], so the test set is scored every epoch on the same
x-axis as train and val (or [val] alone with test_every_epoch=False). `test_dataloader` is the
final evaluation's data: [val, test], both scored by one `trainer.test` of the best checkpoint.

What other code may use besides the Lightning hooks: `batch_size`, `source`, `classes`, `sizes`,
`model_inputs` (what a network must know of the data: classes, image size, mean/std), `normalize`,
`description`, `train_sample(n)`, `test_image(i)`, `test_set()` and `resume_at(epoch)`; the arrays
and index tensors behind them are this module's business.
"""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from core import recipe
from datamodules import sources
from datamodules.augment import cutout, mix_batch, normalize, random_crop_flip, scaled_padding
from datamodules.sampler import BatchIndexSampler, _Tensors


class ImageDataModule(pl.LightningDataModule):
    def __init__(self, data_dir: str | Path = "data", num_workers: int = 0, seed: int = 0, eval_batch_size: int = 500,
                 on_device: bool = False, dataset: str = "cifar10", resize_to: int | None = None, **keys):
        """`keys`: the data keys of a model's recipe (core/recipe.py declares them: batch_size,
        val_size, augment, aug_padding, aug_pad_mode, aug_flip, test_every_epoch), each its default
        when left out. `aug_padding`/`aug_pad_mode`: the training crop pads by that many pixels
        (zeros, or "reflect") and cuts the image size again; the padding is for 32x32 images and
        scales with the image size. `aug_flip`: "random" (torchvision's RandomHorizontalFlip),
        "alternate" (see BatchIndexSampler) or "none". `augment=False` turns crop and flip off.
        `cutout`, `mixup`, `cutmix`: the regularising augmentations, on normalised training batches
        (MixUp and CutMix make the labels class probabilities).
        `on_device`: keep the whole data set on the trainer's device (a GPU holds CIFAR-10's 180 MB of
        uint8 easily): batches are then gathered there and no host-to-device copy is left in the loop.
        `test_every_epoch`: False drops the test set from the per-epoch validation (it is then scored
        once, at the end), which saves a 10,000-image pass each epoch. `dataset`: a key of
        sources.DATASETS; `resize_to`: resize a folder tree's images to that square (--image-size)."""
        super().__init__()
        self.save_hyperparameters({"data_dir": str(data_dir), **recipe.with_data_defaults(keys), "num_workers": num_workers,
                                   "seed": seed, "eval_batch_size": eval_batch_size, "on_device": on_device,
                                   "dataset": dataset, "resize_to": resize_to})
        self.data_dir = Path(data_dir)
        self.arrays: sources.ImageArrays | None = None
        self.train_idx = self.val_idx = None
        self.first_epoch = 0  # 0-based; a resumed run starts later (resume_at)

    def resume_at(self, epoch: int) -> None:
        """Training continues at this (0-based) epoch: its batch order and flips are epoch's own,
        even for the iterator Lightning creates before it restores its epoch counter (as it does
        when a model asks for trainer.estimated_stepping_batches in configure_optimizers)."""
        self.first_epoch = epoch

    def prepare_data(self) -> None:
        if self.data_dir.exists() and not self.data_dir.is_dir():
            from core.errors import UserError
            raise UserError(f"--data-dir {self.data_dir} is a file; pass the folder that holds the data")
        source = sources.get(self.hparams.dataset)
        if not source.present(self.data_dir) and source.download is not None:
            source.download(self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is None:  # train.py loads early, to fail fast and record sizes
            self._load()
        if self.hparams.on_device and self.trainer is not None:
            self.to_device(self.trainer.strategy.root_device)

    def to_device(self, device: torch.device) -> None:
        a = self.arrays
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            setattr(a, name, getattr(a, name).to(device))

    def _load(self) -> None:
        self.arrays = sources.load(self.data_dir, self.hparams.dataset, self.hparams.resize_to)
        n = len(self.arrays.train_labels)
        val_size = self.hparams.val_size
        if not 0 < val_size < n:
            from core.errors import UserError
            raise UserError(f"--val-size {val_size} must be between 1 and {n - 1} (the training set has {n})")
        # The split depends on the seed only, not on the global RNG state.
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.hparams.seed))
        self.val_idx, self.train_idx = perm[:val_size].sort().values, perm[val_size:].sort().values

    @property
    def batch_size(self) -> int:
        """The training batch size."""
        return self.hparams.batch_size

    @property
    def source(self) -> str:
        """Where the images came from, in words (recorded in metrics.json)."""
        return self.arrays.source

    @property
    def classes(self) -> tuple[str, ...]:
        return self.arrays.classes

    @property
    def model_inputs(self) -> dict:
        """What a network is built for: class count, image size, and the mean/std of its inputs
        (a model records them, so a checkpoint can normalise an image the way it was trained)."""
        a = self.arrays
        return {"num_classes": len(a.classes), "image_size": a.image_size, "mean": list(a.mean), "std": list(a.std)}

    @property
    def description(self) -> dict:
        """The data set for the run's record: its name, classes and statistics."""
        inputs = {k: v for k, v in self.model_inputs.items() if k != "num_classes"}  # the classes say it
        return {"dataset": self.hparams.dataset, "classes": list(self.arrays.classes), **inputs}

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the float inputs the model trains on (this data set's mean/std)."""
        return normalize(images, self.arrays.mean, self.arrays.std)

    def test_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images (uint8) and labels."""
        return self.arrays.test_images, self.arrays.test_labels

    def train_sample(self, n: int) -> torch.Tensor:
        """The first n training images of the split (uint8, N x 3 x S x S): the same on every run
        with this seed, so a model may derive fixed weights from them (resnet9's whitening)."""
        return self.arrays.train_images[self.train_idx[:n]]

    def test_image(self, i: int) -> tuple[torch.Tensor, int]:
        """Test image i (uint8, 3 x S x S) and its label: the same picture for every seed and split,
        so that filter figures of two runs show one input."""
        if not 0 <= i < len(self.arrays.test_labels):
            from core.errors import UserError
            raise UserError(f"image {i} is not a test image index (0 to {len(self.arrays.test_labels) - 1})")
        return self.arrays.test_images[i], int(self.arrays.test_labels[i])

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_idx), "val": len(self.val_idx), "test": len(self.arrays.test_labels)}

    def _loader(self, images: torch.Tensor, labels: torch.Tensor, train: bool) -> DataLoader:
        bs = self.hparams.batch_size if train else self.hparams.eval_batch_size
        alternate = train and self.hparams.augment and self.hparams.aug_flip == "alternate"
        sampler = BatchIndexSampler(len(labels), bs, shuffle=train, seed=self.hparams.seed, epoch=self.first_epoch,
                                    alternate_flip=alternate)
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            sampler.rank, sampler.world_size = trainer.global_rank, trainer.world_size
        workers = self.hparams.num_workers
        # Its own generator: creating an iterator then draws no number from the global RNG, whose
        # stream (augmentation) must not depend on when Lightning creates iterators.
        return DataLoader(_Tensors(images, labels), sampler=sampler, batch_size=None,
                          num_workers=workers, persistent_workers=workers > 0,
                          generator=torch.Generator().manual_seed(self.hparams.seed))

    def train_dataloader(self) -> DataLoader:
        a = self.arrays
        return self._loader(a.train_images[self.train_idx], a.train_labels[self.train_idx], train=True)

    def _val_loader(self) -> DataLoader:
        a = self.arrays
        return self._loader(a.train_images[self.val_idx], a.train_labels[self.val_idx], train=False)

    def _test_loader(self) -> DataLoader:
        return self._loader(self.arrays.test_images, self.arrays.test_labels, train=False)

    def val_dataloader(self) -> list[DataLoader]:
        """Per-epoch scoring: [val, test], or [val] when the test set is scored only at the end."""
        return [self._val_loader(), self._test_loader()] if self.hparams.test_every_epoch else [self._val_loader()]

    def test_dataloader(self) -> list[DataLoader]:
        """The final evaluation of the best checkpoint: val and test, in that order."""
        return [self._val_loader(), self._test_loader()]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if self.hparams.augment and self.trainer is not None and self.trainer.training:
            padding = scaled_padding(self.hparams.aug_padding, images.shape[-1])
            images = random_crop_flip(images, padding, self.hparams.aug_pad_mode,
                                      flip=self.hparams.aug_flip == "random")
        images = self.normalize(images)
        if self.trainer is not None and self.trainer.training:  # the regularisers, off by default
            hp = self.hparams
            if hp.cutout:
                images = cutout(images, max(1, round(hp.cutout * images.shape[-1] / 32)))
            if hp.mixup or hp.cutmix:
                images, labels = mix_batch(images, labels, len(self.classes), hp.mixup, hp.cutmix)
        return images, labels
