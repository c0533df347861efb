"""Run directories (lightning_logs/<model>/version_N): claiming one, finding them again, reading
their metrics.json, and what each records about the environment so that a run can be repeated.

Torch-free at import, so reading run records stays fast (visualize.py table).
"""
from __future__ import annotations

import json
import platform
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any, Sequence

from core.errors import UserError
from training import checkpoints

ROOT = Path(__file__).resolve().parents[1]  # the repository, for its git commit


def versions(logdir: str | Path, model: str) -> list[Path]:
    """The model's run directories, oldest first (by version number)."""
    base = Path(logdir) / model
    runs = [p for p in base.glob("version_*") if p.is_dir() and re.fullmatch(r"version_\d+", p.name)]
    return sorted(runs, key=lambda p: int(p.name.split("_")[1]))


def claim_version(logdir: Path, model: str) -> str:
    """Create the next free `version_N` folder and return its name. os.mkdir either creates the
    folder or fails, so runs started at the same time into one logdir each get their own
    (TensorBoardLogger picks the number first and creates the folder later, so two runs could share it)."""
    base = logdir / model
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the run folder in {base} ({e.strerror or e}); pass a writable --logdir")
    existing = versions(logdir, model)
    n = int(existing[-1].name.split("_")[1]) + 1 if existing else 0
    while True:
        try:
            (base / f"version_{n}").mkdir()
            return f"version_{n}"
        except FileExistsError:
            n += 1
        except OSError as e:
            raise UserError(f"cannot create a run folder in {base} ({e.strerror or e}); pass a writable --logdir")


LOCK = ".lock"  # held (flock) by the process writing the run; the kernel drops it when that process dies


def hold(run_dir: Path):
    """Mark the run as being written, for as long as this process lives or until the returned file
    is closed; a run another live process holds is a UserError. None where flock does not exist."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no marking
        return None
    f = open(run_dir / LOCK, "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise UserError(f"{run_dir} is being written by another train.py; wait for it to end, or start a new run") from None
    return f


def busy(run_dir: Path) -> bool:
    """Whether a live process is writing the run (holds its lock)."""
    try:
        import fcntl
    except ImportError:
        return False
    if not (run_dir / LOCK).exists():
        return False
    with open(run_dir / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def find_resume(logdir: str | Path, model: str, spec: str) -> tuple[Path, Path | None]:
    """`--resume last|RUN_DIR|CKPT` -> (checkpoint, its run directory). A checkpoint that does not
    sit in a run directory's checkpoints/ folder has none (None): it continues in a new one."""
    if spec == "last":
        runs = [r for r in versions(logdir, model) if (r / "checkpoints" / "last.ckpt").exists() and not busy(r)]
        if not runs:
            raise UserError(f"--resume last: no run of {model} in {Path(logdir) / model} has "
                            f"checkpoints/last.ckpt (runs still being written do not count); train without "
                            f"--resume, or pass a checkpoint path")
        return runs[-1] / "checkpoints" / "last.ckpt", runs[-1]
    path = Path(spec)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"--resume {spec}: {path} does not exist; pass 'last', a run directory or a .ckpt file")
    run_dir = path.parent.parent
    in_run = path.parent.name == "checkpoints" and re.fullmatch(r"version_\d+", run_dir.name)
    return path, run_dir if in_run else None


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    return read_metrics_file(path)


def read_metrics_file(path: Path) -> dict[str, Any]:
    """A metrics.json written by train.py; anything else is a UserError saying what is wrong."""
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); the run may have been killed while writing it")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path} ({e})")
    epochs = m.get("epochs") if isinstance(m, dict) else None
    if not (isinstance(m, dict) and isinstance(m.get("command"), str) and isinstance(epochs, list)
            and all(isinstance(e, dict) and isinstance(e.get("epoch"), int) for e in epochs)):
        raise UserError(f"{path} is not a metrics.json written by train.py (no command or epoch rows)")
    return m


