"""The shared LightningModule: settings, loss, one accuracy metric per evaluation stage, evaluation
(with TTA) and the optimizer. The training step and its sums are in lit_modules/step.py, the
optimizer and schedule in lit_modules/optim.py.

A model file subclasses `BaseClassifier`, names itself (`name`, its registry key), implements
`build_network()` and states its `defaults` (epochs, batch_size, lr, optimizer, ...); everything
else lives here, once.

Per epoch (fit): train/loss, train/acc, val/loss, val/acc, and test/loss, test/acc when the data
module scores the test set every epoch (its second validation dataloader). Losses are plain
cross-entropy (the training objective adds the model's label smoothing). The final evaluation is
`trainer.test` on the best checkpoint over [val, test], with the model's TTA: best_val/* and
best_test/* (names: core/run_folder.py). All with logger=False: callbacks/tensorboard.py writes TensorBoard.
"""
from __future__ import annotations

from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from core.errors import UserError
from core import recipe
from core.recipe import BASE_SPECS, Key
from core.run_folder import FINAL_PREFIX, STAGES
from datamodules.augment import normalize
from datamodules.sources import CIFAR10_INPUTS
from lit_modules.init import initialise
from lit_modules.optim import make_optimizer, make_schedule
from lit_modules.step import OwnStep


