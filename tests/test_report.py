"""report.py: report.md with every figure and table, from tiny runs of every registered model."""
from __future__ import annotations

import pytest

import visualize
from lit_modules import MODELS

pytestmark = pytest.mark.slow  # the tiny runs train every model end to end


def test_report_writes_every_figure_and_report_md(tiny_runs, tmp_path):
    assert visualize.main(["report", str(tiny_runs), "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    for name in MODELS:
        assert f"## {name}" in report and f"| {name} |" in report
        assert (tmp_path / "figures" / f"{name}_loss.png").exists()
        assert (tmp_path / "figures" / f"{name}_confusion.png").stat().st_size > 1000
    # Per model: loss, accuracy, three filter figures, the confusion matrix; one comparison.
    assert report.count("![") == len(MODELS) * (2 + 3 + 1) + 1
    assert "| **total** | | | **390,410** |" in report and "label smoothing 0.2" in report
    assert "fixed whitening filters" in report  # resnet9's own note on its first conv


def test_report_on_an_empty_logdir(tmp_path, capsys):
    assert visualize.main(["report", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err
