"""report/document.py: report.md with every figure and table, from tiny runs of every registered model."""
from __future__ import annotations

import re

import pytest
import torch

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
        assert f"| {name} |" in report and (out / "figures" / f"{name}-version_0_confusion.png").stat().st_size > 1000
    custom = [n for n, c in MODELS.items() if n != "lenet" and "weights" not in c.all_defaults()]
    # lenet: curves, filters, confusion, mistakes, per-class bars, reliability; each custom model: the
    # same but curves; the best one's curves; resnet18: as lenet; the comparison.
    figures = re.findall(r"!\[([^\]]*)\]\(([^)]*)\)", report)
    assert len(figures) == 9 + 7 * len(custom) + 2 + 9 + 1
    for name in MODELS:  # each model's mistakes with Grad-CAM, its per-class table and reliability diagram
        assert (out / "figures" / f"{name}-version_0_mistakes.png").stat().st_size > 5000
        assert f"Per-class precision, recall and F1 of {name} on the test set" in report
        assert re.search(rf"{name}: reliability diagram, .* expected calibration error \d+\.\d\d%", report)
    assert all((out / path).is_file() for _, path in figures)  # relative to the report
    assert len({alt for alt, _ in figures}) == len(figures)  # every caption says which figure it is
    assert str(tmp_path) not in report and "/tmp" not in report
    assert "| **total** | | | **390,410** |" in report and "label smoothing 0.2" in report
    assert "fixed whitening filters" in report and "This layer is frozen" in report  # resnet9's first conv
    assert "compare_" in report and report.count("Discussion: write yours here") == 6  # 1b, 1c, 2b, 2e, 3e-3g, 3d
    # Captions and tables that used to say something false:
    captions = {path: alt for alt, path in figures}
    assert "keeps its ImageNet weights" not in captions["figures/resnet18-version_0_loss.png"]  # --weights none
    assert "not trained (its random initialisation)" in captions["figures/resnet18-version_0_filters_weights.png"]
    assert "Trained without ImageNet weights (`--weights none`)" in report
    assert all("loss" not in alt for alt, path in figures if path.endswith("_acc.png"))
    assert "| input resized in forward() (no layer) | 3x64x64 |  | 0 |" in report  # resnet18 upsampled (to 64 in the tests)
    assert "| net.backbone.layer4.0.downsample.1 (BatchNorm2d) | 512x2x2 |  | 1,024 |" in report  # no ReLU there
    assert "| net.backbone.layer4.0.relu (ReLU), after a sum | 512x2x2 | ReLU | 0 |" in report
    assert "| net.backbone.layer4.1.bn2 (BatchNorm2d) | 512x2x2 |  | 1,024 |" in report  # the add comes first
    assert "| net.backbone.layer4.1.relu (ReLU), after a sum | 512x2x2 | ReLU | 0 |" in report
    assert "| net.backbone.conv1 (Conv2d) | 64x32x32 |  | 9,408 (frozen) |" in report
    assert "| net.0 (Conv2d) | 24x31x31 | GELU | 312 (288 frozen) |" in report  # resnet9's whitening


