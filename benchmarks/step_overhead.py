"""Host time and kernel-like ops per training step: train.py's path against a hand-written loop
doing the same work (the data module's batches and augmentation, forward, loss, backward, the
optimizer and its schedule, train loss/accuracy, lookahead), on the CPU.

    python benchmarks/step_overhead.py [--rounds 5] [--batch 16] [--out results/step_overhead.json]

The networks are shrunk so that compute is small and what remains is the host cost of a step:
resnet9 at widths 8-16-16, resnet18 at 1/8 of its widths and "upsampled" to 32x32, both at batch
16 (at 64 resnet9's compute is most of a step here), on a made-up 32x32 data set of 4,000 images.

This machine is noisy (its speed wanders by a third over seconds), so the two paths run
interleaved, step for step: inside train.py's run, a callback runs one hand-loop step (on its own
model, optimizer and batches) after each project step, and times both. A round is one such run;
its ratio is the median project step over the median hand step, and the ratio reported is the
median over rounds, with its range. Kernel-like ops are aten calls that are not views or
allocations, counted in separate, untimed runs of each path.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from training import cpu_alloc  # noqa: E402

cpu_alloc.keep_freed_memory()  # as train.py does
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

BATCH, WARMUP = 16, 5
SKIP = {"empty", "empty_like", "empty_strided", "detach", "lift_fresh", "alias", "_reshape_alias"}


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and func.overloadpacket.__name__ not in SKIP:
            self.n += 1
        return func(*args, **(kwargs or {}))


def shrink() -> None:
    """Tiny widths for both networks, patched in where the model files read them."""
    import torchvision
    from torchvision.models.resnet import BasicBlock, ResNet

    import lit_modules.resnet9 as r9
    import lit_modules.resnet18 as r18

    r9.WIDTHS = (8, 16, 16)

    class TinyResNet18(ResNet):  # resnet18's layout at 1/8 of its widths
        def __init__(self):
            super().__init__(BasicBlock, [2, 2, 2, 2])
            self.conv1, self.bn1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8)
            self.fc = nn.Linear(64, 1000)

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            if planes == 64:
                self.inplanes = 8
            return super()._make_layer(block, planes // 8, blocks, stride, dilate)

    r18.torchvision = type("tv", (), {"models": type("m", (), {"resnet18": lambda weights=None: TinyResNet18()})})
    assert torchvision  # the real module stays untouched for everyone else


class StepClock(pl.Callback):
    """Step-start times of train.py's own Trainer; with `counter`, ops of steps WARMUP..end. With
    `hand`, one hand-loop step runs (and is timed) after each project step: the two paths' steps
    alternate, so both see the same machine state, step for step."""

    def __init__(self, counter: OpCounter | None = None, hand: HandLoop | None = None):
        self.starts: list[float] = []
        self.counter, self.counted, self.hand = counter, 0, hand
        self.hand_times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # Here, not at the batch's start: there the hand step would sit between the project's
        # augmentation of a batch and its forward pass, leaving that batch cold in the cache (it
        # measured ~4% slower that way); here each path's fetch-augment-forward-backward runs unbroken.
        if self.hand is not None:
            t = time.perf_counter()
            self.hand.step()
            self.hand_times.append(time.perf_counter() - t)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(time.perf_counter())
        if self.counter is not None and batch_idx == WARMUP:
            self.counter.__enter__()
        if self.counter is not None and batch_idx >= WARMUP:
            self.counted += 1

    def on_train_epoch_end(self, trainer, pl_module):
        if self.counter is not None and self.counted:
            self.counter.__exit__(None, None, None)

    def project_times(self) -> list[float]:
        """Each project step: from its start to the next one's, less the hand step run in between."""
        ends = [s - h for s, h in zip(self.starts[1:], self.hand_times)] if self.hand else self.starts[1:]
        return [b - a for a, b in zip(self.starts[WARMUP:], ends[WARMUP:])]


def project(name: str, data: Path, count: bool, hand: HandLoop | None = None) -> StepClock:
    """One epoch of train.py, clocked (ops counted with `count`, a hand step after each step with `hand`)."""
    import train
    from conftest import trainer_callback

    with trainer_callback(StepClock(OpCounter() if count else None, hand)) as clock, \
            tempfile.TemporaryDirectory() as logdir:
        assert train.main(["--model", name, "--gpus", "0", "--epochs", "1", "--batch-size", str(BATCH),
                           "--data-dir", str(data), "--dataset", "folder", "--val-size", "100",
                           "--logdir", logdir, *(["--weights", "none", "--set", "upsample=32"]
                                                 if name == "resnet18" else [])]) == 0
    return clock


