"""resnet9: airbench94's fast CIFAR-10 network and recipe as a Lightning module, plus identity shortcuts.

    python train.py --model resnet9

What it keeps from airbench94 (Keller Jordan's 94%-in-3.8-s A100 trainer), and why:
- a frozen 2x2 "whitening" first conv, initialised from the eigenvectors of the training patches'
  covariance: the net starts from decorrelated inputs, which is worth several epochs;
- conv-pool-BN-GELU-conv-BN-GELU groups (64, 256, 256 wide), BN scales frozen at 1 (only shifts
  train, with a 64x larger lr), dirac-initialised convs; a 1/9-scaled linear head (in the network:
  `model.net(x)` is the model's output);
- batch 1024, Nesterov SGD, label smoothing 0.2, 23% warmup then linear decay per step;
- lookahead (an EMA of the weights pulled back into the net every 5 steps), whose strength grows
  over the run: callbacks/lookahead.py, switched on by the default `lookahead=True`;
- alternating flip (each image mirrored every other epoch) + 2-pixel reflect-translate augmentation,
  and flip + translate TTA in the final evaluation.
What it adds: an identity shortcut around each group's second conv (the "res" in the name).
What it changes for the CPU: batch 512 (same per-example lr and decay), a 2,000-image validation split.
Total: 8 weight layers and the whitening layer: 9.
"""
from __future__ import annotations

import torch
from torch import nn

from core.recipe import Key
from lit_modules.base import BaseClassifier

WIDTHS = (64, 256, 256)
BN_MOMENTUM = 0.4  # PyTorch's convention: airbench's 0.6 is 1 - 0.4
WHITEN_BIAS_EPOCHS = 3


def frozen_scale_bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c, eps=1e-12, momentum=BN_MOMENTUM)
    bn.weight.requires_grad = False
    return bn


def dirac_conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight.data[:c_in])  # the first c_in filters start as the identity
    return conv


class Divide(nn.Module):
    """airbench's scaled head: logits / 9, part of the network so that net(x) is the output."""

    def __init__(self, divisor: float):
        super().__init__()
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.divisor


class ResGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1, self.pool, self.norm1 = dirac_conv(c_in, c_out), nn.MaxPool2d(2), frozen_scale_bn(c_out)
        self.conv2, self.norm2 = dirac_conv(c_out, c_out), frozen_scale_bn(c_out)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return x + self.act(self.norm2(self.conv2(x)))


class ResNet9(BaseClassifier):
    name = "resnet9"
    min_image_size = 25  # the 2x2 whitening conv, three 2x2 poolings and a 3x3 one
    init_note = ("first conv: fixed whitening filters from the eigenvectors of the training patches' "
                 "covariance (not trained); the other convs start as identities (dirac)")

    # airbench94's lr 11.5 and wd 0.0153 are per 1024 examples with a summed loss. We take batch 512
    # (on 2 CPU cores it trains 40% faster per image than 1024, and 2x the steps suit 10 epochs);
    # with PyTorch's mean loss and coupled weight decay that is lr 0.75 and wd 1.33e-3.
    defaults = {"epochs": 10, "batch_size": 512, "lr": 11.5 / (1 + 1 / 0.15) / 2, "optimizer": "sgd",
                "momentum": 0.85, "nesterov": True, "weight_decay": 0.0153 / 11.5, "channels_last": True,
                "label_smoothing": 0.2, "schedule": "warmup_linear", "warmup": 0.23, "start_lr_frac": 0.2,
                "end_lr_frac": 0.07, "tta": 2, "aug_padding": 2, "aug_pad_mode": "reflect", "aug_flip": "alternate",
                "val_size": 2000, "test_every_epoch": False, "lookahead": True}
    specs = {"bias_lr_scale": Key("model", "lr multiplier of the BatchNorm shifts (airbench: 64)", 64.0, above=0)}
    # val_size 2000 and no per-epoch test pass: the time of the 10,000-image test pass each epoch,
    # spent instead on 3,000 more training images (48,000 vs 45,000; airbench94 trains on all 50,000),
    # keeps the run inside airbench94's time (measured: 3,098 s against 3,164 s with the old split).
    # The test set is still scored once, at the end, with TTA; val (2,000 images) gives the
    # per-epoch curve and picks the checkpoint.

    def build_network(self) -> nn.Module:
        whiten = nn.Conv2d(3, 24, 2, bias=True)
        whiten.weight.requires_grad = False
        # airbench's MaxPool2d(3) turns the 3x3 map of a 32x32 image into 1x1; a larger image's
        # map needs one more pooling to get there.
        larger = [nn.AdaptiveMaxPool2d(1)] if (self.hparams.image_size - 1) // 8 // 3 > 1 else []
        return nn.Sequential(whiten, nn.GELU(), ResGroup(24, WIDTHS[0]), ResGroup(WIDTHS[0], WIDTHS[1]),
                             ResGroup(WIDTHS[1], WIDTHS[2]), nn.MaxPool2d(3), *larger, nn.Flatten(),
                             nn.Linear(WIDTHS[2], self.hparams.num_classes, bias=False), Divide(9))

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Whitening filters from normalised training images (N, 3, S, S): eigenvectors of the 2x2
        patch covariance scaled by 1/sqrt(eigenvalue), each used with both signs (24 filters)."""
        w = self.net[0].weight
        c, h, k = images.shape[1], *w.shape[2:]
        patches = images.unfold(2, h, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * h * k).double()
        cov = patches.T @ patches / len(patches)
        eigval, eigvec = torch.linalg.eigh(cov)
        eigval, eigvec = eigval.flip(0), eigvec.T.flip(0).reshape(-1, c, h, k)
        filters = (eigvec / torch.sqrt(eigval + eps).view(-1, 1, 1, 1)).to(w.dtype)
        w.copy_(torch.cat([filters, -filters]))

    def on_fit_start(self) -> None:
        dm = self.trainer.datamodule
        first = dm.train_sample(5000)  # deterministic: same on resume
        self.init_whitening(dm.normalize(first).to(self.device))

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.net[0].bias.requires_grad = self.current_epoch < WHITEN_BIAS_EPOCHS

    def param_groups(self) -> list[dict]:
        hp = self.hparams
        bn = [p for n, p in self.named_parameters() if "norm" in n and p.requires_grad]
        other = [p for n, p in self.named_parameters() if "norm" not in n and (p.requires_grad or n == "net.0.bias")]
        bias_lr = hp.lr * hp.bias_lr_scale
        # Same decoupled decay for both groups: PyTorch multiplies weight_decay by the group's lr.
        return [{"params": bn, "lr": bias_lr, "weight_decay": hp.weight_decay * hp.lr / bias_lr},
                {"params": other}]
