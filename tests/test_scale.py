"""The GPU and multi-process paths, exercised on the CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT, live_processes_in_group
from core import devices
from datamodules.images import ImageDataModule


def test_device_resident_data_gives_batches_already_on_that_device(folder_data):
    dm = ImageDataModule(str(folder_data), batch_size=16, val_size=20, on_device=True)
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


def fake_cuda(monkeypatch, capability, count=1, name="Tesla T4"):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: name)


@pytest.mark.parametrize("capability, expected", [((9, 0), "bf16-mixed"), ((8, 0), "bf16-mixed"),
                                                  ((7, 5), "16-mixed"), ((7, 0), "16-mixed"), ((6, 1), "32")])
def test_the_default_precision_is_what_the_card_does_natively(capability, expected, monkeypatch):
    fake_cuda(monkeypatch, capability)
    precision, why = devices.resolve_precision(None, devices.resolve_devices(1))
    assert precision == expected and f"compute capability {capability[0]}.{capability[1]}" in why


def test_bf16_on_a_card_without_it_warns_and_names_the_flag_to_use(monkeypatch):
    fake_cuda(monkeypatch, (7, 5))
    precision, why = devices.resolve_precision("bf16-mixed", devices.resolve_devices(1))
    assert precision == "bf16-mixed" and why.startswith("warning: Tesla T4") and "use --precision 16-mixed" in why
    fake_cuda(monkeypatch, (8, 6))
    assert devices.resolve_precision("bf16-mixed", devices.resolve_devices(1)) == ("bf16-mixed", "")


def test_train_py_on_a_t4_resolves_16_mixed_and_says_so(monkeypatch, folder_data, tmp_path, capsys):
    """The command's plan: what it resolved and what it said (nothing is run)."""
    from training.plan import plan_run

    fake_cuda(monkeypatch, (7, 5))
    for flags, line in (([], "device: gpu x1, precision 16-mixed (the default for Tesla T4, compute capability 7.5)"),
                        (["--precision", "bf16-mixed"], "device: gpu x1, precision bf16-mixed")):
        plan = plan_run(["--model", "vgg_bn", "--gpus", "1", "--data-dir", str(folder_data), "--logdir", str(tmp_path),
                         *flags])
        assert plan.precision == (flags[1] if flags else "16-mixed") and plan.devices["accelerator"] == "gpu"
        out, err = capsys.readouterr()
        assert line in out
        assert ("bf16-mixed is emulated and slow; use --precision 16-mixed" in err) == bool(flags)


def test_apple_silicon_means_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    mps = {"accelerator": "mps", "devices": 1, "strategy": "auto", "num_nodes": 1}
    assert devices.resolve_devices(None) == mps and devices.resolve_devices(1) == mps
    assert devices.resolve_devices(0)["accelerator"] == "cpu"
    with pytest.raises(devices.UserError, match="Apple silicon has one GPU"):
        devices.resolve_devices(2)
    assert devices.resolve_precision(None, mps) == ("32", "the default on MPS")
    assert devices.on_accelerator(mps) and not devices.is_cuda(mps)  # data on the GPU; no cuDNN, no TF32
    with pytest.raises(devices.UserError, match="16-mixed needs a CUDA GPU; on MPS"):
        devices.resolve_precision("16-mixed", mps)


TWO_PROCESSES = ["--model", "lenet", "--gpus", "0", "--cpu-processes", "2", "--epochs", "3", "--batch-size", "16",
                 "--val-size", "31"]