def test_a_report_is_about_one_data_set_with_seeds_merged(two_data_sets, tmp_path):
    out = tmp_path / "out"
    assert visualize.main(["report", str(two_data_sets), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# CIFAR-10 results") and "`folder` (2; `--dataset folder` makes their report)" in report
    assert "Runs: `lenet/version_0` (seed 0), `lenet/version_1` (seed 1)" in report  # not the later 3-class run
    assert "| lenet | changed" not in report.split("## 1.")[0]  # one row per model...
    rows = [line for line in report.split("## 1.")[0].splitlines() if line.startswith("| lenet")]
    assert len(rows) == 1 and "| 2 (seeds 0 1) |" in rows[0] and "±" in rows[0]  # ...the seeds merged
    assert "figures/lenet-2seeds_loss.png" in report
    # 3d: the two most accurate experiments of this data set, never the 3-class runs (versions 2 and 1).
    assert "compare_lenet-version_0_vgg_bn-version_0.png" in report or "compare_vgg_bn-version_0_lenet-version_0.png" in report

    assert visualize.main(["report", str(two_data_sets), "--out", str(out), "--dataset", "folder"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# image-folder results") and "Run: `lenet/version_2` (seed 0) in" in report
    assert "compare_vgg_bn-version_1_lenet-version_2.png" in report or "compare_lenet-version_2_vgg_bn-version_1.png" in report


def test_a_report_on_named_runs_and_its_errors(two_data_sets, tmp_path, capsys):
    out = tmp_path / "out"
    lenet = two_data_sets / "lenet"
    assert visualize.main(["report", "--runs", str(lenet / "version_1"), str(two_data_sets / "vgg_bn" / "version_0"),
                           "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "Run: `lenet/version_1` (seed 1)" in report and "from the runs named" in report
    assert visualize.main(["report", "--runs", str(lenet / "version_0"), str(lenet / "version_2"), "--out", str(out)]) == 2
    assert visualize.main(["report", str(two_data_sets), "--dataset", "cifar100", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "used 2 data sets (cifar10, folder)" in err[0]
    assert "--dataset cifar100: no run here used it; these did: cifar10 (3 runs), folder (2 runs)" in err[1]


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


def test_2e_answers_with_a_named_ablations_verdicts_and_its_figure(two_data_sets, tmp_path, capsys):
    """`--ablation RECORDS`: 2e says what the ablation's intervals allow and shows its figure; a folder
    without the defaults' records is a one-line error."""
    import json

    from conftest import ROOT

    records = tmp_path / "records"
    records.mkdir()
    template = json.loads((ROOT / "results" / "ablation" / "full_seed0.json").read_text())
    for row, changes, accs in (("full", {}, [0.85, 0.86, 0.87]), ("adam", {"optimizer": "adam"}, [0.80, 0.805, 0.81])):
        for seed, acc in enumerate(accs):
            (records / f"{row}_seed{seed}.json").write_text(json.dumps(
                {**template, "seed": seed, "changes": changes, "final": {**template["final"], "test_acc": acc}}))
    out = tmp_path / "out"
    assert visualize.main(["report", str(two_data_sets), "--out", str(out), "--ablation", str(records)]) == 0
    e = (out / "report.md").read_text().split("### 2e.")[1].split("## 3.")[0]
    assert "From the ablation in `.../records`: vgg_bn's defaults against one change at a time, 6 full runs" in e
    assert "- **Hurt most**: optimizer=adam (`adam`, -5.50 pts [" in e
    assert "](figures/ablation.png)" in e and (out / "figures" / "ablation.png").stat().st_size > 5000
    assert "Discussion: write yours here" in e  # the student's own words still have their place
    (records / "full_seed0.json").rename(records / "other_seed0.json")
    for name in ("full_seed1.json", "full_seed2.json"):
        (records / name).unlink()
    assert visualize.main(["report", str(two_data_sets), "--out", str(out), "--ablation", str(records)]) == 2
    assert "no ablation records of the defaults (full_seed<N>.json) there" in capsys.readouterr().err
    (records / "full_seed0.json").write_text("{not json")
    assert visualize.main(["report", str(two_data_sets), "--out", str(out), "--ablation", str(records)]) == 2
    assert "not an ablation's records (JSONDecodeError: " in capsys.readouterr().err


def test_report_on_an_empty_logdir(tmp_path, capsys):
    assert visualize.main(["report", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["lenet", "resnet9"])  # resnet9 scores with flip+translate TTA
def test_the_confusion_matrix_counts_what_the_run_scored_its_test_accuracy_on(name, tiny_runs, tmp_path, monkeypatch):
    import json

    from inference import trained
    from report import checkpoint_figures

    seen = []
    real = checkpoint_figures.confusion_figure
    monkeypatch.setattr(checkpoint_figures, "confusion_figure", lambda cm, *a: seen.append(cm) or real(cm, *a))
    run = tiny_runs / name / "version_0"
    saved = checkpoint_figures.run_folder.read_confusion(run)  # written by the run's final test
    assert saved is not None and saved["tta"] == MODELS[name].all_defaults()["tta"]
    checkpoint_figures.plot_confusion(trained.load(run), tmp_path)  # the counts the run's test saved
    assert seen[0].tolist() == saved["counts"]
    monkeypatch.setattr(checkpoint_figures.run_folder, "read_confusion", lambda run_dir: None)  # an older run
    checkpoint_figures.plot_confusion(trained.load(run), tmp_path)  # recomputed
    final = json.loads((run / "metrics.json").read_text())["final"]
    for cm in seen:
        assert cm.trace().item() / cm.sum().item() == pytest.approx(final["test_acc"], abs=1e-6)
    assert torch.equal(seen[0], seen[1])
