"""A run folder, `lightning_logs/<model>/version_N/`: its layout, its record (metrics.json), claiming
a new one, marking one as being written, finding one to resume. The only module that spells these
names; everything else asks it. Torch-free, so reading records stays fast (visualize.py table).

    version_N/metrics.json           the record: command, recipe, data, per-epoch rows, `final`
    version_N/checkpoints/           best-epochNN-val_accX.ckpt (by val acc) and last.ckpt
    version_N/test_confusion.json    the final test's confusion matrix (counts), for the report
    version_N/.lock                  held (flock) by the process writing the run

The record's names: base.py logs "<stage>/<metric>" per epoch, stored as "<stage>_<metric>" in each
epoch row; the final re-scoring of the best checkpoint is logged as "best_<stage>/<metric>" and
stored in `final` under the plain row keys. Accuracies are fractions in [0, 1].
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from core.errors import UserError
from core.locks import held

STAGES = ("train", "val", "test")
METRICS = ("loss", "acc")
EPOCH_TAGS = tuple(f"{s}/{m}" for s in STAGES for m in METRICS)
FINAL_PREFIX = "best_"
TIMINGS = ("seconds", "epoch_seconds", "train_seconds")  # per epoch row; not results of a checkpoint

RECORD, CONFUSION, LOCK = "metrics.json", "test_confusion.json", ".lock"
PROBS = "test_probs.pt"  # the final test's softmax per test image: {"tta", "checkpoint", "probs"}
CHECKPOINTS, LAST = "checkpoints", "last.ckpt"
BEST_NAME = "best-epoch{epoch:02d}-val_acc{val/acc:.4f}"  # ModelCheckpoint's filename template
_BEST_EPOCH = re.compile(r"best-epoch(\d+)-")
_VERSION = re.compile(r"version_\d+")


def row_key(tag: str) -> str:
    """A logged tag -> its metrics.json key: "val/acc" and "best_val/acc" -> "val_acc"."""
    return tag.removeprefix(FINAL_PREFIX).replace("/", "_")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def last_checkpoint(run_dir: Path) -> Path:
    return checkpoint_dir(run_dir) / LAST


def best_checkpoint(run_dir: Path) -> Path:
    """A run's best checkpoint (by val acc), or its only one."""
    folder = checkpoint_dir(run_dir)
    found = sorted(folder.glob("best-*.ckpt")) or sorted(folder.glob("*.ckpt"))
    if not found:
        raise UserError(f"{run_dir} has no checkpoint in {folder}; the run ended before its first epoch")
    return found[-1]


def saved_checkpoints(run_dir: Path | None) -> list[Path]:
    return sorted(checkpoint_dir(run_dir).glob("*.ckpt")) if run_dir is not None else []


def best_epoch(path: str | Path) -> int | None:
    """The finished epochs of a best checkpoint, from its name (BEST_NAME); None for another name."""
    match = _BEST_EPOCH.match(Path(path).name)
    return int(match.group(1)) if match else None


def run_folder_of(ckpt: Path) -> Path | None:
    """The run folder a checkpoint sits in (.../version_N/checkpoints/x.ckpt), else None."""
    run_dir = ckpt.parent.parent
    return run_dir if ckpt.parent.name == CHECKPOINTS and _VERSION.fullmatch(run_dir.name) else None


def versions(logdir: str | Path, model: str) -> list[Path]:
    """The model's run folders, oldest first (by version number)."""
    runs = [p for p in (Path(logdir) / model).glob("version_*") if p.is_dir() and _VERSION.fullmatch(p.name)]
    return sorted(runs, key=lambda p: int(p.name.split("_")[1]))


def claim_version(logdir: Path, model: str) -> str:
    """Create the next free `version_N` folder and return its name. os.mkdir either creates the
    folder or fails, so runs started at the same time into one logdir each get their own
    (TensorBoardLogger picks the number first and creates the folder later, so two runs could share it)."""
    base = Path(logdir) / model
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


@contextlib.contextmanager
def writing(run_dir: Path | None) -> Iterator[None]:
    """Marks the run as being written while the block runs (core/locks.py: gone with the process):
    `--resume last` passes over it, and a second writer is a UserError. No-op for None."""
    if run_dir is None:
        yield
        return
    with held(Path(run_dir) / LOCK) as mine:
        if not mine:
            raise UserError(f"{run_dir} is being written by another train.py; wait for it to end, "
                            f"or start a new run")
        yield


def busy(run_dir: Path) -> bool:
    """Whether a live process is writing the run (holds its lock)."""
    if not (run_dir / LOCK).exists():
        return False
    with held(run_dir / LOCK) as mine:
        return not mine


def find_resume(logdir: str | Path, model: str, spec: str) -> tuple[Path, Path | None]:
    """`--resume last|RUN_DIR|CKPT` -> (checkpoint, its run folder). A checkpoint that does not
    sit in a run folder's checkpoints/ has none (None): it continues in a new one."""
    if spec == "last":
        runs = [r for r in versions(logdir, model) if last_checkpoint(r).exists() and not busy(r)]
        if not runs:
            raise UserError(f"--resume last: no run of {model} in {Path(logdir) / model} has "
                            f"{CHECKPOINTS}/{LAST} (runs still being written do not count); train without "
                            f"--resume, or pass a checkpoint path")
        return last_checkpoint(runs[-1]), runs[-1]
    path = Path(spec)
    if path.is_dir():
        path = last_checkpoint(path)
    if not path.is_file():
        raise UserError(f"--resume {spec}: {path} does not exist; pass 'last', a run directory or a .ckpt file")
    return path, run_folder_of(path)


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's metrics.json, None when it has none; a broken one is a UserError."""
    path = Path(run_dir) / RECORD
    return read_record_file(path) if path.exists() else None


def read_record_file(path: Path) -> dict[str, Any]:
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


def record_for_resume(run_dir: Path | None) -> dict[str, Any] | None:
    """The record of a run being resumed, or None (with a warning) when it is missing or broken:
    the resume then takes its settings from the checkpoint."""
    if run_dir is None:
        return None
    try:
        return read_record(run_dir)
    except UserError as e:
        print(f"warning: {e}; resuming with the settings stored in the checkpoint")
        return None


def has_epochs(run_dir: Path) -> bool:
    """Whether the run's record holds a finished epoch (then its folder is kept after a stop)."""
    try:
        return bool((read_record(run_dir) or {}).get("epochs"))
    except UserError:
        return False


def write_json(path: Path, data: dict) -> None:
    """Write to a temporary file and rename, so readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_record(run_dir: Path, data: dict) -> None:
    write_json(Path(run_dir) / RECORD, data)


def write_confusion(run_dir: Path, counts: list[list[int]], classes: list[str], tta: int) -> None:
    """The final test's confusion matrix (row: true class, column: predicted), as scored with `tta`."""
    write_json(Path(run_dir) / CONFUSION, {"classes": classes, "tta": tta, "counts": counts})


def read_confusion(run_dir: Path) -> dict[str, Any] | None:
    """The run's saved confusion matrix, or None (older runs, or a file that does not parse)."""
    try:
        saved = json.loads((Path(run_dir) / CONFUSION).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(saved, dict) and isinstance(saved.get("counts"), list) and isinstance(saved.get("classes"), list)
    return saved if ok else None
