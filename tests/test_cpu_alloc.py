import sys

import pytest
import torch

from training import cpu_alloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_keep_freed_memory_takes_on_glibc_and_torch_still_allocates():
    assert cpu_alloc.keep_freed_memory() is True
    big = torch.ones(64, 1024, 1024)  # 256 MB: above glibc's default mmap threshold
    assert big.sum().item() == 64 * 1024 * 1024


RSS_AFTER_FREE = """
import sys
sys.path.insert(0, sys.argv[1])
from training import cpu_alloc
if sys.argv[2] == "keep":
    assert cpu_alloc.keep_freed_memory()
import torch
page = __import__("os").sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page / 2**20
big = torch.ones(64, 1024, 1024)  # 256 MB
del big
print(round(rss()))
"""


@pytest.mark.slow  # two fresh processes that import torch: a few seconds
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_freed_memory_stays_in_the_process_only_when_kept():
    import subprocess

    from conftest import ROOT

    rss = {how: int(subprocess.run([sys.executable, "-c", RSS_AFTER_FREE, str(ROOT), how], capture_output=True,
                                   text=True, check=True).stdout) for how in ("keep", "default")}
    assert rss["keep"] - rss["default"] > 200  # MB: the freed 256 MB stayed mapped