class HandLoop:
    """The same work as train.py's step, written out: no Trainer, no logging, no callbacks. One
    `step()` at a time, starting a new epoch of batches when one runs out."""

    def __init__(self, name: str, data: Path):
        from core import recipe
        from datamodules.images import ImageDataModule
        from lit_modules import MODELS
        from lit_modules.optim import make_optimizer, make_schedule

        cls = MODELS[name]
        groups = recipe.split({**cls.all_defaults(), "batch_size": BATCH, "val_size": 100, "epochs": 1,
                               **({"weights": "none", "upsample": 32} if name == "resnet18" else {})},
                              cls.all_specs())
        torch.manual_seed(0)
        self.dm = dm = ImageDataModule(str(data), **groups["data"], dataset="folder")
        dm.setup("fit")
        self.model = model = cls(**groups["model"], **dm.model_inputs)
        self.hp, self.d = model.hparams, dm.hparams
        if hasattr(model, "init_whitening"):
            model.init_whitening(dm.normalize(dm.train_sample(5000)))
        model.train()
        self.total = len(dm.train_dataloader())
        self.opt = make_optimizer(model.param_groups(), self.hp, torch.device("cpu"))
        self.sched = make_schedule(self.opt, self.hp, self.total) if self.hp.schedule else None
        self.batches, self.n, self.ema = iter(()), 0, None
        self.loss_sum, self.correct, self.seen = torch.zeros(()), torch.zeros((), dtype=torch.long), 0

    def step(self) -> None:
        from callbacks.lookahead import BASE_DECAY, EVERY_EXAMPLES
        from datamodules.augment import random_crop_flip, scaled_padding

        batch = next(self.batches, None)
        if batch is None:
            self.batches = iter(self.dm.train_dataloader())
            batch = next(self.batches)
        x, y = batch
        hp, d, model = self.hp, self.d, self.model
        if d.augment:
            x = random_crop_flip(x, scaled_padding(d.aug_padding, x.shape[-1]), d.aug_pad_mode,
                                 flip=d.aug_flip == "random")
        x = self.dm.normalize(x)
        logits = model(x)
        loss = model.criterion(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        self.n += 1
        with torch.no_grad():
            plain = loss if hp.label_smoothing == 0 else nn.functional.cross_entropy(logits, y)
            self.loss_sum += plain * len(y)
            self.correct += (logits.argmax(1) == y).sum()
            self.seen += len(y)
            if hp.lookahead and self.n % max(1, round(EVERY_EXAMPLES / BATCH)) == 0:
                state = model.net.state_dict()
                self.ema = self.ema or {k: v.clone() for k, v in state.items() if v.is_floating_point()}
                decay = BASE_DECAY * (self.n / self.total) ** 3
                emas, weights = list(self.ema.values()), [state[k] for k in self.ema]
                torch._foreach_lerp_(emas, weights, 1 - decay)
                torch._foreach_copy_(weights, emas)


def hand_ops(name: str, data: Path) -> float:
    """Kernel-like ops per step of the hand loop, over one epoch's steps after WARMUP."""
    loop = HandLoop(name, data)
    for _ in range(WARMUP):
        loop.step()
    counter = OpCounter()
    with counter:
        for _ in range(loop.total - WARMUP):
            loop.step()
    print(f"  hand loop {name}: train loss {float(loop.loss_sum) / loop.seen:.4f}, acc {int(loop.correct) / loop.seen:.4f}")
    return counter.n / (loop.total - WARMUP)


def made_up_data(root: Path) -> Path:
    from conftest import write_folder_tree

    return write_folder_tree(root, n_train=400, n_test=10)


def main() -> None:
    global BATCH
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="timed rounds of each path, alternating")
    p.add_argument("--batch", type=int, default=BATCH, help="training batch size of both paths")
    p.add_argument("--out", default=str(ROOT / "results" / "step_overhead.json"))
    args = p.parse_args()
    BATCH = args.batch
    shrink()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = made_up_data(Path(tmp) / "data")
        for name in ("resnet9", "resnet18"):
            clock = project(name, data, True)
            ops = {"project": clock.counter.n / clock.counted, "hand": hand_ops(name, data)}
            rounds: list[dict[str, float]] = []  # each round's median step time of each path
            for _ in range(args.rounds):
                clock = project(name, data, False, hand=HandLoop(name, data))
                rounds.append({"project": statistics.median(clock.project_times()),
                               "hand": statistics.median(clock.hand_times[WARMUP:])})
            ratios = [r["project"] / r["hand"] for r in rounds]
            ms = {k: 1000 * statistics.median(r[k] for r in rounds) for k in ("project", "hand")}
            results[name] = {"project_ms": round(ms["project"], 2), "hand_ms": round(ms["hand"], 2),
                             "ratio": round(statistics.median(ratios), 3),
                             "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
                             "project_ops": round(ops["project"], 1), "hand_ops": round(ops["hand"], 1)}
    print("\n| model | train.py ms/step | hand loop ms/step | ratio (range over rounds) | train.py ops/step | hand ops/step |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        lo, hi = r["ratio_range"]
        print(f"| {name} | {r['project_ms']} | {r['hand_ms']} | {r['ratio']} ({lo}-{hi}) | {r['project_ops']} | {r['hand_ops']} |")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