class ImageMean(Metric):
    """The mean of per-batch means weighted by their images, summed across DDP processes: the mean
    over every image even when processes hold different numbers of them (Lightning's sync_dist
    averages the processes' means, each counted once)."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("images", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, mean: torch.Tensor, n: int) -> None:
        self.total += mean.detach() * n
        self.images += n

    def compute(self) -> torch.Tensor:
        return self.total / self.images


class BaseClassifier(OwnStep, pl.LightningModule):
    name: ClassVar[str] = ""  # the registry key (--model NAME), stored in every checkpoint
    # A sentence for the report's training details when the network starts from more than
    # PyTorch's default initialisation.
    init_note: ClassVar[str] = ""
    # The recipe (core/recipe.py declares every base key: owner, rule, default, flag). A model changes
    # base keys' defaults in `defaults` and declares keys of its own, with their defaults, in `specs`.
    defaults: ClassVar[dict[str, Any]] = {}
    specs: ClassVar[dict[str, Key]] = {}
    # Where the report puts it: "baseline" (task 1), "custom" (task 2) or "transfer" (task 3).
    role: ClassVar[str] = "custom"
    min_image_size: ClassVar[int] = 8  # the smallest input the network's downsampling allows
    # The module whose output is the last conv block's: what the filter figures' "last conv block"
    # shows (the assignment's 3f: resnet18's `layer4`, after its BatchNorm, shortcut and ReLU). A name
    # in `net`; "" means the last child of `net` that holds a conv layer (lenet's third block).
    last_block: ClassVar[str] = ""
    # Values for keys a checkpoint from before the key existed lacks, where that is not the default.
    checkpoint_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **overrides: Any):
        """Takes the model's own keys (core/recipe.py's "model" group), and what the data module says the
        network is for (`dm.model_inputs`: num_classes, image_size, mean, std; CIFAR-10's when left out,
        as in checkpoints written before other data sets)."""
        super().__init__()
        overrides.pop("model", None)  # a checkpoint's record of which model it is, not a setting
        inputs = {k: overrides.pop(k, v) for k, v in CIFAR10_INPUTS.items()}
        if inputs["image_size"] < self.min_image_size:
            raise UserError(f"{self.name} needs images of at least {self.min_image_size}x{self.min_image_size}, "
                            f"these are {inputs['image_size']}x{inputs['image_size']}; pass --image-size "
                            f"{self.min_image_size} or more")
        specs = self.all_specs()
        unknown = sorted(set(overrides) - set(specs))
        if unknown:
            raise UserError(f"{self.name} has no setting {unknown[0]!r}; valid: {', '.join(sorted(specs))}")
        hp = {k: v for k, v in {**self.all_defaults(), **overrides}.items() if specs[k].owner == "model"}
        self.save_hyperparameters({"model": self.name, **hp, **inputs})
        self.net = self.build_network()
        initialise(self.initialised(), hp["init"])
        if hp["channels_last"]:
            self.net.to(memory_format=torch.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=hp["label_smoothing"])
        # One metric object per stage: they accumulate on the device and sync across DDP ranks.
        # validate_args=False: the check counts torch.unique(labels) on the host, which makes every
        # GPU step wait for the GPU. Labels are class indices by construction (class-folder index or
        # md5-checked batches).
        acc = lambda: MulticlassAccuracy(inputs["num_classes"], average="micro", validate_args=False)
        for stage in STAGES[1:] + tuple(FINAL_PREFIX + s for s in STAGES[1:]):  # val_acc ... best_test_acc
            setattr(self, f"{stage}_acc", acc())
            setattr(self, f"{stage}_loss", ImageMean())
        # The final test's confusion matrix, for TensorBoard: computed by every process (it syncs
        # across DDP ranks), kept as counts in `test_confusion` after the test.
        self.best_test_confusion = MulticlassConfusionMatrix(inputs["num_classes"], validate_args=False)
        self.test_confusion: torch.Tensor | None = None
        self.test_probs: torch.Tensor | None = None
        self._test_probs: list[torch.Tensor] = []

    @classmethod
    def all_defaults(cls) -> dict[str, Any]:
        return recipe.defaults_of(cls.all_specs(), cls.defaults)

    @classmethod
    def all_specs(cls) -> dict[str, Key]:
        return {**BASE_SPECS, **cls.specs}

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def initialised(self) -> nn.Module:
        """What the `init` key re-draws: the whole network; a pretrained one overrides it with what it adds."""
        return self.net

    def feature_block(self) -> tuple[str, nn.Module] | None:
        """(name in the model, module) of the last conv block; None for a network without a conv layer."""
        if self.last_block:
            return f"net.{self.last_block}", self.net.get_submodule(self.last_block)
        holding = [(n, m) for n, m in self.net.named_children() if any(isinstance(x, nn.Conv2d) for x in m.modules())]
        return (f"net.{holding[-1][0]}", holding[-1][1]) if holding else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def configure_callbacks(self) -> list[pl.Callback]:
        """Training techniques a model switches on by a default, as callbacks any model can use."""
        from callbacks.lookahead import Lookahead

        attached = any(isinstance(c, Lookahead) for c in self.trainer.callbacks)  # by the fit before a test
        return [Lookahead()] if self.hparams.lookahead and not attached else []

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> this network's inputs, with the mean/std of the data it was built for
        (what the data module does to every batch; for scoring images outside a Trainer)."""
        return normalize(images, self.hparams.mean, self.hparams.std)

    def logits_with_tta(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """Test-time augmentation: 0 none, 1 mean over the image and its mirror, 2 also airbench's
        one-pixel translations. Only the final evaluation uses it; per-epoch curves stay cheap."""
        if level == 0:
            return self(x)
        logits = 0.5 * (self(x) + self(x.flip(-1)))
        if level >= 2:  # airbench's translate TTA: one pixel up-left and down-right, each mirrored too
            padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
            shifted = [padded[..., :-2, :-2], padded[..., 2:, 2:]]
            logits = 0.5 * logits + 0.25 * sum(0.5 * (self(s) + self(s.flip(-1))) for s in shifted)
        return logits

    def _eval_step(self, batch, stage: str, tta: int) -> torch.Tensor:
        """Shared by validation, the per-epoch test pass and the final evaluation."""
        x, y = batch
        logits = self.logits_with_tta(x, tta)
        metric, loss = getattr(self, f"{stage}_acc"), getattr(self, f"{stage}_loss")
        metric.update(logits, y)
        loss.update(nn.functional.cross_entropy(logits, y), len(y))
        kw = dict(on_step=False, on_epoch=True, batch_size=len(y), add_dataloader_idx=False, logger=False)
        self.log(f"{stage}/loss", loss, **kw)
        self.log(f"{stage}/acc", metric, **kw)
        return logits

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Per-epoch scoring during fit: dataloader 0 is val, 1 (if the data module has it) test."""
        self._eval_step(batch, STAGES[1 + dataloader_idx], tta=0)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        """The final evaluation of the best checkpoint, over [val, test], with the model's TTA."""
        logits = self._eval_step(batch, FINAL_PREFIX + STAGES[1 + dataloader_idx], tta=self.hparams.tta)
        if dataloader_idx == 1:
            self.best_test_confusion.update(logits, batch[1])
            if self._trainer is None or self.trainer.world_size == 1:  # on the device, read once at the end
                self._test_probs.append(logits.detach().float().softmax(1))

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """uint8 images (a batch, or a batch's first element) -> class probabilities, normalised as
        this network's training data was and with `predict_tta` (default: the final evaluation's TTA)."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        tta = self.hparams.tta if self.predict_tta is None else self.predict_tta
        return self.logits_with_tta(self.normalize(x), tta).float().softmax(1)

    predict_tta: int | None = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The class names go with the weights, so predict.py can name what it sees without the data."""
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if getattr(dm, "classes", None):
            checkpoint["classes"] = list(dm.classes)

    def on_test_epoch_start(self) -> None:
        self._test_probs = []

    def on_test_epoch_end(self) -> None:
        if self.best_test_confusion.update_called:
            self.test_confusion = self.best_test_confusion.compute().cpu()
        self.best_test_confusion.reset()
        # The final test's probabilities of the test images, in their order (one process only: DDP's
        # processes each hold a shard): what TensorBoard's mistakes and calibration images are drawn from.
        self.test_probs = torch.cat(self._test_probs).cpu() if self._test_probs else None
        self._test_probs = []

    def param_groups(self) -> list[dict[str, Any]]:
        """What the optimizer trains; a model overrides this for per-group lr or weight decay."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def configure_optimizers(self):
        opt = make_optimizer(self.param_groups(), self.hparams, self.device)
        if self.hparams.schedule is None:
            return opt
        schedule = make_schedule(opt, self.hparams, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def param_counts(self) -> dict[str, int]:
        return {"total": sum(p.numel() for p in self.net.parameters()),
                "trainable": sum(p.numel() for p in self.net.parameters() if p.requires_grad)}
