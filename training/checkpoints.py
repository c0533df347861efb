"""Checkpoint files, in one place: written atomically and read weights-only (`atomic_io()`, the
Trainer's CheckpointIO plugin), read with a clear error, and turned back into their model from the
registry name stored in their hyperparameters. When they are written and under which names is
callbacks/epoch_checkpoints.py's business, where they lie in a run folder core/run_folder.py's.
Torch-free at import (visualize.py table imports this)."""
from __future__ import annotations

import errno
import functools
import os
import shutil
from pathlib import Path
from typing import Any

from core import run_folder
from core.errors import UserError


def load_safely(path, map_location=None) -> Any:
    """torch.load with weights_only=True: tensors and plain values only, so a file from someone else
    cannot run code while it loads (a pickle can name any function to call). train.py's checkpoints
    hold nothing else, Lightning's own entries included. Anything more is a UserError."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e).lower()
        if "global" not in text and "unsupported class" not in text:
            raise  # not a refused object: a damaged file, said as such by the caller
        raise UserError(f"{path} holds objects other than tensors and plain values, which could run code "
                        f"when loaded, so it is not read; pass a checkpoint written by train.py") from None


def read(path: Path) -> dict[str, Any]:
    """A checkpoint file as a dict; a missing or unreadable file is a UserError."""
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass a run directory or a .ckpt file")
    try:
        ckpt = load_safely(path, map_location="cpu")
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read checkpoint {path} ({type(e).__name__}); pass another one")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("hyper_parameters"), dict):
        raise UserError(f"{path} is not a checkpoint written by train.py; pass another one")
    return ckpt


def model_name(ckpt: dict[str, Any]) -> str | None:
    """The registry name of the checkpoint's model, or None if it is not a registered model."""
    from lit_modules import registry_name

    return registry_name(ckpt["hyper_parameters"].get("model"))


def finished_epochs(ckpt: dict[str, Any]) -> int:
    """Lightning stores the 0-based index of the epoch the checkpoint was written in."""
    return int(ckpt["epoch"]) + 1


def check_model(ckpt: dict[str, Any], path: Path, name: str) -> None:
    """The checkpoint (read) holds model `name`; else a UserError saying which it holds."""
    saved = model_name(ckpt)
    if saved != name:
        raise UserError(f"checkpoint {path} holds a {saved or ckpt['hyper_parameters'].get('model')} model, "
                        f"not {name}; match --model to it")


def load_model(target: str | Path):
    """RUN_DIR (its best checkpoint) or a .ckpt -> (model in eval mode, the checkpoint dict, its path),
    the checkpoint read once."""
    from lit_modules import MODELS

    path = Path(target)
    path = run_folder.best_checkpoint(path) if path.is_dir() else path
    ckpt = read(path)
    name = model_name(ckpt)
    if name is None:
        raise UserError(f"{path} is not a checkpoint of a registered model ({', '.join(MODELS)})")
    cls = MODELS[name]
    offline = {"weights": "none"} if "weights" in cls.all_defaults() else {}  # its weights are in the checkpoint
    model = cls(**{**cls.checkpoint_defaults, **ckpt["hyper_parameters"], **offline})
    check_fits(model, ckpt, path)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt, path


def check_fits(model, ckpt: dict[str, Any], path: Path) -> None:
    """The checkpoint's tensors are the model's, name for name and shape for shape; else a UserError
    naming the first that is not (a checkpoint of another version of the network, or edited)."""
    have, want = ckpt.get("state_dict"), model.state_dict()
    if not isinstance(have, dict):
        raise UserError(f"{path} holds no model weights (state_dict); pass a checkpoint written by train.py")
    for key in want:
        if key not in have:
            problem = f"has no {key}"
        elif getattr(have[key], "shape", None) != want[key].shape:
            problem = f"has {key} of shape {tuple(getattr(have[key], 'shape', ()))}, the model needs {tuple(want[key].shape)}"
        else:
            continue
        raise UserError(f"{path} does not fit the {model.name} model: it {problem}; pass a checkpoint of this model")
    extra = [k for k in have if k not in want]
    if extra:
        raise UserError(f"{path} does not fit the {model.name} model: it has {extra[0]}, which the model does not; "
                        f"pass a checkpoint of this model")


@functools.cache
def _atomic_io_class():
    """Defined on first use, so that importing this module imports neither torch nor Lightning."""
    import torch
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Checkpoints written to a temporary file and renamed, so a full disk or a kill mid-write
        never leaves a corrupt `last.ckpt` for `--resume` to trip over: the previous one stays as it
        was. And read with weights_only=True whatever Lightning asks for (`--resume`, the final test of
        the best checkpoint), so a checkpoint from someone else cannot run code while it loads.

        torch.save reports a failed write (a full disk among them) as a RuntimeError from its zip
        writer; it is raised here as the OSError it is, which train.py turns into a one-line message."""

        def load_checkpoint(self, path, map_location: Any = lambda storage, loc: storage, **kwargs) -> dict[str, Any]:
            if not Path(path).is_file():
                raise FileNotFoundError(errno.ENOENT, "checkpoint not found", str(path))
            return load_safely(path, map_location=map_location)

        def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            try:
                with open(tmp, "wb") as f:
                    torch.save(checkpoint, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except RuntimeError as e:
                tmp.unlink(missing_ok=True)
                full = shutil.disk_usage(path.parent).free < 64 * 2**20
                reason = "No space left on device" if full else f"write failed ({str(e).splitlines()[0][:80]})"
                raise OSError(errno.ENOSPC if full else errno.EIO, reason, str(path)) from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    return AtomicCheckpointIO


def atomic_io():
    """The Trainer's CheckpointIO plugin: atomic writes, weights-only reads."""
    return _atomic_io_class()()
