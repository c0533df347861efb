"""CPU benchmarks of the project's overheads, side by side in one process; prints a table, writes JSON.

    python benchmarks/bench.py --data-dir ../cifar10-jpeg [--out results/bench.json]

1. framework: lenet, batch 64, one epoch on the 45k split plus the val+test scoring, through
   train.py versus a plain PyTorch loop with the same model, tensors, augmentation and optimizer;
2. data path: the project's batch crop+flip+normalise versus torchvision's per-image PIL pipeline
   (RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize) through a DataLoader;
3. start-up: seconds from starting `python train.py` to its first training step, cold (no decoded
   cache) and warm, and the process's peak memory.
Takes about 9 minutes on 2 cores. Run it alone: anything else on the machine skews it.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import cpu_alloc  # noqa: E402

cpu_alloc.keep_freed_memory()  # as train.py does, so both sides of every comparison get it
import torch  # noqa: E402

from datamodules import sources  # noqa: E402
from datamodules.augment import normalize as _normalize, random_crop_flip  # noqa: E402
from datamodules.images import ImageDataModule  # noqa: E402
from core import run_folder  # noqa: E402
from training.describe import device_name  # noqa: E402


VAL_SIZE = ["--val-size", "5000"]
MEAN, STD = sources.CIFAR10_STATS


def normalize(images: torch.Tensor) -> torch.Tensor:
    return _normalize(images, MEAN, STD)


def lightning_epoch(data_dir: str) -> float:
    """train.py itself, one epoch: seconds from the start of epoch 1 to its end, its val+test scoring
    included (metrics.json's epoch_seconds); the set-up before it is what the start-up rows measure."""
    import train
    with tempfile.TemporaryDirectory() as logdir:
        train.main(["--model", "lenet", "--gpus", "0", "--epochs", "1", "--data-dir", data_dir, "--logdir", logdir, *VAL_SIZE])
        return run_folder.read_record(Path(logdir) / "lenet" / "version_0")["epochs"][0]["epoch_seconds"]


def plain_epoch(dm: ImageDataModule) -> float:
    from lit_modules.lenet import LeNet
    torch.manual_seed(0)
    net = LeNet().net
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)  # as train.py on the CPU (lit_modules/optim.py)
    loss_fn = torch.nn.CrossEntropyLoss()
    a = dm.arrays
    x_train, y_train = a.train_images[dm.train_idx], a.train_labels[dm.train_idx]
    evals = [(a.train_images[dm.val_idx], a.train_labels[dm.val_idx]), (a.test_images, a.test_labels)]
    start = time.perf_counter()
    net.train()
    for idx in torch.randperm(len(y_train)).split(64):
        x = normalize(random_crop_flip(x_train[idx]))
        loss = loss_fn(net(x), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():  # score val and test, as train.py does every epoch
        for images, labels in evals:
            for i in range(0, len(labels), 256):
                (net(normalize(images[i:i + 256])).argmax(1) == labels[i:i + 256]).float().mean()
    return time.perf_counter() - start


def batch_aug_rate(dm: ImageDataModule) -> float:
    n, start = 0, time.perf_counter()
    for x, _ in dm.train_dataloader():  # the same DataLoader and index sampler train.py uses
        normalize(random_crop_flip(x))
        n += len(x)
    return n / (time.perf_counter() - start)


def pil_pipeline_rate(dm: ImageDataModule, n: int = 10_000) -> float:
    from PIL import Image
    from torchvision import transforms as T

    class PILSet(torch.utils.data.Dataset):
        def __init__(self, images, labels):
            self.images, self.labels = images.permute(0, 2, 3, 1).numpy(), labels
            self.tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return self.tf(Image.fromarray(self.images[i])), self.labels[i]

    idx = dm.train_idx[:n]
    n = len(idx)
    loader = torch.utils.data.DataLoader(PILSet(dm.arrays.train_images[idx], dm.arrays.train_labels[idx]),
                                         batch_size=64, shuffle=True, num_workers=0)
    start = time.perf_counter()
    for _ in loader:
        pass
    return n / (time.perf_counter() - start)


# A fresh `python train.py` that exits the moment its first training batch starts.
FIRST_STEP = """
import os, sys
from callbacks.interrupt import StopOnCtrlC
StopOnCtrlC.on_train_batch_start = lambda *a, **k: os._exit(0)
import train
train.main(sys.argv[1:])
"""


def startup(data_dir: str, cold: bool) -> tuple[float, float]:
    """(seconds from process start to the first training step, peak RSS in MB) of `train.py`."""
    if cold:
        cache = Path(data_dir) / sources.CACHE_NAME
        cache.unlink(missing_ok=True)  # our own cache file: the run rebuilds it
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as logdir:
        subprocess.run([sys.executable, "-c", FIRST_STEP, "--model", "lenet", "--gpus", "0", "--data-dir", data_dir,
                        "--logdir", logdir, *VAL_SIZE], cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="a CIFAR-10 copy in either layout")
    p.add_argument("--out", default=str(ROOT / "results" / "bench.json"))
    p.add_argument("--val-size", type=int, default=5000, help="smaller only for a smoke test on tiny data")
    args = p.parse_args()
    VAL_SIZE[1] = str(args.val_size)

    cold_s, cold_mb = startup(args.data_dir, cold=True)
    warm_s, warm_mb = startup(args.data_dir, cold=False)
    dm = ImageDataModule(args.data_dir, batch_size=64, val_size=args.val_size)
    dm.setup("fit")
    data_mb = sum(t.numel() * t.element_size() for t in (dm.arrays.train_images, dm.arrays.test_images)) / 2**20
    aug, pil = batch_aug_rate(dm), pil_pipeline_rate(dm)
    # Best of two, alternating: a 2-core machine's epoch times wander by a few percent between runs.
    plain_s, lit_s = float("inf"), float("inf")
    for _ in range(2):
        plain_s = min(plain_s, plain_epoch(dm))
        lit_s = min(lit_s, lightning_epoch(args.data_dir))
    epoch_images = dm.sizes["train"]
    rows = [
        ("framework: lenet epoch+eval, plain loop (img/s)", epoch_images / plain_s, ""),
        ("framework: lenet epoch+eval, train.py (img/s)", epoch_images / lit_s,
         f"{plain_s / lit_s:.3f}x plain (goal >= 0.95)"),
        ("data: batch crop+flip+normalise (img/s)", aug, f"{aug / pil:.0f}x PIL (goal >= 20)"),
        ("data: torchvision PIL pipeline, DataLoader (img/s)", pil, ""),
        ("data path share of a train.py lenet epoch", epoch_images / aug / lit_s, "goal < 5%"),
        ("start-up to first step, cold: decoding (s)", cold_s, f"peak RSS {cold_mb:.0f} MB"),
        ("start-up to first step, warm: cache (s)", warm_s, f"peak RSS {warm_mb:.0f} MB (goal < 5 s)"),
        ("decoded data in memory (MB)", data_mb, "goal < 1024"),
    ]
    machine = f"{device_name('cpu', 1)}, torch {torch.__version__}"
    print(f"\n| benchmark ({machine}) | value | note |\n|---|---|---|")
    for name, value, note in rows:
        shown = f"{100 * value:.2f}%" if "share" in name else f"{value:,.1f}"
        print(f"| {name} | {shown} | {note} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "data_dir": args.data_dir,
                                          "rows": [{"name": n, "value": v, "note": t} for n, v, t in rows]},
                                         indent=2) + "\n")


if __name__ == "__main__":
    main()
