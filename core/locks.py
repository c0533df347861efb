"""A lock that dies with its process: a flock on a file, which the kernel drops when the process
ends, kill -9 included, so nothing is ever left to clean up. The run folder's "being written" mark,
an ablation's (row, seed) claim and the study database's one-command-at-a-time all use it.
Where flock does not exist (Windows) every lock is granted: nothing is guarded there."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def held(path: str | Path, wait: bool = False) -> Iterator[bool]:
    """Whether this process holds the lock on `path` (created if missing) while the block runs;
    False at once where another process holds it, or with `wait` only once it is free (then True)."""
    try:
        import fcntl
    except ImportError:
        yield True
        return
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            mine = True
        except BlockingIOError:
            mine = False
        yield mine  # outside the except: an error the block raises is not chained to BlockingIOError
