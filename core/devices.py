"""Our --gpus N (the assignment's flag) and --precision, translated to Lightning 2.x's accelerator,
devices, strategy and precision."""
from __future__ import annotations

import os
from typing import Any

from core.errors import UserError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_devices(gpus: int | None, cpu_processes: int = 1, num_nodes: int = 1) -> dict[str, Any]:
    """Our --gpus N (the assignment's flag) -> Lightning 2.x accelerator/devices/strategy: CUDA GPUs
    ("gpu"), else Apple silicon's GPU ("mps", one device), else the CPU."""
    import torch

    available = torch.cuda.device_count()
    mps = not available and _mps_available()
    if gpus is None:
        gpus = 1 if available or mps else 0
    if gpus < 0:
        raise UserError(f"--gpus {gpus} is negative; use 0 for the CPU or the number of GPUs")
    if mps and gpus > 1:
        raise UserError(f"--gpus {gpus}: Apple silicon has one GPU (MPS); use --gpus 1, or --gpus 0 for the CPU")
    if gpus > max(available, int(mps)):
        raise UserError(f"--gpus {gpus} asks for {gpus} GPU(s) but this machine has {available}; "
                        f"use --gpus {available}" + (" to train on the CPU" if not available else ""))
    if gpus == 0:
        n = cpu_processes
        return {"accelerator": "cpu", "devices": n, "strategy": "ddp" if n > 1 or num_nodes > 1 else "auto",
                "num_nodes": num_nodes}
    if mps:
        return {"accelerator": "mps", "devices": 1, "strategy": "auto", "num_nodes": 1}
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 or num_nodes > 1 else "auto",
            "num_nodes": num_nodes}


def is_cuda(devices: dict[str, Any]) -> bool:
    """CUDA alone has cuDNN's benchmark, TF32 matmuls and a compute capability."""
    return devices["accelerator"] == "gpu"


def on_accelerator(devices: dict[str, Any]) -> bool:
    """Any GPU (CUDA or MPS): the data set lives on it as uint8 and is augmented there."""
    return devices["accelerator"] in ("gpu", "mps")


def resolve_precision(given: str | None, devices: dict[str, Any]) -> tuple[str, str]:
    """(precision, why): what the card does natively unless --precision says otherwise. bf16-mixed
    from CUDA compute capability 8.0 (A100, RTX 30xx and later), 16-mixed on 7.x (V100, T4, RTX 20xx),
    32 below that, on MPS and on the CPU. An explicit bf16-mixed on a card without native bf16
    runs (emulated, slowly): `why` says so, to be printed as a warning."""
    accelerator = devices["accelerator"]
    if given == "16-mixed" and accelerator != "gpu":
        raise UserError(f"--precision 16-mixed needs a CUDA GPU; on {'MPS' if accelerator == 'mps' else 'the CPU'} "
                        f"use --precision 32" + (" or bf16-mixed" if accelerator == "cpu" else ""))
    if accelerator != "gpu":
        return given or "32", "" if given else f"the default on {'MPS' if accelerator == 'mps' else 'the CPU'}"
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    card = f"{torch.cuda.get_device_name(0)}, compute capability {major}.{minor}"
    native = "bf16-mixed" if major >= 8 else "16-mixed" if major == 7 else "32"
    if given is None:
        return native, f"the default for {card}"
    if given == "bf16-mixed" and major < 8:
        return given, (f"warning: {card} has no native bf16: bf16-mixed is emulated and slow; "
                       f"use --precision {native}")
    return given, ""


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
