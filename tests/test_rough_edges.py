"""Rough edges, each a line on stderr that says what happened and what to do: a grid combination
that breaks a rule between keys (found before any trial trains), a SQLite URL with two slashes, a
table over runs one of which has no finished epoch, a baseline without seeds to compare, a
`--weights` file that could run code, a data cache that cannot be read."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

import tune
import visualize
from conftest import write_folder_tree
from core.errors import UserError


def test_a_grid_combination_that_breaks_a_rule_stops_before_any_trial_trains(folder_data, tmp_path, capsys):
    logdir = tmp_path / "logs"
    assert tune.main(["--model", "vgg_bn", "--grid", "nesterov=false,true", "momentum=0.9,0", "--gpus", "0",
                      "--data-dir", str(folder_data), "--logdir", str(logdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tune.py: error: --grid: the combination ") \
        and "nesterov=true needs a momentum above 0" in err[0] and "leave a value out of the grid" in err[0]
    assert not (logdir / "vgg_bn").exists()  # no trial trained first


def test_a_sqlite_url_with_two_slashes_is_refused_and_three_name_the_file(tmp_path, capsys, monkeypatch):
    from studies import store

    with pytest.raises(UserError, match=r"^--storage sqlite://optuna.db: a SQLite URL has three slashes"):
        store.storage("sqlite://optuna.db")
    monkeypatch.chdir(tmp_path)
    assert store.where("sqlite:///optuna.db") == f"sqlite:///optuna.db, the file {tmp_path / 'optuna.db'}"


def test_a_table_skips_a_run_without_a_finished_epoch_and_says_so(tiny_runs, tmp_path, capsys):
    started = tmp_path / "lenet" / "version_1"
    started.mkdir(parents=True)
    record = json.loads((tiny_runs / "lenet" / "version_0" / "metrics.json").read_text())
    (started / "metrics.json").write_text(json.dumps({**record, "epochs": [], "status": "running"}))
    assert visualize.main(["table", str(tiny_runs / "lenet" / "version_0"), str(started)]) == 0
    out, err = capsys.readouterr()
    assert out.count("| lenet") == 1 and f"note: skipping {started}: " in err and "no finished epoch" in err


def test_a_baseline_of_single_seed_runs_says_why_there_is_no_verdict(tiny_runs, capsys):
    runs = [str(tiny_runs / m / "version_0") for m in ("lenet", "vgg_bn")]
    assert visualize.main(["table", *runs, "--baseline", runs[0]]) == 0
    out, err = capsys.readouterr()
    assert "vs reference" not in out and "note: no verdict column: a verdict needs two or more seeds" in err


def test_a_weights_file_that_could_run_code_is_refused_saying_so(tmp_path):
    from lit_modules.resnet18 import UpsampledResNet18

    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "note": UserError("a pickled object")}, path)
    with pytest.raises(UserError, match=r"holds objects other than tensors, which could run code when loaded"):
        UpsampledResNet18(str(path), 10, 32, (0.5,) * 3, (0.25,) * 3)


def test_a_data_cache_that_cannot_be_read_is_decoded_again_with_a_warning(tmp_path, capsys):
    from datamodules import sources

    root = write_folder_tree(tmp_path / "tree", n_train=2, n_test=1)
    sources.load(root, "cifar10")
    cache = next(root.glob("*.pt"))
    cache.write_bytes(b"not a cache")
    capsys.readouterr()
    arrays = sources.load(root, "cifar10")
    err = capsys.readouterr().err
    assert f"warning: the cache {cache} could not be read" in err and "decoding the images again" in err
    assert len(arrays.train_labels) == 20
    shutil.rmtree(root)


def test_a_resume_with_another_process_count_says_its_numbers_will_differ(tiny_runs, tmp_path, capsys):
    from training.plan import plan_run

    run = tmp_path / "lenet" / "version_0"
    shutil.copytree(tiny_runs / "lenet" / "version_0", run)
    record = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**record, "command": record["command"] + " --cpu-processes 2"}))
    plan_run(["--resume", str(run), "--epochs", "3", "--cpu-processes", "1"])
    assert "note: this run trained with 2 process(es) and resumes with 1" in capsys.readouterr().out
    plan_run(["--resume", str(run), "--epochs", "3"])  # the same count: no note
    assert "note: this run trained" not in capsys.readouterr().out


def test_a_failed_trial_marks_its_finished_seeds_failed_too(tmp_path, monkeypatch):
    """Seed 0 of a trial finishes, seed 1 fails: the study fails the trial, and seed 0's record says so."""
    from core import run_folder
    from studies import space, store
    from studies import trial as trial_run
    from studies.objective import objective

    finished = tmp_path / "version_0"
    finished.mkdir()
    run_folder.write_record(finished, {"command": "python train.py", "epochs": [{"epoch": 1}], "final": {"val_acc": 0.5},
                                       "study": {"name": "s", "trial": 0, "seed": 0, "state": "complete"}})
    runs = iter([(0, run_folder.read_record(finished), finished), (1, None, None)])
    monkeypatch.setattr(trial_run, "run_seed", lambda *a, **k: next(runs))
    study = store.open_study(f"sqlite:///{tmp_path / 'o.db'}", "s", "lenet", ["lr=0.001:0.01"])
    dims = space.parse(["lr=0.001:0.01"], *(lambda c: (c.all_defaults(), c.all_specs()))(__import__("lit_modules").MODELS["lenet"]))
    study.optimize(objective(["--model", "lenet"], dims, [0, 1], "none", "unused"), n_trials=1, catch=(RuntimeError,))
    assert study.trials[0].state.name == "FAIL"
    assert run_folder.read_record(finished)["study"]["state"] == "failed (seed 1 of the trial failed)"
