"""Filter images during training: `--filters-every N` logs test image `--filter-image`'s
first/last conv activations and first-conv weights every N epochs (figures/filters.py draws them).
The best checkpoint's, at the end, come from callbacks/tensorboard.py."""
from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from figures.filters import filter_images


class FilterActivations(pl.Callback):
    """Log the filter images for test image `image_index` every `every_n_epochs` epochs (> 0), at
    step = epoch."""

    def __init__(self, image_index: int = 0, every_n_epochs: int = 0):
        self.image_index, self.every_n_epochs = image_index, every_n_epochs

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = trainer.logger
        if not (self.every_n_epochs > 0 and (trainer.current_epoch + 1) % self.every_n_epochs == 0
                and isinstance(logger, TensorBoardLogger) and trainer.is_global_zero):
            return
        dm = trainer.datamodule
        images, caption = filter_images(pl_module, *dm.test_image(self.image_index), self.image_index, dm.classes)
        step, tb = trainer.current_epoch + 1, logger.experiment
        for tag, image in images.items():
            tb.add_image(tag, image, step)
        tb.add_text("filters/caption", caption, step)
