"""train.py with CUDA sync debugging on: each distinct call stack that made the host wait for the
GPU, with how often, most frequent first. A count near the number of steps is a per-step sync.

    python benchmarks/gpu/syncs.py --model resnet9 --gpus 1 --epochs 1 [train.py's arguments]
"""
import collections
import sys
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
counts: collections.Counter = collections.Counter()


def record(message, category, filename, lineno, file=None, line=None) -> None:
    if "synchroniz" not in str(message):
        return
    frames = [f for f in traceback.extract_stack()[:-2] if "warnings" not in f.filename][-7:]
    counts["\n".join(f"    {f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}: {f.line}" for f in frames)] += 1


warnings.showwarning = record
warnings.simplefilter("always")
torch.cuda.set_sync_debug_mode("warn")
import train  # noqa: E402

rc = train.main(sys.argv[1:])
torch.cuda.set_sync_debug_mode(0)
print(f"SYNCS: {sum(counts.values())} in {len(counts)} places (most frequent first)")
for stack, n in counts.most_common(12):
    print(f"--- {n}x\n{stack}")
sys.exit(rc)
