"""Decode the JPEG copy with the project's loader (which writes its cache), and save the same uint8
images in airbench94's format (cifar10/train.pt, test.pt: NHWC uint8), so both train on equal data.

    python benchmarks/gpu/airbench_data.py DATA_DIR OUT_DIR/cifar10
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from datamodules import sources  # noqa: E402

t = time.time()
arrays = sources.load(Path(sys.argv[1]))
print(f"decoded+cached in {time.time() - t:.1f} s: {arrays.source}")
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
classes = list(sources.CLASSES)
for name, x, y in (("train", arrays.train_images, arrays.train_labels), ("test", arrays.test_images, arrays.test_labels)):
    torch.save({"images": x.permute(0, 2, 3, 1).contiguous(), "labels": y.long(), "classes": classes}, out / f"{name}.pt")
