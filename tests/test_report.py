"""Every visualize.py command on tiny runs of all four models, made here."""
from __future__ import annotations

import pytest
from PIL import Image

import train
import visualize

TINY = {"lenet": [], "vgg_bn": [], "resnet9": [], "resnet18": ["--weights", "none", "--epochs", "1"]}


@pytest.fixture(scope="module")
def logdir(folder_data, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    for name, extra in TINY.items():
        assert train.main(["--model", name, "--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20",
                           "--data-dir", str(folder_data), "--logdir", str(logdir), *extra]) == 0
    return logdir


def png_size(path) -> tuple[int, int]:
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        return im.size


def test_curves_writes_a_loss_and_an_accuracy_plot(logdir, tmp_path):
    assert visualize.main(["curves", str(logdir / "lenet" / "version_0"), "--out", str(tmp_path)]) == 0
    assert png_size(tmp_path / "lenet_loss.png") == (720, 480) == png_size(tmp_path / "lenet_acc.png")


def test_compare_two_runs_in_one_plot(logdir, tmp_path):
    assert visualize.main(["compare", str(logdir / "lenet" / "version_0"), str(logdir / "vgg_bn" / "version_0"),
                           "--out", str(tmp_path)]) == 0
    assert png_size(tmp_path / "compare_lenet_vgg_bn.png") == (720, 480)


@pytest.mark.parametrize("name", list(TINY))
def test_filters_from_a_run_directory(name, logdir, tmp_path):
    assert visualize.main(["filters", str(logdir / name / "version_0"), "--image", "5", "--out", str(tmp_path)]) == 0
    pngs = sorted(tmp_path.glob(f"{name}_filters_*.png"))
    assert [p.name.split("_filters_")[1] for p in pngs] == ["image_first.png", "last.png", "weights.png"]
    assert png_size(pngs[0]) == (1320, 660) and png_size(pngs[1]) == (660, 660)


def test_filters_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    assert visualize.main(["filters", str(tmp_path / "run")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_report_writes_every_figure_and_report_md(logdir, tmp_path):
    assert visualize.main(["report", str(logdir), "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    for name in TINY:
        assert f"## {name}" in report and f"| {name} |" in report
        assert (tmp_path / "figures" / f"{name}_loss.png").exists()
    assert report.count("![") == 4 * (2 + 3 + 1) + 1
    assert png_size(tmp_path / "figures" / "resnet9_confusion.png") == (840, 720)
    assert "| **total** | | | **390,410** |" in report and "label smoothing 0.2" in report


def test_report_on_an_empty_logdir(tmp_path, capsys):
    assert visualize.main(["report", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err
