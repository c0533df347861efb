"""Our --gpus N (the assignment's flag) and --precision, translated to Lightning 2.x's accelerator,
devices, strategy and precision."""
from __future__ import annotations

import os
from typing import Any

from core.errors import UserError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def resolve_devices(gpus: int | None, cpu_processes: int = 1, num_nodes: int = 1) -> dict[str, Any]:
    """Our --gpus N (the assignment's flag) -> Lightning 2.x accelerator/devices/strategy."""
    import torch

    available = torch.cuda.device_count()
    if gpus is None:
        gpus = 1 if available else 0
    if gpus < 0:
        raise UserError(f"--gpus {gpus} is negative; use 0 for the CPU or the number of GPUs")
    if gpus > available:
        raise UserError(f"--gpus {gpus} asks for {gpus} GPU(s) but this machine has {available}; "
                        f"use --gpus {available}" + (" to train on the CPU" if not available else ""))
    if gpus == 0:
        n = cpu_processes
        return {"accelerator": "cpu", "devices": n, "strategy": "ddp" if n > 1 or num_nodes > 1 else "auto",
                "num_nodes": num_nodes}
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 or num_nodes > 1 else "auto",
            "num_nodes": num_nodes}


def resolve_precision(given: str | None, on_gpu: bool) -> str:
    precision = given or ("bf16-mixed" if on_gpu else "32")
    if precision == "16-mixed" and not on_gpu:
        raise UserError("--precision 16-mixed needs a GPU; on the CPU use --precision 32 or bf16-mixed")
    return precision


def reading_waits(t) -> bool:
    """Whether reading tensor `t` on the host (.item(), float(t)) makes the host wait for the device:
    on a GPU it does (and drains the queue of launched work), on the CPU it is free. The training
    step's optional reads (the NaN check, the progress bar's loss) ask this, and the tests set it to
    True to check the GPU configuration's step on the CPU."""
    return t.device.type != "cpu"


def first_process() -> bool:
    """Whether this is the run's global rank 0, from what every launcher sets before Python starts:
    torchrun (RANK), SLURM (SLURM_PROCID), Lightning's own launcher for the processes it starts
    (LOCAL_RANK) and for the other machines (NODE_RANK). Only the first process claims and writes
    the run folder; the others learn where it is or write nothing."""
    return all(int(os.environ.get(k, 0) or 0) == 0 for k in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))
