"""One owner per concept, checked by effect: a run's files are read once per use, its data folder is
found from any working folder, and a model the registry holds is trained and reported whatever
its network (no conv layer) and whichever section it belongs to."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

import train
import visualize
from conftest import write_folder_tree
from core.recipe import Key
from lit_modules import MODELS
from lit_modules.base import BaseClassifier

SMALL = ["--gpus", "0", "--batch-size", "16", "--val-size", "10"]


@pytest.fixture
def reads(monkeypatch):
    """Counts torch.load calls per file name and reads of metrics.json while a test runs."""
    loads, records = Counter(), Counter()
    real_load, real_read = torch.load, Path.read_text

    def load(f, *a, **kw):
        loads[Path(f).name if isinstance(f, (str, os.PathLike)) else "?"] += 1
        return real_load(f, *a, **kw)

    def read_text(self, *a, **kw):
        if self.name == "metrics.json":
            records[str(self)] += 1
        return real_read(self, *a, **kw)
    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(Path, "read_text", read_text)
    return loads, records


@pytest.mark.slow
def test_a_resume_reads_its_checkpoint_once_and_its_record_once(folder_data, tmp_path, reads):
    assert train.main(["--model", "lenet", *SMALL, "--epochs", "1", "--data-dir", str(folder_data),
                       "--logdir", str(tmp_path)]) == 0
    loads, records = reads
    loads.clear(), records.clear()
    run = tmp_path / "lenet" / "version_0"
    assert train.main(["--resume", str(run), "--epochs", "2"]) == 0  # the model from the checkpoint itself
    assert loads["last.ckpt"] == 2  # the plan's read, and Lightning's own restore in fit
    best = [n for n in loads if n.startswith("best-")]
    assert [loads[n] for n in best] == [1]  # Lightning's own, for the final test: not one more for its epoch
    assert list(records.values()) == [1]


@pytest.mark.slow
def test_the_report_loads_each_checkpoint_once(tiny_runs, tmp_path, reads):
    loads, _ = reads
    assert visualize.main(["report", str(tiny_runs), "--out", str(tmp_path)]) == 0
    checkpoints = {n: k for n, k in loads.items() if n.endswith(".ckpt")}
    assert sorted(checkpoints) == sorted(p.name for p in tiny_runs.glob("*/version_0/checkpoints/best-*.ckpt"))
    assert set(checkpoints.values()) == {1}
    data = [k for n, k in loads.items() if not n.endswith(".ckpt") and n != "test_probs.pt"]  # the decoded cache
    assert data == [len(MODELS)]  # one data module per model, for its filter figures
    assert loads["test_probs.pt"] == len(MODELS)  # each run's final-test probabilities, for its mistakes, once


@pytest.mark.slow
def test_figures_find_a_relative_data_dir_from_another_folder(tmp_path, monkeypatch):
    """Trained with `--data-dir tiny` in one folder, drawn from another: the run's record holds the
    data folder as an absolute path, and so do its checkpoints; a checkpoint from before that holds
    it as typed, and the figures still find the data through the record."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    write_folder_tree(work / "tiny", n_train=3, n_test=2)
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    assert train.main(["--model", "lenet", *SMALL, "--epochs", "1", "--data-dir", "tiny", "--logdir", "logs"]) == 0
    run = work / "logs" / "lenet" / "version_0"
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    ckpt = torch.load(best, weights_only=True)
    assert ckpt["datamodule_hyper_parameters"]["data_dir"] == str(work / "tiny")
    ckpt["datamodule_hyper_parameters"]["data_dir"] = "tiny"  # as runs recorded it before
    torch.save(ckpt, best)
    (run / "test_confusion.json").unlink()  # an older run: the confusion matrix is recomputed from the data
    monkeypatch.chdir(elsewhere)
    assert visualize.main(["filters", str(run), "--out", "figs"]) == 0
    assert visualize.main(["confusion", str(run), "--out", "figs"]) == 0
    assert visualize.main(["report", str(work / "logs"), "--out", "report"]) == 0
    report = (elsewhere / "report" / "report.md").read_text()
    assert "lenet-version_0_filters_last.png" in report and "lenet-version_0_confusion.png" in report
    assert len(list((elsewhere / "figs").glob("*.png"))) == 4


class _MLP(BaseClassifier):
    """A fifth model, registered by a test: no conv layer at all."""
    name = "mlp"
    specs = {"hidden": Key("model", "hidden units", 32, low=1)}

    def build_network(self) -> nn.Module:
        hp = self.hparams
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * hp.image_size ** 2, hp.hidden), nn.ReLU(),
                             nn.Linear(hp.hidden, hp.num_classes))


@pytest.mark.slow
def test_a_model_without_a_conv_layer_trains_and_reports_in_its_registered_role(folder_data, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "mlp", _MLP)
    monkeypatch.setattr(_MLP, "role", "baseline")  # the report's first section is the registry's baseline
    logdir = tmp_path / "logs"
    assert train.main(["--model", "mlp", *SMALL, "--epochs", "1", "--set", "hidden=8",
                       "--data-dir", str(folder_data), "--logdir", str(logdir)]) == 0
    record = json.loads((logdir / "mlp" / "version_0" / "metrics.json").read_text())
    assert record["status"] == "finished" and record["recipe"]["model"]["hidden"] == 8
    assert visualize.main(["report", str(logdir), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    baseline = report.split("## 1.")[1].split("## 2.")[0]
    assert "`mlp/version_0`" in baseline and "no convolutional layer" in baseline
    assert "mlp-version_0_confusion.png" in baseline
    assert "Make it with `python train.py --model vgg_bn`" in report  # no custom run here: the registry's
    assert visualize.main(["filters", str(logdir / "mlp" / "version_0"), "--out", str(tmp_path / "f")]) == 0
