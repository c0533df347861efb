"""visualize.py: the results table from runs' metrics.json, every figure command, and their errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

import visualize
from conftest import ROOT
from lit_modules import MODELS
from report import curves


def write_run(run_dir, **overrides) -> None:
    m = {"model": "lenet", "command": "python train.py --model lenet", "hparams": {"tta": 0}, "params": {"total": 390410, "trainable": 390410}, "seconds": 200.0,
         "device": "cpu", "status": "finished",
         "epochs": [{"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "val_loss": 1.3, "val_acc": 0.5,
                     "test_loss": 1.3, "test_acc": 0.52},
                    {"epoch": 2, "train_loss": 1.2, "train_acc": 0.56, "val_loss": 1.1, "val_acc": 0.61,
                     "test_loss": 1.09, "test_acc": 0.613}]}
    m["final"] = dict(m["epochs"][1])
    m.update(overrides)
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(m))


def test_table_has_one_row_per_run_with_best_checkpoint_numbers(tmp_path, capsys):
    write_run(tmp_path / "a")
    assert visualize.main(["table", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and out[0].startswith("| model")
    assert out[2] == "| lenet | 1 | 390,410 (390,410) | 2 | 100.0 | 1.2000 | 56.00% | 1.1000 | 61.00% | 1.0900 | 61.30% | none | cpu |"


def test_table_does_not_import_torch(tmp_path):
    """`visualize.py table` answers at once: importing torch alone takes a second or more."""
    write_run(tmp_path / "a")
    code = ("import sys, visualize; assert visualize.main(['table', sys.argv[1]]) == 0; "
            "print('torch imported' if 'torch' in sys.modules else 'no torch')")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "no torch"


def test_table_reads_copied_metrics_files_and_sums_training_seconds(tmp_path, capsys):
    write_run(tmp_path / "a")
    write_run(tmp_path / "b", epochs=[{"epoch": 1, "train_acc": 0.4, "train_seconds": 1.25},
                                      {"epoch": 2, "train_acc": 0.5, "train_seconds": 0.5}])
    copy = tmp_path / "results" / "lenet_gpu.json"  # results/ keeps metrics.json files under other names
    copy.parent.mkdir()
    copy.write_text((tmp_path / "b" / "metrics.json").read_text())
    assert visualize.main(["table", str(tmp_path / "a"), str(copy)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "| train s |" in out[0]
    assert out[2].split(" | ")[5] == "n/a" and out[3].split(" | ")[5] == "1.75"


def test_table_groups_runs_that_differ_only_in_the_seed(tmp_path, capsys):
    final = lambda acc: {"epoch": 2, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": acc,
                         "test_loss": 1.0, "test_acc": acc}
    for seed, acc in ((0, 0.60), (1, 0.62), (2, 0.64)):
        write_run(tmp_path / f"s{seed}", seed=seed, final=final(acc), hparams={"lr": 0.001})
    # a seed none of the others has: only the setting can keep it out of their row
    write_run(tmp_path / "other", seed=3, final=final(0.5), hparams={"lr": 0.01}, changes={"lr": 0.01})
    assert visualize.main(["table", *(str(tmp_path / d) for d in ("s0", "s1", "s2", "other"))]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("| model | changed | n |") and len(out) == 4
    cells = out[2].split(" | ")
    assert cells[1:3] == ["defaults", "3 (seeds 0 1 2)"] and cells[9] == cells[11] == "62.00% ± 2.00"
    assert out[3].split(" | ")[1:3] == ["lr=0.01", "1"]


def test_table_of_a_crashed_run_shows_its_partial_curve(tmp_path, capsys):
    write_run(tmp_path / "a", status="failed", final=None)
    write_run(tmp_path / "b")
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    del m["status"]  # a record from before status was written: finished
    (tmp_path / "b" / "metrics.json").write_text(json.dumps(m))
    assert visualize.main(["table", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    head, rule, failed, old = capsys.readouterr().out.strip().splitlines()
    assert head == ("| model | n | params (trainable) | epochs | s/epoch | train loss | train acc | val loss | val acc "
                    "| test loss | test acc | TTA | device |")
    assert rule == "|" + "---|" * 13
    assert failed.startswith("| lenet (failed) | 1 |") and "| 61.30% |" in failed  # its last epoch, no final
    assert old.startswith("| lenet | 1 |")


def test_the_same_seed_twice_is_two_rows_not_a_repeat(tmp_path, capsys):
    write_run(tmp_path / "a", seed=0)
    write_run(tmp_path / "b", seed=0)
    assert visualize.main(["table", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [r.split(" | ")[1] for r in rows] == ["1", "1"]


def test_run_that_crashed_before_its_first_epoch_is_a_clear_error(tmp_path, capsys):
    write_run(tmp_path / "a", status="failed", final=None, epochs=[])
    assert visualize.main(["curves", str(tmp_path / "a")]) == 2
    assert "no finished epoch" in capsys.readouterr().err


def test_missing_or_broken_metrics_are_one_line_errors(tmp_path, capsys):
    assert visualize.main(["table", str(tmp_path / "nothing")]) == 2
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.json").write_text('{"model": "len')
    assert visualize.main(["table", str(tmp_path / "half")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "not valid JSON" in err[1]


def test_curves_leave_out_a_stage_the_run_did_not_score_each_epoch(tmp_path, monkeypatch):
    # resnet9 scores the test set only at the end: its epoch rows have no test_* keys.
    rows = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.6, "val_loss": 1.1, "val_acc": 0.5} for e in (1, 2)]
    write_run(tmp_path / "a", epochs=rows)
    labels = []

    def save(fig, path):
        labels.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        curves.plt.close(fig)
        return path
    monkeypatch.setattr(curves, "save", save)
    curves.plot_curves(curves.load_run(tmp_path / "a"), tmp_path / "out")
    assert labels == [["train", "val", "best checkpoint"], ["train", "val", "best checkpoint"]]


def png_size(path) -> tuple[int, int]:
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        return im.size


@pytest.mark.slow
def test_curves_writes_a_loss_and_an_accuracy_plot(tiny_runs, tmp_path):
    assert visualize.main(["curves", str(tiny_runs / "lenet" / "version_0"), "--out", str(tmp_path)]) == 0
    # Named by run folder: two runs of one model into one --out folder do not overwrite each other.
    import shutil
    shutil.copy(tiny_runs / "lenet" / "version_0" / "metrics.json", (tmp_path / "lenet" / "version_1").mkdir(parents=True) or tmp_path / "lenet" / "version_1")
    assert visualize.main(["curves", str(tmp_path / "lenet" / "version_1"), "--out", str(tmp_path)]) == 0
    for version in ("version_0", "version_1"):
        assert png_size(tmp_path / f"lenet-{version}_loss.png") == (720, 480) == png_size(tmp_path / f"lenet-{version}_acc.png")


@pytest.mark.slow
def test_compare_two_runs_in_one_plot(tiny_runs, tmp_path):
    assert visualize.main(["compare", str(tiny_runs / "lenet" / "version_0"), str(tiny_runs / "vgg_bn" / "version_0"),
                           "--out", str(tmp_path)]) == 0
    assert png_size(tmp_path / "compare_lenet-version_0_vgg_bn-version_0.png") == (900, 540)


def test_compare_of_two_runs_of_one_model_labels_what_differs(tmp_path, monkeypatch):
    write_run(tmp_path / "lenet" / "version_0", hparams={"tta": 0, "lr": 0.001})
    write_run(tmp_path / "lenet" / "version_1", hparams={"tta": 0, "lr": 0.01})
    runs = [curves.load_run(tmp_path / "lenet" / v) for v in ("version_0", "version_1")]
    assert curves.compare_labels(runs) == ["lenet-version_0 lr=0.001", "lenet-version_1 lr=0.01"]
    legends = []
    monkeypatch.setattr(curves, "save", lambda fig, path: legends.append(
        [t.get_text() for t in fig.axes[0].get_legend().get_texts()]) or path)
    path = curves.plot_compare(runs, tmp_path / "out")
    assert path.name == "compare_lenet-version_0_lenet-version_1.png"
    assert len(set(legends[0])) == 4 and "lenet-version_1 lr=0.01: val" in legends[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_filters_from_a_run_directory(name, tiny_runs, tmp_path):
    assert visualize.main(["filters", str(tiny_runs / name / "version_0"), "--image", "5", "--out", str(tmp_path)]) == 0
    pngs = sorted(tmp_path.glob(f"{name}-version_0_filters_*.png"))
    assert [p.name.split("_filters_")[1] for p in pngs] == ["image_first.png", "last.png", "weights.png"]
    assert png_size(pngs[0]) == (1320, 660) and png_size(pngs[1]) == (660, 660)


def test_filters_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    assert visualize.main(["filters", str(tmp_path / "run")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_a_truncated_checkpoint_and_an_out_that_is_a_file_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "best-epoch01-val_acc0.5.ckpt").write_bytes(b"PK\x03\x04 cut short")
    assert visualize.main(["filters", str(tmp_path / "run")]) == 2
    write_run(tmp_path / "ok")
    (tmp_path / "file").write_text("")
    assert visualize.main(["curves", str(tmp_path / "ok"), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "cannot read checkpoint" in err[0] and "pass another --out" in err[1]


@pytest.mark.slow
def test_report_skips_a_broken_run_with_a_warning(tiny_runs, tmp_path, capsys):
    import shutil
    logdir = tmp_path / "logs"
    shutil.copytree(tiny_runs / "lenet", logdir / "lenet")
    (logdir / "lenet" / "version_1").mkdir()
    (logdir / "lenet" / "version_1" / "metrics.json").write_text("[1, 2]")
    assert visualize.main(["report", str(logdir), "--out", str(tmp_path / "out")]) == 0
    assert "skipping" in capsys.readouterr().err and "### 1a." in (tmp_path / "out" / "report.md").read_text()


def test_names_from_a_record_never_form_a_path_outside_out(tmp_path):
    write_run(tmp_path / "runs" / "a", model="../../x")
    write_run(tmp_path / "runs" / "b", model="/abs/y")
    out = tmp_path / "deep" / "er" / "out"
    assert visualize.main(["curves", str(tmp_path / "runs" / "a"), "--out", str(out)]) == 0
    assert visualize.main(["compare", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b"), "--out", str(out)]) == 0
    written = sorted(p for p in tmp_path.rglob("*.png"))
    assert written and all(p.parent == out for p in written), written


def test_report_of_a_logdir_whose_only_run_is_broken_names_the_file(tmp_path, capsys):
    (tmp_path / "lenet" / "version_0").mkdir(parents=True)
    (tmp_path / "lenet" / "version_0" / "metrics.json").write_text('{"command": "python train.py", "epo')
    assert visualize.main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no readable run" in last and "version_0/metrics.json is broken" in last


@pytest.mark.parametrize("differs", [
    {"hparams": {"tta": 0, "lr": 0.5}, "recipe": {"model": {"lr": 0.5}}},
    {"epochs": [{"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "val_loss": 1.3, "val_acc": 0.5}]},
    {"data": {"dataset": "cifar100", "classes": ["c"] * 100}},
    {"data": {"val": 300}},
    {"status": "interrupted"},
    {"device": "1x NVIDIA H200"},
    {"precision": "bf16-mixed"},
])
def test_runs_are_repeats_only_when_everything_but_the_seed_matches(differs, tmp_path, capsys):
    recipe = {"recipe": {"model": {"lr": 0.001}}, "precision": "32", "data": {"dataset": "cifar10", "val": 20,
                                                                            "dir": "/somewhere"}}
    write_run(tmp_path / "s0", seed=0, **recipe)
    write_run(tmp_path / "s1", seed=1, **{**recipe, "data": {**recipe["data"], "dir": "/elsewhere"}})  # dir: no matter
    write_run(tmp_path / "odd", seed=2, **{**recipe, **differs, "data": {**recipe["data"], **differs.get("data", {})}})
    assert visualize.main(["table", *(str(tmp_path / d) for d in ("s0", "s1", "odd"))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    n = lines[0].split(" | ").index("n")
    assert [line.split(" | ")[n] for line in lines[2:]] == ["2 (seeds 0 1)", "1"]


def test_a_table_over_several_data_sets_names_each_rows_data(tmp_path, capsys):
    write_run(tmp_path / "a")  # recorded before there was a choice: CIFAR-10
    write_run(tmp_path / "b", data={"dataset": "folder", "classes": ["x", "y", "z"]})
    assert visualize.main(["table", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| model | data | n |")
    assert [line.split(" | ")[1] for line in lines[2:]] == ["cifar10 (10 classes)", "folder (3 classes)"]


@pytest.mark.parametrize("record, tta", [
    ({"model": "vgg_bn", "hparams": None}, "flip"),        # recorded before hparams were: the model's default
    ({"model": "vgg_bn", "hparams": {"tta": 2}}, "flip+translate"),
    ({"model": "lenet", "hparams": {}}, "none"),
    ({"model": "not_a_model", "hparams": {}}, "?"),
])
def test_the_tta_column_reads_the_record_then_the_models_default(record, tta, tmp_path, capsys):
    write_run(tmp_path / "a", **record)
    assert visualize.main(["table", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[2].split(" | ")[-2] == tta


def test_the_table_marks_a_best_epoch_before_the_last_and_lists_every_change(tmp_path, capsys):
    write_run(tmp_path / "a", seconds=100.0, epochs=[{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0,
                                                      "val_acc": 0.6, "test_loss": 1.0, "test_acc": 0.6}],
              final={"epoch": 1, "val_acc": 0.6, "test_acc": 0.6}, changes={"lr": 0.1, "batch_size": 32})
    write_run(tmp_path / "b", final={"epoch": 1, "val_acc": 0.7, "test_acc": 0.7}, seed=1)
    assert visualize.main(["table", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    cells = [line.split(" | ") for line in lines]
    col = lambda name: cells[0].index(name)
    assert cells[2][col("changed")] == "lr=0.1, batch_size=32"
    assert (cells[2][col("epochs")], cells[2][col("s/epoch")]) == ("1", "100.0")  # one epoch: its own time
    assert cells[3][col("epochs")] == "2 (best 1)"


def test_ctrl_c_is_one_line_and_exit_130(tiny_runs, tmp_path, monkeypatch, capsys):
    from report import mistakes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mistakes, "plot_mistakes", interrupted)
    assert visualize.main(["mistakes", str(tiny_runs / "lenet" / "version_0"), "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "visualize.py: stopped (Ctrl-C)"
