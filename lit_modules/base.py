"""The shared LightningModule: loss, one accuracy metric per stage, logging and the optimizer.

A model file subclasses `BaseClassifier`, implements `build_network()` and states its `defaults`
(epochs, batch_size, lr, optimizer, ...); everything else lives here, once.

Logged per epoch: train/loss, train/acc, val/loss, val/acc, test/loss, test/acc (the test set is
the second validation dataloader, so it shares the x-axis). Per step: train/loss_step.
The final `trainer.test` on the best checkpoint logs best_test/loss and best_test/acc.
"""
from __future__ import annotations

from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

NUM_CLASSES = 10
OPTIMIZERS = ("adam", "sgd")


class BaseClassifier(pl.LightningModule):
    defaults: ClassVar[dict[str, Any]] = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
                                          "weight_decay": 0.0}

    def __init__(self, lr: float | None = None, optimizer: str | None = None,
                 weight_decay: float | None = None, momentum: float = 0.9, **extra: Any):
        super().__init__()
        d = self.defaults
        self.save_hyperparameters({
            "model": type(self).__name__,
            "lr": d["lr"] if lr is None else lr,
            "optimizer": d["optimizer"] if optimizer is None else optimizer,
            "weight_decay": d.get("weight_decay", 0.0) if weight_decay is None else weight_decay,
            "momentum": momentum, **extra})
        self.net = self.build_network()
        self.criterion = nn.CrossEntropyLoss()
        # One metric object per stage: they accumulate on the device and sync across DDP ranks.
        self.train_acc = MulticlassAccuracy(NUM_CLASSES, average="micro")
        self.val_acc = MulticlassAccuracy(NUM_CLASSES, average="micro")
        self.test_acc = MulticlassAccuracy(NUM_CLASSES, average="micro")
        self.best_test_acc = MulticlassAccuracy(NUM_CLASSES, average="micro")

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)
        self.train_acc(logits, y)
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch, prefix: str, metric: MulticlassAccuracy) -> None:
        """Shared by validation, the per-epoch test pass and the final test."""
        x, y = batch
        logits = self(x)
        metric(logits, y)
        kw = dict(on_step=False, on_epoch=True, batch_size=len(y), add_dataloader_idx=False, sync_dist=True)
        self.log(f"{prefix}/loss", self.criterion(logits, y), **kw)
        self.log(f"{prefix}/acc", metric, **{k: v for k, v in kw.items() if k != "sync_dist"})

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if dataloader_idx == 0:
            self._eval_step(batch, "val", self.val_acc)
        else:
            self._eval_step(batch, "test", self.test_acc)

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "best_test", self.best_test_acc)

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        if hp.optimizer == "adam":
            return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.optimizer == "sgd":
            return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay,
                                   nesterov=hp.momentum > 0)
        raise ValueError(f"unknown optimizer {hp.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")

    def param_counts(self) -> dict[str, int]:
        return {"total": sum(p.numel() for p in self.net.parameters()),
                "trainable": sum(p.numel() for p in self.net.parameters() if p.requires_grad)}
