"""metrics.json's schema, in one place, and the atomic write every record uses.

base.py logs "<stage>/<metric>" per epoch, metrics.json stores it as "<stage>_<metric>" in each
epoch row; the final re-scoring of the best checkpoint is logged as "best_<stage>/<metric>" and
stored in `final` under the plain row keys. Torch-free: the report reads records without torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

STAGES = ("train", "val", "test")
METRICS = ("loss", "acc")
EPOCH_TAGS = tuple(f"{s}/{m}" for s in STAGES for m in METRICS)
FINAL_PREFIX = "best_"
TIMINGS = ("seconds", "epoch_seconds", "train_seconds")  # per epoch row; not results of a checkpoint


def row_key(tag: str) -> str:
    """A logged tag -> its metrics.json key: "val/acc" and "best_val/acc" -> "val_acc"."""
    return tag.removeprefix(FINAL_PREFIX).replace("/", "_")


def write_json(path: Path, data: dict) -> None:
    """Write to a temporary file and rename, so readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
