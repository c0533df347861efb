"""The optimizer and learning-rate schedule every model trains with (BaseClassifier.configure_optimizers),
also used as-is by benchmarks/step_overhead.py's hand-written loop."""
from __future__ import annotations

from typing import Any, Callable

import torch

from core.recipe import BASE_SPECS

OPTIMIZERS = BASE_SPECS["optimizer"].choices


def warmup_linear(total_steps: int, warmup: float, start: float, end: float) -> Callable[[int], float]:
    """LR multiplier per step: linear from `start` to 1 over the first `warmup` fraction, then to `end`."""
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return start + (1 - start) * step / warm
        return 1 + (end - 1) * min(1.0, (step - warm) / max(1, total_steps - warm))
    return factor


def make_optimizer(groups: list[dict[str, Any]], hp: Any, device: torch.device) -> torch.optim.Optimizer:
    """Adam or SGD over `groups` with the model's settings (`hp`: lr, weight_decay, momentum, nesterov).

    On a GPU the fused step is 2 kernel launches for the whole model. On the CPU, foreach: a handful
    of ops for the whole model instead of about 4 per tensor, each a trip through the dispatcher
    (about 75 of resnet9's 200 ops a step). Fused CPU kernels round differently (1 ulp); foreach is
    identical to the per-tensor loop to the last bit (checked for SGD+Nesterov and Adam), so CPU runs
    give the same numbers as before."""
    impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if hp.optimizer == "adam":
        return torch.optim.Adam(groups, lr=hp.lr, weight_decay=hp.weight_decay, **impl)
    if hp.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay,
                               nesterov=hp.nesterov, **impl)
    raise ValueError(f"unknown optimizer {hp.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_schedule(opt: torch.optim.Optimizer, hp: Any, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step schedule `hp.schedule` (warmup_linear, the only one) over `total_steps` steps."""
    factor = warmup_linear(total_steps, hp.warmup, hp.start_lr_frac, hp.end_lr_frac)
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
