"""What a stopped run (Ctrl-C, a failure, bad input) leaves behind, and what the user can do next:
the command that continues it, or, when nothing was trained, no half-made run folder."""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from core import run_folder
from core.devices import first_process


def after_stop(model: str | None, run_dir: Path | None, new_run: bool) -> str:
    """What the user can do after a stop of a run of `model` in `run_dir` (None: it had no folder
    yet; `new_run`: the folder was made for it): continue it, or start again."""
    if run_dir is not None and run_folder.last_checkpoint(run_dir).exists():
        return (f"logs and the last finished epoch's checkpoint are kept. Continue this run with: "
                f"python train.py --model {model} --resume {shlex.quote(str(run_dir))}")
    saved = run_folder.saved_checkpoints(run_dir)
    if saved:  # a best checkpoint was written, last.ckpt not (a full disk, say)
        return (f"logs and {saved[-1].name} are kept, {run_folder.LAST} was not saved. Continue from it with: "
                f"python train.py --model {model} --resume {shlex.quote(str(saved[-1]))}")
    if run_dir is not None and new_run and not run_folder.has_epochs(run_dir) and first_process():
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: no half-made run folder stays
        _remove_if_empty(run_dir.parent)
    return "no epoch's checkpoint was saved, so there is nothing to resume; run the same command again"


def sentence(text: str) -> str:
    """after_stop's text as a sentence of its own, after another one: its first letter capitalised."""
    return text[:1].upper() + text[1:]


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds when empty: the <logdir>/<model>/ this run created
    except OSError:
        pass