@pytest.fixture(scope="module")
def two_process_runs(folder_data, tmp_path_factory) -> Path:
    """Two 2-process runs (seeds 0 and 1) started at once into one logdir, run to their end. 31
    validation images: shards of 16 and 15, so a mean of the two processes' means is not the mean
    over the images."""
    logdir = tmp_path_factory.mktemp("two_process_runs")
    procs = [subprocess.Popen([sys.executable, "train.py", *TWO_PROCESSES, "--seed", str(seed), "--data-dir",
                               str(folder_data), "--logdir", str(logdir)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for seed in (0, 1)]
    for p in procs:
        assert p.wait(timeout=240) == 0, p.stderr.read()[-2000:]
    return logdir


@pytest.mark.slow
def test_ddp_over_two_cpu_processes_logs_what_one_process_measures(two_process_runs, folder_data):
    """Two runs started at once into one logdir (four processes racing for the folder): one folder
    each, each with its own record, command and checkpoints, and each records what one process
    measures over all the images."""
    assert sorted(p.name for p in (two_process_runs / "lenet").iterdir()) == ["version_0", "version_1"]
    seeds = [json.loads((two_process_runs / "lenet" / v / "metrics.json").read_text())["seed"]
             for v in ("version_0", "version_1")]
    assert sorted(seeds) == [0, 1]
    for version in ("version_0", "version_1"):
        run_dir = two_process_runs / "lenet" / version
        m = json.loads((run_dir / "metrics.json").read_text())  # each folder is its own run's throughout
        assert f"--seed {m['seed']}" in m["command"] and f"--seed {m['seed']}" in (run_dir / "hparams.yaml").read_text()
        ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
        assert len(ckpts) == 2 and ckpts[0].startswith("best-") and ckpts[1] == "last.ckpt"
        last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
        assert last["datamodule_hyper_parameters"]["seed"] == m["seed"]
        measures_what_one_process_measures(run_dir, folder_data, epochs=3)


TELLS_DESTROY = """
import sys
sys.path.insert(0, {root!r})
import torch.distributed as dist
original = dist.destroy_process_group


def told(group=None):  # which process destroyed its whole group (Lightning destroys subgroups of its own)
    if group is None:
        with open({log!r}, "a") as f:
            f.write(f"{{dist.get_rank()}} {{dist.get_backend()}}\\n")
    return original(group)


dist.destroy_process_group = told
import train
sys.exit(train.main())
"""


@pytest.mark.slow
def test_a_torchrun_launch_runs_the_same(folder_data, tmp_path, own_tmpdir):
    """torchrun starts every process itself (as srun does on a cluster): the docs' command, with
    train.py's main behind a script that logs each destroy_process_group. Every process destroys its
    gloo group before it exits: an undestroyed one can abort at exit (-6), which failed this test in
    CI (benchmarks/gloo_exit.py counts how often)."""
    script, log = tmp_path / "train_logs_destroy.py", tmp_path / "destroyed.txt"
    script.write_text(TELLS_DESTROY.format(root=str(ROOT), log=str(log)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           "--model", "lenet", "--gpus", "0", "--cpu-processes", "2", "--epochs", "1", "--batch-size", "16",
           "--val-size", "31", "--data-dir", str(folder_data), "--logdir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "TMPDIR": str(own_tmpdir)})
    # A child's own error sits before torchrun's summary: both ends of the output.
    assert proc.returncode == 0, proc.stderr[:3000] + "\n[...]\n" + proc.stderr[-1500:]
    assert sorted(log.read_text().splitlines() if log.exists() else []) == ["0 gloo", "1 gloo"]
    assert sorted(p.name for p in (tmp_path / "lenet").iterdir()) == ["version_0"]
    measures_what_one_process_measures(tmp_path / "lenet" / "version_0", folder_data)


def measures_what_one_process_measures(run_dir, folder_data, epochs: int = 1) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "finished" and len(m["epochs"]) == epochs

    # One process, the last epoch's checkpoint, the same validation and test sets.
    from lit_modules.lenet import LeNet
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    model = LeNet.load_from_checkpoint(ckpt, map_location="cpu").eval()
    dm = ImageDataModule(str(folder_data), val_size=31, seed=m["seed"])
    dm.setup("fit")
    with torch.no_grad():
        for images, labels, key in ((dm.arrays.train_images[dm.val_idx], dm.arrays.train_labels[dm.val_idx], "val"),
                                    (dm.arrays.test_images, dm.arrays.test_labels, "test")):
            logits = model(model.normalize(images))
            acc = (logits.argmax(1) == labels).float().mean().item()
            assert m["epochs"][-1][f"{key}_acc"] == torch.tensor(acc).item()
            loss = torch.nn.functional.cross_entropy(logits, labels).item()
            assert m["epochs"][-1][f"{key}_loss"] == pytest.approx(loss, rel=1e-5), key


STABLE = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


@pytest.mark.slow
def test_a_stopped_or_killed_two_process_run_resumes_exactly_and_leaves_no_process(two_process_runs, folder_data,
                                                                                     tmp_path):
    import os
    import signal
    import time

    def cmd(logdir, *extra):
        return [sys.executable, "train.py", *TWO_PROCESSES, "--seed", "0", "--data-dir", str(folder_data), "--logdir",
                str(logdir), *extra]

    def numbers(run_dir):
        m = json.loads((run_dir / "metrics.json").read_text())
        return [{k: e.get(k) for k in STABLE} for e in m["epochs"]], m["final"]
    unbroken = next(d for d in (two_process_runs / "lenet").iterdir()  # seed 0, as the runs below
                    if json.loads((d / "metrics.json").read_text())["seed"] == 0)

    def started(logdir):
        """The run, once its first epoch's last.ckpt is written."""
        proc = subprocess.Popen(cmd(logdir), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        deadline = time.time() + 200
        while not (logdir / "lenet" / "version_0" / "checkpoints" / "last.ckpt").exists() and proc.poll() is None \
                and time.time() < deadline:
            time.sleep(0.02)
        return proc

    def resumes_exactly(logdir, label):
        run_dir = logdir / "lenet" / "version_0"
        resumed = subprocess.run(cmd(logdir, "--resume", str(run_dir)), cwd=ROOT, capture_output=True, text=True,
                                 timeout=240)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert numbers(run_dir) == numbers(unbroken), label
        assert sorted(p.name for p in (logdir / "lenet").iterdir()) == ["version_0"]

    # Ctrl-C in a terminal: every process of the run gets SIGINT.
    proc = started(tmp_path / "ctrl_c")
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    time.sleep(0.5)
    assert live_processes_in_group(proc.pid) == []  # none left behind (its resume: as the lost process's below)

    # kill -9 of the second process alone (a lost process, as kill -9 of a machine's is): the first says
    # in one line what was lost and kept, and how to go on; that command continues it exactly.
    logdir = tmp_path / "one_lost"
    run_dir = logdir / "lenet" / "version_0"
    proc = started(logdir)
    second = [pid for pid in live_processes_in_group(proc.pid) if pid != proc.pid]
    assert len(second) == 1
    # The first process busy (stopped) for longer than Lightning's 5-s poll of the processes it started:
    # Lightning's own watcher would SIGKILL it the moment it goes on, before its collective fails (-9, nothing said).
    os.kill(proc.pid, signal.SIGSTOP)
    os.kill(second[0], signal.SIGKILL)
    time.sleep(5.5)
    os.kill(proc.pid, signal.SIGCONT)
    err = proc.communicate(timeout=120)[1]
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert last.startswith("train.py: error: a process of this 2-process run was lost (") and \
        f"Continue this run with: python train.py --model lenet --resume {run_dir}" in last, last
    time.sleep(0.5)
    assert live_processes_in_group(proc.pid) == []
    resumes_exactly(logdir, "one process killed")


NAN_ON_RANK_1 = """
import sys
sys.path.insert(0, {root!r})
from lit_modules.base import BaseClassifier
original = BaseClassifier.forward


def poisoned(self, x):  # the second process alone diverges at its 4th step
    logits = original(self, x)
    return logits * float("nan") if self.training and self.global_rank == 1 and self.trainer.global_step == 3 else logits


BaseClassifier.forward = poisoned
import train
sys.exit(train.main())
"""


@pytest.mark.slow
def test_a_nan_in_one_of_two_processes_stops_both_with_the_message(folder_data, tmp_path):
    """Lightning starts the second process by running the same script again, so it is poisoned too."""
    script = tmp_path / "nan_run.py"
    script.write_text(NAN_ON_RANK_1.format(root=str(ROOT)))
    cmd = [sys.executable, str(script), "--model", "lenet", "--gpus", "0", "--cpu-processes", "2", "--epochs", "2",
           "--batch-size", "8", "--val-size", "31", "--data-dir", str(folder_data), "--logdir", str(tmp_path / "logs")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    out, err = proc.communicate(timeout=180)  # a process left waiting for the other would hang here
    assert proc.returncode == 1, err[-2000:]
    assert "training loss became nan at epoch 1, step 4" in err and "Traceback" not in err
    record = json.loads((tmp_path / "logs" / "lenet" / "version_0" / "metrics.json").read_text())
    assert record["status"] == "failed" and record["error"].startswith("NonFiniteLoss")  # not a lost connection
    deadline = time.time() + 5  # the second process may still be exiting (seen once under load): not left behind
    while live_processes_in_group(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert live_processes_in_group(proc.pid) == []


