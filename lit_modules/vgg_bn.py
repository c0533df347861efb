"""vgg_bn: the assignment's suggested family done well: (conv3x3-BN-ReLU-conv3x3-BN-ReLU-maxpool) x 4.

    python train.py --model vgg_bn

Widths 32-64-128-256 keep it at about 53 MFLOP-MACs per image, under half of resnet9's, while the
fourth block gives it the receptive field of the whole image. What makes 10 epochs enough:
BatchNorm, Nesterov SGD with 15% warmup then linear decay per step, label smoothing 0.1,
weight decay 5e-4, crop+flip augmentation, and mirror TTA in the final evaluation.
"""
from __future__ import annotations

from torch import nn

from lit_modules.base import BaseClassifier

WIDTHS = (32, 64, 128, 256)


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class VGGBN(BaseClassifier):
    name = "vgg_bn"
    defaults = {"epochs": 10, "batch_size": 256, "lr": 0.2, "optimizer": "sgd", "momentum": 0.9,
                "nesterov": True, "weight_decay": 5e-4, "label_smoothing": 0.1, "schedule": "warmup_linear",
                "warmup": 0.15, "start_lr_frac": 0.1, "end_lr_frac": 0.0, "tta": 1,
                "channels_last": True}

    def build_network(self) -> nn.Module:
        layers, c = [], 3
        for w in WIDTHS:
            layers += conv_bn_relu(c, w) + conv_bn_relu(w, w) + [nn.MaxPool2d(2)]
            c = w
        return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c, 10))
