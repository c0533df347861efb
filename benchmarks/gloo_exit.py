"""How often a process of a gloo process group aborts at exit, with and without training/peers.py's
destroy_process_group registered at exit (what train.py registers). Prints a table.

    python benchmarks/gloo_exit.py [--launches 10] [--processes 3]

Each launch starts --processes Python processes that join one gloo group (a file store: no ports),
run the collectives a test epoch's metric sync runs, and exit. Without the destroy, some end with
-6 ("terminate called without an active exception": gloo's threads outlive the interpreter's
finalization); a torchrun launch of train.py did so once in CI. How often varies with the machine's
load: on a 2-core AMD EPYC (2026-12-03) a third of 2-process launches and two thirds of 3-process
launches had one, and none with the destroy. About 4 s a launch on 2 cores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import atexit, sys
sys.path.insert(0, {root!r})
import torch
import torch.distributed as dist
from training import peers
if {destroy}:
    atexit.register(peers.destroy_process_group)
dist.init_process_group("gloo", init_method="file://{store}", rank=int(sys.argv[1]), world_size={n})
for _ in range(20):
    t = torch.ones(1000)
    dist.all_gather([torch.empty(1000) for _ in range({n})], t)
    dist.all_reduce(t)
"""


def launch(n: int, destroy: bool) -> list[int]:
    """One launch of n processes: their exit codes."""
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(root=str(ROOT), destroy=destroy, store=str(Path(tmp) / "store"), n=n)
        procs = [subprocess.Popen([sys.executable, "-c", code, str(rank)], stderr=subprocess.DEVNULL)
                 for rank in range(n)]
        return [p.wait(timeout=120) for p in procs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=10)
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"| at exit | launches | with an aborted process | processes aborted (of {args.processes} each) |")
    print("|---|---|---|---|")
    for destroy in (False, True):
        codes = [launch(args.processes, destroy) for _ in range(args.launches)]
        aborted = sum(c != 0 for run in codes for c in run)
        print(f"| {'destroy_process_group' if destroy else 'nothing (gloo as Lightning leaves it)'} | "
              f"{args.launches} | {sum(any(c != 0 for c in run) for run in codes)} | {aborted} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
