"""resnet18: transfer learning from ImageNet, the assignment's recipe.

    python train.py --model resnet18 --gpus 1                       # ImageNet weights via torchvision
    python train.py --model resnet18 --weights resnet18-f37072fd.pth  # the same weights from a local file
    python train.py --model resnet18 --weights none                 # random init (tests, from-scratch runs)

torchvision's ResNet18; `fc` replaced by Linear(512, classes); inputs upsampled to 256x256 inside the
module (x8 for CIFAR's 32x32, nearest as Code Listing 1's `interpolate(x, scale_factor=8)`, or
`--set upsample_mode=bilinear`; images of 224 or more are left as they are); everything frozen except `layer4` and `fc` (8,398,858 of 11,181,642 parameters train).
Without a GPU, `--set upsample=128 trainable=fc` is some 7x cheaper an epoch, `upsample=64 trainable=fc` 16x
(results/resnet18_cost.md measures every combination).
Frozen BatchNorm layers stay in eval mode, keeping their ImageNet statistics: updating running
stats of layers whose weights cannot adapt would shift every frozen feature. `train_frozen_bn=True`
lets them update anyway. Inputs arrive normalised with the data set's mean/std and are re-normalised
to ImageNet's, which those statistics expect. Meant for a GPU: on 2 CPU cores an epoch of the defaults takes most of an hour.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from core.errors import UserError
from core.recipe import Key
from lit_modules.base import BaseClassifier

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
UPSAMPLED = 256
# `trainable`: the layers that train, from the top; the rest stay frozen at their starting weights.
DEPTHS = {"fc": ("fc.",), "layer4": ("layer4.", "fc."), "layer3": ("layer3.", "layer4.", "fc."), "all": ("",)}


def load_state_dict_file(net: nn.Module, path: Path) -> None:
    """A torchvision ResNet18 state dict (ImageNet's 1000-class fc, or one of `net`'s size) into `net`."""
    if not path.is_file():
        raise UserError(f"--weights {path}: no such file; pass a resnet18 state-dict file, 'imagenet' or 'none'")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        import pickle

        why = ("it holds objects other than tensors, which could run code when loaded, so it is not read"
               if isinstance(e, pickle.UnpicklingError) else f"{type(e).__name__}: {str(e).strip().splitlines()[0][:80] if str(e).strip() else 'unreadable'}")
        raise UserError(f"--weights {path}: not a plain PyTorch state-dict file ({why}); pass torchvision's "
                        f"resnet18 weights file, 'imagenet' or 'none'") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a Lightning checkpoint
        state = {k.removeprefix("net.backbone."): v for k, v in state["state_dict"].items()
                 if k.startswith("net.backbone.")}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--weights {path}: not a state dict of tensors")
    own = net.state_dict()
    for key, value in own.items():
        if key.startswith("fc."):
            continue  # the head is replaced either way
        if key not in state:
            raise UserError(f"--weights {path}: no '{key}' in the file; is it a ResNet18 state dict?")
        if state[key].shape != value.shape:
            raise UserError(f"--weights {path}: '{key}' has shape {tuple(state[key].shape)}, "
                            f"ResNet18 needs {tuple(value.shape)}")
    extra = sorted(set(state) - set(own))
    if extra:
        raise UserError(f"--weights {path}: unexpected key '{extra[0]}'; is it a ResNet18 state dict?")
    if "fc.weight" in state and state["fc.weight"].shape == own["fc.weight"].shape:
        net.load_state_dict(state)
    else:
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)


def imagenet_resnet18() -> nn.Module:
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    try:
        return torchvision.models.resnet18(weights=weights)
    except Exception as e:  # no network and nothing in torchvision's cache
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise UserError(f"cannot get the ImageNet weights ({str(e).splitlines()[0][:80]}); download "
                        f"{weights.url} on a machine with a network to {cache}, or pass --weights PATH "
                        f"to that file, or --weights none to train from scratch") from None


class UpsampledResNet18(nn.Module):
    def __init__(self, weights: str, num_classes: int, image_size: int, mean, std, mode: str = "nearest",
                 side: int = UPSAMPLED):
        """`mean`/`std`: the statistics the inputs were normalised with; `mode`: interpolate's; `side`:
        the square inputs smaller than 224 are upsampled to."""
        super().__init__()
        if weights == "imagenet":
            backbone = imagenet_resnet18()
        else:
            backbone = torchvision.models.resnet18(weights=None)
            if weights != "none":
                load_state_dict_file(backbone, Path(weights))
        backbone.fc = nn.Linear(backbone.fc.in_features, num_classes)
        self.backbone = backbone
        self.side = side if image_size < 224 else None  # ImageNet's nets see about 224x224
        self.mode = mode
        # data-normalised -> ImageNet-normalised, as one per-channel affine map.
        scale = torch.tensor(std) / torch.tensor(IMAGENET_STD)
        shift = (torch.tensor(mean) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale + self.shift
        if self.side is not None:  # at 32x32 the same numbers as scale_factor=8 (tests/test_resnet18.py)
            corners = {"align_corners": False} if self.mode == "bilinear" else {}
            x = nn.functional.interpolate(x, size=(self.side, self.side), mode=self.mode, **corners)
        return self.backbone(x)


class ResNet18(BaseClassifier):
    name = "resnet18"
    role = "transfer"
    last_block = "backbone.layer4"  # the assignment's list(model.children())[:-2]: 512x8x8 at 256x256
    defaults = {"epochs": 5, "batch_size": 32, "lr": 5e-4, "optimizer": "adam", "channels_last": True}
    specs = {"weights": Key("model", "start: torchvision's ImageNet weights, random (none), or a "
                            "state-dict file", "imagenet", flag="--weights"),
             "train_frozen_bn": Key("model", "let the frozen layers' BatchNorm statistics update", False),
             "upsample_mode": Key("model", "how inputs are upsampled: nearest (Code Listing 1) or bilinear",
                                  "nearest", choices=("nearest", "bilinear")),
             # Task 3's two costs on a CPU: the pixels every layer sees, and how deep the backward goes.
             "upsample": Key("model", "side inputs under 224 are upsampled to (256: the assignment; 224: "
                             "ImageNet's; smaller is faster and further from what the weights saw)", UPSAMPLED,
                             low=32, high=512),
             "trainable": Key("model", "what trains, from the top: fc only, layer4 and fc (the assignment), "
                              "layer3 and up, or all", "layer4", choices=tuple(DEPTHS))}
    # Checkpoints written before upsample_mode was a key were trained with bilinear upsampling.
    checkpoint_defaults = {"upsample_mode": "bilinear"}

    def build_network(self) -> nn.Module:
        hp = self.hparams
        net = UpsampledResNet18(hp.weights, hp.num_classes, hp.image_size, hp.mean, hp.std, hp.upsample_mode,
                                hp.upsample)
        for name, p in net.backbone.named_parameters():
            p.requires_grad = name.startswith(DEPTHS[hp.trainable])
        return net

    def initialised(self) -> nn.Module:
        """`init` re-draws the new head only, unless the backbone is random too (--weights none)."""
        return self.net if self.hparams.weights == "none" else self.net.backbone.fc

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not self.hparams.train_frozen_bn:
            for name, m in self.net.backbone.named_modules():
                if isinstance(m, nn.BatchNorm2d) and not name.startswith(DEPTHS[self.hparams.trainable]):
                    m.eval()
        return self