_warned: set[Path] = set()


def _usable_metrics(run_dir: Path | None) -> dict[str, Any] | None:
    """The run's metrics.json for a resume, or None (with a warning, once) when it is missing or broken."""
    if run_dir is None:
        return None
    try:
        return read_metrics(run_dir)
    except UserError as e:
        if run_dir not in _warned:
            _warned.add(run_dir)
            print(f"warning: {e}; resuming with the settings stored in the checkpoint")
        return None


def original_argv(ckpt_path: Path, run_dir: Path | None, name: str) -> list[str]:
    """The resumed run's train.py arguments: from its metrics.json, else from the checkpoint (its
    command, or in older checkpoints the model's and data module's hyperparameters)."""
    m = _usable_metrics(run_dir)
    if m is not None:
        argv = shlex.split(m["command"])[2:]
        recorded = (m.get("data") or {}).get("dir")  # absolute: a resume from another folder finds the data
        return argv + (["--data-dir", recorded] if isinstance(recorded, str) and recorded else [])
    ckpt = checkpoints.read_model(ckpt_path, name)  # a checkpoint of this model, or a clear error
    if isinstance(ckpt.get("command"), str):  # written by MetricsJSON since the recipe is recorded
        return shlex.split(ckpt["command"])[2:]
    hp = {**ckpt.get("datamodule_hyper_parameters", {}), **ckpt["hyper_parameters"]}  # older checkpoints
    argv = ["--model", name]
    for flag, value in (("--epochs", hp.get("epochs")), ("--batch-size", hp.get("batch_size")),
                        ("--lr", hp.get("lr")), ("--optimizer", hp.get("optimizer")),
                        ("--val-size", hp.get("val_size")), ("--weights", hp.get("weights")),
                        ("--seed", hp.get("seed")), ("--data-dir", hp.get("data_dir"))):
        if value is not None:
            argv += [flag, str(value)]
    return argv + ([] if hp.get("augment", True) else ["--no-augment"])


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


def resumed_record(resume: tuple[Path, Path | None], ckpt: dict[str, Any], argv: Sequence[str]) -> tuple[dict[str, Any], int]:
    """The resumed run's metrics.json, cut back to the epochs its checkpoint (`ckpt`, read) holds, and their number."""
    ckpt_path, run_dir = resume
    done = checkpoints.finished_epochs(ckpt)
    record = _usable_metrics(run_dir) or {"command": "python train.py " + shlex.join(argv), "epochs": []}
    later = [e["epoch"] for e in record["epochs"] if e["epoch"] > done]
    if later:
        print(f"note: {ckpt_path.name} holds {done} epochs, the run recorded {done + len(later)}: epochs "
              f"{later[0]}-{later[-1]} are dropped from metrics.json, and last.ckpt will be overwritten")
    record["epochs"] = [e for e in record["epochs"] if e["epoch"] <= done]
    where = run_dir if run_dir is not None else "a new run folder"
    print(f"resuming {ckpt_path} after epoch {done}, in {where}")
    return record, done


def run_info(args, argv, devices, precision: str, dm, model, recipe: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What metrics.json (and hparams.yaml) record about the run, besides its numbers: `recipe` by
    owner, and `changes`, what it sets differently from the model's defaults."""
    defaults = model.all_defaults()
    changes = {k: v for group in recipe.values() for k, v in group.items() if v != defaults[k]}
    return {"model": args.model, "command": "python train.py " + shlex.join(argv), "seed": args.seed,
            "device": device_name(devices["accelerator"], devices["devices"]), "precision": precision,
            "data": {"source": dm.source, "dir": str(Path(args.data_dir).resolve()), **dm.sizes, **dm.description},
            "params": model.param_counts(), "recipe": recipe, "changes": changes,
            "hparams": {k: v for g in recipe.values() for k, v in g.items()},
            "environment": environment()}
