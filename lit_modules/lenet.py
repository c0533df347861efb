"""The assignment's Table-1 LeNet baseline: three 5x5 conv blocks and two dense layers, 390,410 parameters.

    python train.py --model lenet
"""
from torch import nn

from lit_modules.base import BaseClassifier


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))


class LeNet(BaseClassifier):
    name = "lenet"
    defaults = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam"}

    def build_network(self) -> nn.Module:
        return nn.Sequential(
            conv_block(3, 32),    # 32x32 -> 16x16
            conv_block(32, 64),   # -> 8x8
            conv_block(64, 128),  # -> 4x4
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )
