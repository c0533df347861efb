"""The assignment's Table-1 LeNet baseline: three 5x5 conv blocks and two dense layers, 390,410 parameters.

    python train.py --model lenet
"""
from torch import nn

from core.recipe import Key
from lit_modules.base import BaseClassifier

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def conv_block(c_in: int, c_out: int, act: type[nn.Module] = nn.ReLU, downsample: str = "maxpool") -> nn.Sequential:
    """Conv5x5 then the activation, halving the map: by a 2x2 max pool, or by the conv's stride 2
    (the same weights, a quarter of the conv's work)."""
    if downsample == "stride":
        return nn.Sequential(nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), act())
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, padding=2), act(), nn.MaxPool2d(2))


class LeNet(BaseClassifier):
    name = "lenet"
    role = "baseline"
    defaults = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam"}  # the base keys' own
    specs = {"activation": Key("model", "activation after every conv and the hidden dense layer", "relu",
                               choices=tuple(ACTIVATIONS)),
             "downsample": Key("model", "how each block halves the map: max pooling or a stride-2 conv",
                               "maxpool", choices=("maxpool", "stride"))}

    def build_network(self) -> nn.Module:
        act, down, size = ACTIVATIONS[self.hparams.activation], self.hparams.downsample, self.hparams.image_size
        side = -(-size // 8) if down == "stride" else size // 8  # three halvings: 32x32 -> 4x4
        return nn.Sequential(
            conv_block(3, 32, act, down),    # 32x32 -> 16x16
            conv_block(32, 64, act, down),   # -> 8x8
            conv_block(64, 128, act, down),  # -> 4x4
            nn.Flatten(),
            nn.Linear(128 * side * side, 64), act(),
            nn.Linear(64, self.hparams.num_classes),
        )
