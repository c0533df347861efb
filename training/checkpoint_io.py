"""Checkpoints written to a temporary file and renamed, so a full disk or a kill mid-write never
leaves a corrupt `last.ckpt` for `--resume` to trip over: the previous one stays as it was. And read
with weights_only=True whatever Lightning asks for (`--resume`, the final test of the best
checkpoint), so a checkpoint from someone else cannot run code while it loads.

torch.save reports a failed write (a full disk among them) as a RuntimeError from its zip writer;
it is raised here as the OSError it is, which train.py turns into a one-line message."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from training.checkpoints import load_safely


class AtomicCheckpointIO(TorchCheckpointIO):
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
