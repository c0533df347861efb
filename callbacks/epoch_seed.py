"""Every RNG is reseeded from (seed, epoch) at the start of each epoch: what makes resume exact.

Augmentation and dropout of epoch e then depend on nothing else, so a run resumed at epoch e draws
exactly what the unbroken run drew. Storing RNG states in checkpoints is not enough: Lightning
draws from the global RNG between the checkpoint and the next epoch differently on resume.
"""
from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch


class SeedEachEpoch(pl.Callback):
    def __init__(self, seed: int = 0):
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        s = (self.seed * 1_000_003 + trainer.current_epoch) % 2**32
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)  # seeds every CUDA device too
