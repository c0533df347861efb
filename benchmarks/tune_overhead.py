"""What a tune.py study costs per trial beyond the training itself: N one-epoch tiny runs as plain
`python train.py` calls, one after another, against `python tune.py` running the same N runs as
trials (its own start-up, Optuna's import and database, each trial's bookkeeping). Prints a table.

    python benchmarks/tune_overhead.py [--trials 4]

Goal (issue 24): at most 2 s per trial. Run it alone: anything else on the machine skews it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("a", "b", "c")


def tiny_tree(root: Path, n_train: int = 60, n_test: int = 30) -> Path:
    """A 3-class folder tree of 32x32 PNGs whose red channel says the class."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i, c in enumerate(CLASSES):
            (root / split / c).mkdir(parents=True)
            for j in range(n // len(CLASSES)):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                img[..., 0] = 80 * i
                Image.fromarray(img).save(root / split / c / f"{j}.png")
    return root


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=4)
    n = p.parse_args().trials
    with tempfile.TemporaryDirectory() as tmp:
        data = tiny_tree(Path(tmp) / "data")
        common = ["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "20", "--val-size", "15",
                  "--dataset", "folder", "--data-dir", str(data)]
        lrs = [0.001 * (i + 1) for i in range(n)]
        plain = sum(timed([sys.executable, "train.py", *common, "--logdir", f"{tmp}/plain", "--seed", "0",
                           "--set", f"lr={lr}"]) for lr in lrs)
        grid = ",".join(map(str, lrs))
        study = timed([sys.executable, "tune.py", *common, "--logdir", f"{tmp}/study", "--grid", f"lr={grid}",
                       "--prune", "none"])
    per = (study - plain) / n
    print(f"| {n} one-epoch tiny lenet runs | seconds | per run |\n|---|---|---|")
    print(f"| plain `python train.py` calls | {plain:.1f} | {plain / n:.2f} |")
    print(f"| `python tune.py --grid` trials | {study:.1f} | {study / n:.2f} |")
    print(f"| the study's cost per trial | | {per:+.2f} s ({'met' if per <= 2 else 'not met'}: goal at most 2 s) |")


if __name__ == "__main__":
    main()
