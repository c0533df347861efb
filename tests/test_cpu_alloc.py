import sys

import pytest
import torch

from training import cpu_alloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_keep_freed_memory_takes_on_glibc_and_torch_still_allocates():
    assert cpu_alloc.keep_freed_memory() is True
    big = torch.ones(64, 1024, 1024)  # 256 MB: above glibc's default mmap threshold
    assert big.sum().item() == 64 * 1024 * 1024
