"""Run directories (lightning_logs/<model>/version_N): finding them again, and what each records
about the environment so that a run can be repeated."""
from __future__ import annotations

import json
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from errors import UserError

ROOT = Path(__file__).resolve().parent


def versions(logdir: str | Path, model: str) -> list[Path]:
    """The model's run directories, oldest first (by version number)."""
    base = Path(logdir) / model
    runs = [p for p in base.glob("version_*") if p.is_dir() and re.fullmatch(r"version_\d+", p.name)]
    return sorted(runs, key=lambda p: int(p.name.split("_")[1]))


def find_resume(logdir: str | Path, model: str, spec: str) -> tuple[Path, Path]:
    """`--resume last|RUN_DIR|CKPT` -> (checkpoint, run directory)."""
    if spec == "last":
        runs = [r for r in versions(logdir, model) if (r / "checkpoints" / "last.ckpt").exists()]
        if not runs:
            raise UserError(f"--resume last: no run of {model} in {Path(logdir) / model} has "
                            f"checkpoints/last.ckpt; train without --resume, or pass a checkpoint path")
        return runs[-1] / "checkpoints" / "last.ckpt", runs[-1]
    path = Path(spec)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"--resume {spec}: {path} does not exist; pass 'last', a run directory or a .ckpt file")
    return path, path.parent.parent


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    return read_metrics_file(path)


def read_metrics_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); the run may have been killed while writing it")


def environment() -> dict[str, Any]:
    """Package versions and the code's git commit ("dirty" when there are uncommitted changes)."""
    import pytorch_lightning
    import torch
    import torchmetrics
    import torchvision

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "torchvision": torchvision.__version__, "pytorch_lightning": pytorch_lightning.__version__,
                           "torchmetrics": torchmetrics.__version__, "git_commit": None}
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
    return f"{devices}x {torch.cuda.get_device_name(0)}"
