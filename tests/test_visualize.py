"""visualize.py: the results table from runs' metrics.json, and its errors."""
from __future__ import annotations

import json

import visualize


def write_run(run_dir, **overrides) -> None:
    m = {"model": "lenet", "params": {"total": 390410, "trainable": 390410}, "seconds": 200.0,
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
    assert "| lenet | 390,410 (390,410) | 2 | 100.0 | 1.2000 | 56.00% | 1.1000 | 61.00% | 61.30% |" in out[2]


def test_table_of_a_crashed_run_shows_its_partial_curve(tmp_path, capsys):
    write_run(tmp_path / "a", status="failed", final=None)
    assert visualize.main(["table", str(tmp_path / "a")]) == 0
    assert "lenet (failed)" in capsys.readouterr().out


def test_missing_or_broken_metrics_are_one_line_errors(tmp_path, capsys):
    assert visualize.main(["table", str(tmp_path / "nothing")]) == 2
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.json").write_text('{"model": "len')
    assert visualize.main(["table", str(tmp_path / "half")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "not valid JSON" in err[1]
