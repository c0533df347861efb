"""What a stopped run (Ctrl-C, a failure, bad input) leaves behind, and what the user can do next:
the command that continues it, or, when nothing was trained, no half-made run folder."""
from __future__ import annotations

import json
import shlex
import shutil

from core.devices import first_process


def after_stop(args) -> str:
    """What the user can do after a stop: continue this run (named by its folder), or start again."""
    run_dir = getattr(args, "run_dir", None)
    if run_dir is not None and (run_dir / "checkpoints" / "last.ckpt").exists():
        return (f"logs and the last finished epoch's checkpoint are kept. Continue this run with: "
                f"python train.py --model {args.model} --resume {shlex.quote(str(run_dir))}")
    saved = sorted((run_dir / "checkpoints").glob("*.ckpt")) if run_dir is not None else []
    if saved:  # a best checkpoint was written, last.ckpt not (a full disk, say)
        return (f"logs and {saved[-1].name} are kept, last.ckpt was not saved. Continue from it with: "
                f"python train.py --model {args.model} --resume {shlex.quote(str(saved[-1]))}")
    if run_dir is not None and getattr(args, "new_run", False) and not _has_epochs(run_dir) and first_process():
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: no half-made run folder stays
        _remove_if_empty(run_dir.parent)
    return "no epoch's checkpoint was saved, so there is nothing to resume; run the same command again"


def _has_epochs(run_dir) -> bool:
    """Whether the run's metrics.json records a finished epoch (then its folder is kept)."""
    try:
        return bool(json.loads((run_dir / "metrics.json").read_text()).get("epochs"))
    except (OSError, ValueError, AttributeError):
        return False


def _remove_if_empty(folder) -> None:
    try:
        folder.rmdir()  # only succeeds when empty: the <logdir>/<model>/ this run created
    except OSError:
        pass
