"""The GPU and multi-process paths, exercised on the CPU."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from core import devices
from datamodules.cifar10 import CIFAR10DataModule


def test_device_resident_data_gives_batches_already_on_that_device(folder_data):
    dm = CIFAR10DataModule(str(folder_data), batch_size=16, val_size=20, on_device=True)
    dm.setup("fit")
    dm.to_device(torch.device("cpu"))  # what setup() does with the trainer's root device
    x, y = next(iter(dm.train_dataloader()))
    assert x.device.type == "cpu" and x.dtype == torch.uint8 and x.shape == (16, 3, 32, 32)
    assert torch.equal(x[:, 0, 0, 0].long(), 25 * y)


def test_gpus_flag_maps_to_lightning_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert devices.resolve_devices(None) == {"accelerator": "gpu", "devices": 1, "strategy": "auto", "num_nodes": 1}
    assert devices.resolve_devices(4, num_nodes=2)["strategy"] == "ddp"
    assert devices.resolve_devices(0, cpu_processes=2) == {"accelerator": "cpu", "devices": 2, "strategy": "ddp",
                                                         "num_nodes": 1}


@pytest.mark.slow
def test_ddp_over_two_cpu_processes_logs_what_one_process_measures(folder_data, tmp_path):
    """31 validation images: shards of 16 and 15, so a mean of the two processes' means is not the
    mean over the images. Launched as the docs say; one run folder, whatever the processes."""
    cmd = [sys.executable, "train.py", "--model", "lenet", "--gpus", "0", "--cpu-processes", "2", "--epochs", "1",
           "--batch-size", "16", "--val-size", "31", "--data-dir", str(folder_data), "--logdir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "lenet").iterdir()) == ["version_0"]
    run_dir = tmp_path / "lenet" / "version_0"
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "finished" and len(m["epochs"]) == 1

    # One process, the same checkpoint, the same validation and test sets.
    from lit_modules.lenet import LeNet
    ckpt = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    model = LeNet.load_from_checkpoint(ckpt, map_location="cpu").eval()
    dm = CIFAR10DataModule(str(folder_data), val_size=31)
    dm.setup("fit")
    with torch.no_grad():
        for images, labels, key in ((dm.arrays.train_images[dm.val_idx], dm.arrays.train_labels[dm.val_idx], "val"),
                                    (dm.arrays.test_images, dm.arrays.test_labels, "test")):
            logits = model(model.normalize(images))
            acc = (logits.argmax(1) == labels).float().mean().item()
            assert m["epochs"][0][f"{key}_acc"] == torch.tensor(acc).item()
            loss = torch.nn.functional.cross_entropy(logits, labels).item()
            assert m["epochs"][0][f"{key}_loss"] == pytest.approx(loss, rel=1e-5), key
