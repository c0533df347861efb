"""What a run's record says about it besides its numbers: the command, seed, device, data, recipe
and what it changed, parameter counts, package versions and the code's git commit, so that a
run can be repeated. Written once, at the start, into metrics.json and hparams.yaml.
"""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the repository, for its git commit


def environment() -> dict[str, Any]:
    """Package versions and the code's git commit ("dirty" when there are uncommitted changes)."""
    import pytorch_lightning
    import torch
    import torchmetrics
    import torchvision

    # str(): torch's version is a str subclass that yaml.safe_load cannot read back from hparams.yaml
    env: dict[str, Any] = {"python": platform.python_version(), "torch": str(torch.__version__),
                           "torchvision": str(torchvision.__version__),
                           "pytorch_lightning": str(pytorch_lightning.__version__),
                           "torchmetrics": str(torchmetrics.__version__), "git_commit": None}
    try:
        git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10)
        head = git("rev-parse", "HEAD")
        if head.returncode == 0:
            dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
            env["git_commit"] = head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def device_name(accelerator: str, devices: int) -> str:
    import torch

    if accelerator == "cpu":
        name = platform.processor() or platform.machine()
        try:
            lines = Path("/proc/cpuinfo").read_text().splitlines()
            name = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
        except (OSError, StopIteration):
            pass
        return f"cpu ({name}, {torch.get_num_threads()} threads)"
    if accelerator == "mps":
        return "1x Apple silicon GPU (MPS)"
    return f"{devices}x {torch.cuda.get_device_name(0)}"


def run_info(plan, dm, model) -> dict[str, Any]:
    """The record's description of a planned run: `recipe` by owner, and `changes`, what it sets
    differently from the model's defaults."""
    defaults = model.all_defaults()
    changes = {k: v for group in plan.groups.values() for k, v in group.items() if v != defaults[k]}
    return {"model": plan.model, "command": plan.command, "seed": plan.seed,
            "device": device_name(plan.devices["accelerator"], plan.devices["devices"]), "precision": plan.precision,
            "data": {"source": dm.source, "dir": str(plan.data_dir), **dm.sizes, **dm.description},
            "params": model.param_counts(), "recipe": plan.groups, "changes": changes,
            "hparams": {k: v for g in plan.groups.values() for k, v in g.items()},
            "environment": environment()}
