"""The optimizer and learning-rate schedule every model trains with (BaseClassifier.configure_optimizers),
also used as-is by benchmarks/step_overhead.py's hand-written loop."""
from __future__ import annotations

from typing import Any, Callable

import torch

from core.recipe import BASE_SPECS

OPTIMIZERS = BASE_SPECS["optimizer"].choices
SCHEDULES = BASE_SPECS["schedule"].choices


def warmup_linear(total_steps: int, warmup: float, start: float, end: float) -> Callable[[int], float]:
    """LR multiplier per step: linear from `start` to 1 over the first `warmup` fraction, then to `end`."""
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return start + (1 - start) * step / warm
        return 1 + (end - 1) * min(1.0, (step - warm) / max(1, total_steps - warm))
    return factor


def make_optimizer(groups: list[dict[str, Any]], hp: Any, device: torch.device) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD over `groups` with the model's settings (`hp`: lr, weight_decay, momentum,
    nesterov).

    On a GPU the fused step is 2 kernel launches for the whole model. On the CPU, foreach: a handful
    of ops for the whole model instead of about 4 per tensor, each a trip through the dispatcher
    (about 75 of resnet9's 200 ops a step). Fused CPU kernels round differently (1 ulp); foreach is
    identical to the per-tensor loop to the last bit (checked for SGD+Nesterov and Adam), so CPU runs
    give the same numbers as before."""
    impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if hp.optimizer in ("adam", "adamw"):
        kind = torch.optim.Adam if hp.optimizer == "adam" else torch.optim.AdamW
        return kind(groups, lr=hp.lr, weight_decay=hp.weight_decay, **impl)
    if hp.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay,
                               nesterov=hp.nesterov, **impl)
    raise ValueError(f"unknown optimizer {hp.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_schedule(opt: torch.optim.Optimizer, hp: Any, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step schedule `hp.schedule` over `total_steps` steps, stepped once per optimizer step.

    Each starts at `start_lr_frac` x lr, reaches lr after the `warmup` fraction of the steps and ends
    at `end_lr_frac` x lr. warmup_linear: linear both ways (airbench's). onecycle: PyTorch's
    OneCycleLR (Smith's one-cycle, cosine both ways), without its momentum cycling, so that the
    schedule is the only thing this key changes (the optimizer's momentum stays `momentum`).
    cosine: a linear warmup, then cosine decay (PyTorch's LinearLR then CosineAnnealingLR). All keep
    their state in state_dict(), which Lightning's checkpoints carry: a resumed run continues the
    same curve (tests/test_schedules.py)."""
    warm = max(1, int(total_steps * hp.warmup))
    if hp.schedule == "warmup_linear":
        factor = warmup_linear(total_steps, hp.warmup, hp.start_lr_frac, hp.end_lr_frac)
        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    start, end = max(hp.start_lr_frac, 1e-8), hp.end_lr_frac  # LinearLR and OneCycleLR divide by the start
    if hp.schedule == "onecycle":
        # OneCycleLR's lr: max_lr / div_factor at the start, initial / final_div_factor at the end.
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps + 1,
            pct_start=(warm + 1) / (total_steps + 1),  # its peak at step pct_start * total_steps - 1 = warm
            anneal_strategy="cos", cycle_momentum=False,
            div_factor=1 / start, final_div_factor=start / max(end, 1e-8), three_phase=False)
    if hp.schedule == "cosine":
        warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warm)
        # eta_min is one number: end x lr (a param group with its own lr decays to that same floor).
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps - warm), eta_min=end * hp.lr)
        return torch.optim.lr_scheduler.SequentialLR(opt, [warmup, decay], milestones=[warm])
    raise ValueError(f"unknown schedule {hp.schedule!r}; choose one of {', '.join(SCHEDULES)} or none")

