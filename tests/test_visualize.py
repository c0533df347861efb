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
    assert out[2] == "| lenet | 390,410 (390,410) | 2 | 100.0 | 1.2000 | 56.00% | 1.1000 | 61.00% | 61.30% | none | cpu |"


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
    assert out[2].split(" | ")[4] == "n/a" and out[3].split(" | ")[4] == "1.75"


def test_table_of_a_crashed_run_shows_its_partial_curve(tmp_path, capsys):
    write_run(tmp_path / "a", status="failed", final=None)
    assert visualize.main(["table", str(tmp_path / "a")]) == 0
    assert "lenet (failed)" in capsys.readouterr().out


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


def test_filter_activations_reach_tensorboard_with_the_right_shapes(folder_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import train
    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "1", "--batch-size", "32", "--val-size", "20",
                       "--data-dir", str(folder_data), "--logdir", str(tmp_path), "--filter-image", "3"]) == 0
    events = EventAccumulator(str(tmp_path / "lenet" / "version_0"), size_guidance={"images": 0}).Reload()
    images = {t: events.Images(t)[-1] for t in events.Tags()["images"]}
    assert (images["filters/image"].width, images["filters/image"].height) == (32, 32)
    # lenet: 32 first-conv maps of 32x32 in a 6x6 grid; 128 last-conv maps of 8x8, the 64 most active
    # in an 8x8 grid; 32 RGB 5x5 filters, each enlarged to 20x20 (1-pixel borders between tiles).
    assert (images["filters/first_conv_activations"].width, images["filters/first_conv_activations"].height) == (199, 199)
    assert images["filters/last_conv_activations"].width == 8 * 9 + 1
    assert images["filters/first_conv_weights"].width == 6 * 21 + 1


def test_capture_finds_resnet18s_first_and_last_convs():
    import torch

    from callbacks.filters import activation_grid, capture
    from lit_modules.resnet18 import ResNet18
    cap = capture(ResNet18(weights="none"), torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    assert cap["first_name"] == "net.backbone.conv1" and cap["first"].shape == (64, 128, 128)
    assert cap["last_name"] == "net.backbone.layer4.1.conv2" and cap["last"].shape == (512, 8, 8)
    assert cap["weights"].shape == (64, 3, 7, 7)
    assert activation_grid(cap["last"], k=64).shape == (3, 8 * 9 + 1, 8 * 9 + 1)


def test_curves_leave_out_a_stage_the_run_did_not_score_each_epoch(tmp_path, monkeypatch):
    # resnet9 scores the test set only at the end: its epoch rows have no test_* keys.
    rows = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.6, "val_loss": 1.1, "val_acc": 0.5} for e in (1, 2)]
    write_run(tmp_path / "a", epochs=rows)
    labels = []

    def save(fig, path):
        labels.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        visualize.plt.close(fig)
        return path
    monkeypatch.setattr(visualize, "_save", save)
    visualize.plot_curves(visualize.load_run(tmp_path / "a"), tmp_path / "out")
    assert labels == [["train", "val"], ["train", "val"]]
