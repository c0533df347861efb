"""What task 3 costs without a GPU: resnet18's seconds per epoch for each input size (`upsample`) and
trainable depth (`trainable`), measured on this machine's CPU, so a student can pick a setting that
fits an evening.

    python benchmarks/resnet18_cost.py [--out results/resnet18_cost.md] [--sizes 256 224 128 64]

Each combination is the module train.py builds (`--model resnet18 --weights none --set upsample=U
trainable=T`): its own freezing (frozen layers get no gradients, so the backward stops at the first
trainable layer; frozen BatchNorm stays in eval mode), channels-last, Adam over the trainable
parameters, its loss. A training step (forward, backward, Adam, batch 32) and an evaluation batch
(forward under no_grad, batch 128, as the data module's evaluation batches) are each timed a few
times after one warm-up (median); an epoch is then 45,000 / 32 training steps plus the 15,000
validation and test images scored after every epoch. Random weights and random images: compute
does not depend on the values, but accuracy does, and it needs ImageNet's weights, which cannot be
downloaded here, so this table has no accuracy. Data loading is left out (a few percent of a step
here). Run it alone: the numbers are this machine's, at the moment it ran.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lit_modules import MODELS  # noqa: E402
from lit_modules.resnet18 import DEPTHS  # noqa: E402

TRAIN_BATCH, EVAL_BATCH = 32, 128
TRAIN_IMAGES, EVAL_IMAGES = 45_000, 15_000  # an epoch's training steps; val + test scored each epoch
EPOCHS = MODELS["resnet18"].defaults["epochs"]


def timed(fn, at_least: int = 2, budget_s: float = 8.0) -> float:
    """Median seconds of fn() after a warm-up call: at least `at_least` calls, more while under budget."""
    fn()
    times = []
    while len(times) < at_least or (sum(times) < budget_s and len(times) < 10):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(upsample: int, trainable: str) -> dict:
    torch.manual_seed(0)
    model = MODELS["resnet18"](weights="none", upsample=upsample, trainable=trainable)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    x = torch.randn(TRAIN_BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (TRAIN_BATCH,))

    def step():
        loss = model.criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    train_s = timed(step)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"upsample": upsample, "trainable": trainable, "params": params, "step_s": train_s, "model": model}


def eval_batch_s(model) -> float:
    xe = torch.randn(EVAL_BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    model.eval()
    with torch.no_grad():
        return timed(lambda: model(xe))


def hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def table(rows: list[dict]) -> str:
    lines = ["| upsample | trainable | trainable params | train step (s, batch 32) | eval batch (s, batch 128) "
             f"| s/epoch | an epoch | {EPOCHS} epochs (the default) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        epoch = TRAIN_IMAGES / TRAIN_BATCH * r["step_s"] + EVAL_IMAGES / EVAL_BATCH * r["eval_s"]
        lines.append(f"| {r['upsample']} | {r['trainable']} | {r['params']:,} | {r['step_s']:.3f} | {r['eval_s']:.3f} "
                     f"| {epoch:,.0f} | {hours(epoch)} | {hours(EPOCHS * epoch)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 224, 128, 64], help="upsample values")
    p.add_argument("--trainable", nargs="+", choices=list(DEPTHS), default=list(DEPTHS), help="trainable depths")
    p.add_argument("--out", help="also write the table with its command, machine and commit to this .md file")
    args = p.parse_args(argv)
    from training.describe import device_name, environment

    rows = []
    for size in args.sizes:
        eval_s = None
        for depth in args.trainable:
            r = measure(size, depth)
            eval_s = eval_s if eval_s is not None else eval_batch_s(r["model"])  # no gradients: depth is free
            rows.append({**r, "eval_s": eval_s})
            print(f"upsample {size:3d}, trainable {depth:6s}: step {r['step_s']:.3f} s, eval batch {eval_s:.3f} s",
                  file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if args.out:
        command = "python benchmarks/resnet18_cost.py " + " ".join(argv if argv is not None else sys.argv[1:])
        head = (f"# resnet18 on a CPU: seconds per epoch by input size and trainable depth\n\n"
                f"`{command.strip()}` on {device_name('cpu', 1)}, torch {torch.__version__}, commit "
                f"{(environment()['git_commit'] or 'unknown')[:12]}, {time.strftime('%Y-%m-%d')}. "
                f"{__doc__.split(chr(10) + chr(10))[2].strip()}\n\n")
        Path(args.out).write_text(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
