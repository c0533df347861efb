"""matplotlib for files and TensorBoard only (no display needed), and how every figure file is saved."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere
import matplotlib.pyplot as plt  # noqa: E402


def file_name(text: str) -> str:
    """A file name from text that may come from a record (a model's name in a metrics.json): only
    letters, digits, '.', '_', '-', never starting with a dot, so it cannot lead outside --out."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).lstrip(".") or "_"


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
