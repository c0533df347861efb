"""The model registry: `--model NAME` -> LightningModule class. Tests loop over it.

Adding a model: one file in lit_modules/ whose class sets `name` and builds its network, and one
entry in the tuple below.
"""
from __future__ import annotations

from core.errors import UserError
from lit_modules.base import BaseClassifier
from lit_modules.lenet import LeNet
from lit_modules.resnet9 import ResNet9
from lit_modules.resnet18 import ResNet18
from lit_modules.vgg_bn import VGGBN

MODELS: dict[str, type[BaseClassifier]] = {cls.name: cls for cls in (LeNet, VGGBN, ResNet9, ResNet18)}


def get_model_class(name: str) -> type[BaseClassifier]:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def registry_name(saved: str | None) -> str | None:
    """The registry name a checkpoint's hyperparameters record; checkpoints written before the
    registry name was stored hold the class name instead (e.g. "LeNet")."""
    by_class = {cls.__name__: name for name, cls in MODELS.items()}
    return saved if saved in MODELS else by_class.get(saved)
