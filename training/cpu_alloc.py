"""Keep freed CPU memory inside the process: a 10-15% faster CPU training step on Linux (glibc).

Why: glibc returns every allocation over 32 MB to the kernel when it is freed (one batch-512
activation of resnet9 is 134 MB), so the next step page-faults all of it in again: about 0.45 GB
of page faults and 10% system time per resnet9 step on 2 cores. PyTorch has no caching allocator
on the CPU, so we ask glibc to keep the memory: one arena (a thread's own arena is capped at 64 MB
and falls back to mmap), no mmap, no trimming below 2 GB.
Measured on the 2-core AMD EPYC, resnet9 at batch 512: 3.4-3.5 s -> 3.0 s per step, page faults
105k -> 4k per step. Cost: the process keeps its peak heap until it exits.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # from glibc's malloc.h


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; True if it took. Call it before the threads that allocate start."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))
    return all(mallopt(option, value) == 1 for option, value in settings)
