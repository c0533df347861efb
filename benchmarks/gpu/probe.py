"""resnet9's bare training step (a plain loop: no Lightning, no logging, no metrics) and the project's
batch data path, in ms per step at batch 512 and 1024: the floor that train.py's steps compare to.

    python benchmarks/gpu/probe.py            # on a GPU; DEV=cpu N=2 for a (slow) smoke run
"""
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from datamodules.augment import normalize, random_crop_flip  # noqa: E402
from datamodules.sources import CIFAR10_STATS  # noqa: E402
from lit_modules.resnet9 import ResNet9  # noqa: E402

DEV, N = os.environ.get("DEV", "cuda"), int(os.environ.get("N", 50))
torch.backends.cudnn.benchmark = True
model = ResNet9().to(DEV)
opt = torch.optim.SGD(model.net.parameters(), lr=0.01, momentum=0.85, nesterov=True)
crit = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
images = torch.randint(0, 256, (4800, 3, 32, 32), dtype=torch.uint8, device=DEV)  # random: timing only
labels = torch.randint(0, 10, (4800,), device=DEV)
sync = torch.cuda.synchronize if DEV == "cuda" else (lambda: None)


def data(bs: int):
    idx = torch.randint(0, len(labels), (bs,), device=DEV)  # drawn on the device: no copy from pageable memory
    return normalize(random_crop_flip(images.index_select(0, idx), 2, "reflect", flip=False), *CIFAR10_STATS), labels.index_select(0, idx)


def step(x, y) -> None:
    with torch.autocast(DEV, torch.bfloat16):
        loss = crit(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for bs in (512, 1024):
    for what, fn in (("data path", lambda: data(bs)), ("train step (bare)", lambda: step(*data(bs)))):
        for _ in range(min(10, N)):
            fn()
        sync()
        t = time.perf_counter()
        for _ in range(N):
            fn()
        sync()
        ms = 1e3 * (time.perf_counter() - t) / N
        print(f"PROBE bs={bs} {what}: {ms:.2f} ms/step, {bs / ms * 1e3:,.0f} img/s, "
              f"10 epochs of 48k: {48000 * 10 / bs * ms / 1e3:.1f} s")
