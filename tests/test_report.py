"""report/document.py: report.md with every figure and table, from tiny runs of every registered model."""
from __future__ import annotations

import re

import pytest

import visualize
from lit_modules import MODELS

pytestmark = pytest.mark.slow  # the tiny runs train every model end to end


def test_report_follows_the_assignment_with_every_figure_and_no_absolute_path(tiny_runs, tmp_path):
    out = tmp_path / "report"
    assert visualize.main(["report", str(tiny_runs), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    for item in ("### 1a.", "### 1b.", "### 1c.", "### 2a.", "### 2b.", "### 2c/2d.", "### 2e.", "### 3b/3c.",
                 "### 3d.", "### 3e/3f/3g."):
        assert report.count(item) == 1, item
    for name in MODELS:
        assert f"| {name} |" in report and (out / "figures" / f"{name}_confusion.png").stat().st_size > 1000
    custom = [n for n, c in MODELS.items() if n != "lenet" and "weights" not in c.all_defaults()]
    # lenet: curves, filters, confusion; each custom model: filters, confusion; the best one's curves;
    # resnet18: curves, filters, confusion; the comparison.
    figures = re.findall(r"!\[([^\]]*)\]\(([^)]*)\)", report)
    assert len(figures) == 6 + 4 * len(custom) + 2 + 6 + 1
    assert all((out / path).is_file() for _, path in figures)  # relative to the report
    assert len({alt for alt, _ in figures}) == len(figures)  # every caption says which figure it is
    assert str(tmp_path) not in report and "/tmp" not in report
    assert "| **total** | | | **390,410** |" in report and "label smoothing 0.2" in report
    assert "fixed whitening filters" in report and "This layer is frozen" in report  # resnet9's first conv
    assert "compare_" in report and report.count("Discussion: write yours here") == 3


def test_report_compare_chooses_the_pair_and_lists_missing_items(tiny_runs, tmp_path):
    import shutil
    logdir = tmp_path / "logs"
    for name in ("lenet", "vgg_bn"):
        shutil.copytree(tiny_runs / name, logdir / name)
    out = tmp_path / "out"
    assert visualize.main(["report", str(logdir), "--out", str(out), "--compare", "vgg_bn", "lenet"]) == 0
    report = (out / "report.md").read_text()
    assert "python train.py --model resnet18 --gpus 1" in report and "**Missing** (3b-3g)" in report
    assert "compare_vgg_bn-version_0_lenet-version_0.png" in report


def test_report_on_an_empty_logdir(tmp_path, capsys):
    assert visualize.main(["report", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err
