"""The model registry: `--model NAME` -> LightningModule class. Tests loop over it."""
from __future__ import annotations

from errors import UserError
from lit_modules.base import BaseClassifier
from lit_modules.lenet import LeNet
from lit_modules.resnet18 import ResNet18
from lit_modules.resnet9 import ResNet9
from lit_modules.vgg_bn import VGGBN

MODELS: dict[str, type[BaseClassifier]] = {
    "lenet": LeNet,
    "vgg_bn": VGGBN,
    "resnet9": ResNet9,
    "resnet18": ResNet18,
}


def get_model_class(name: str) -> type[BaseClassifier]:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
