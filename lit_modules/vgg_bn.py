"""vgg_bn: the assignment's suggested family done well: (conv3x3-BN-ReLU-conv3x3-BN-ReLU-maxpool) x 4.

    python train.py --model vgg_bn
    python train.py --model vgg_bn --set convs_per_block=1 batchnorm=false dense_layers=1   # (conv-relu-pool)x4 -> (affine)x2

Widths 32-64-128-256 keep it at about 53 MFLOP-MACs per image, under half of resnet9's, while the
fourth block gives it the receptive field of the whole image. What makes 10 epochs enough:
BatchNorm, Nesterov SGD with 15% warmup then linear decay per step, label smoothing 0.1,
weight decay 5e-4, crop+flip augmentation, and mirror TTA in the final evaluation.

Every architecture the assignment's task 2 suggests is a key (--show-defaults lists them): filter
size, number of filters, pooling or strided convs, BatchNorm, convs per block, block count, the
order inside a block, dense layers, dropout. The defaults build today's network layer for layer,
drawn in the same order, so its runs repeat bit for bit.
"""
from __future__ import annotations

from torch import nn

from core.recipe import Key
from lit_modules.base import BaseClassifier

WIDTHS = (32, 64, 128, 256)


def conv_bn_relu(c_in: int, c_out: int, kernel_size: int = 3, batchnorm: bool = True, stride: int = 1,
                 order: str = "conv_bn_relu") -> list[nn.Module]:
    """Without BatchNorm the conv gets its bias back (BatchNorm's shift made it redundant).
    order="bn_relu_conv": pre-activation (He et al. 2016), BatchNorm of the conv's input channels."""
    conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=not batchnorm)
    if order == "bn_relu_conv":
        return ([nn.BatchNorm2d(c_in)] if batchnorm else []) + [nn.ReLU(inplace=True), conv]
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)] if batchnorm else [conv, nn.ReLU(inplace=True)]


class VGGBN(BaseClassifier):
    name = "vgg_bn"
    min_image_size = 16  # four 2x2 poolings
    defaults = {"epochs": 10, "batch_size": 256, "lr": 0.2, "optimizer": "sgd", "momentum": 0.9,
                "nesterov": True, "weight_decay": 5e-4, "label_smoothing": 0.1, "schedule": "warmup_linear",
                "warmup": 0.15, "start_lr_frac": 0.1, "end_lr_frac": 0.0, "tta": 1,
                "channels_last": True}
    # The architecture switches the assignment's task 2 suggests experimenting with.
    specs = {"batchnorm": Key("model", "BatchNorm after every conv (off: convs get biases)", True),
             "dropout": Key("model", "dropout before each linear layer of the head (0: none)", 0.0, low=0, high=0.95),
             "width": Key("model", "width multiplier of the blocks (32-64-128-256 at 1)", 1.0, above=0, high=8),
             "kernel_size": Key("model", "conv kernel size (odd; padding keeps the map size)", 3, low=1, high=7,
                                odd=True),
             "blocks": Key("model", "conv blocks, each halving the map (the first N of 32-64-128-256 wide)", 4,
                           low=1, high=4),
             "convs_per_block": Key("model", "convs per block (1: the assignment's conv-relu-pool)", 2, low=1, high=4),
             "downsample": Key("model", "how a block halves the map: a 2x2 max pool after it, or stride 2 in "
                               "its last conv", "maxpool", choices=("maxpool", "stride")),
             "order": Key("model", "order inside a block: conv-bn-relu, or pre-activation bn-relu-conv (the first "
                          "conv then sees the image itself; BatchNorm-ReLU before the head)", "conv_bn_relu",
                          choices=("conv_bn_relu", "bn_relu_conv")),
             "dense_layers": Key("model", "hidden dense layers (affine-ReLU) between the conv blocks and the "
                                 "classifier", 0, low=0, high=4),
             "dense_width": Key("model", "units of each hidden dense layer", 512, low=1),
             "block_dropout": Key("model", "dropout after each conv block (0: none)", 0.0, low=0, high=0.95)}

    def feature_block(self):
        """The last conv block's output: the module just before the global pool (the fourth block's
        max pool with the defaults, after its BatchNorm and ReLU)."""
        names = [n for n, _ in self.net.named_children()]
        name = names[[type(m) for m in self.net.children()].index(nn.AdaptiveMaxPool2d) - 1]
        return f"net.{name}", self.net.get_submodule(name)

    def build_network(self) -> nn.Module:
        hp = self.hparams
        layers, c = [], 3
        for w in (max(1, round(w * hp.width)) for w in WIDTHS[:hp.blocks]):
            for i in range(hp.convs_per_block):
                stride = 2 if i == hp.convs_per_block - 1 and hp.downsample == "stride" else 1
                if hp.order == "bn_relu_conv" and not layers:  # pre-activation: the image goes into a plain conv
                    layers.append(nn.Conv2d(c, w, hp.kernel_size, stride, hp.kernel_size // 2, bias=not hp.batchnorm))
                else:
                    layers += conv_bn_relu(c, w, hp.kernel_size, hp.batchnorm, stride, hp.order)
                c = w
            if hp.downsample == "maxpool":
                layers.append(nn.MaxPool2d(2))
            if hp.block_dropout > 0:
                layers.append(nn.Dropout(hp.block_dropout))
        if hp.order == "bn_relu_conv":  # the last conv's output, normalised as every conv's input was
            layers += ([nn.BatchNorm2d(c)] if hp.batchnorm else []) + [nn.ReLU(inplace=True)]
        head, width = [], c
        for _ in range(hp.dense_layers):
            head += ([nn.Dropout(hp.dropout)] if hp.dropout > 0 else []) + [nn.Linear(width, hp.dense_width), nn.ReLU(inplace=True)]
            width = hp.dense_width
        head += ([nn.Dropout(hp.dropout)] if hp.dropout > 0 else []) + [nn.Linear(width, hp.num_classes)]
        return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(), *head)
