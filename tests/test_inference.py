"""After training: predict.py on one's own images and export.py's files, by their effect (#37)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import export as export_cli
import predict as predict_cli
from lit_modules import MODELS


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_gives_the_models_own_answer_on_the_data_modules_tensors(tiny_runs, folder_data, tmp_path):
    """The same preprocessing, proven: predict.py's probabilities for a data set's test files are the
    model's softmax on the data module's uint8 tensors of those files, normalised by the module."""
    from inference import trained

    run = trained.load(tiny_runs / "lenet" / "version_0")
    out = tmp_path / "p.csv"
    assert predict_cli.main([str(run.run_dir), str(folder_data / "test"), "--topk", "3", "--tta", "0",
                             "--gpus", "0", "--csv", str(out)]) == 0
    rows = {r["file"]: r for r in _rows(out)}
    dm = run.datamodule()
    images, labels = dm.test_set()
    classes = list(dm.classes)
    with torch.no_grad():
        probs = run.model(dm.normalize(images)).softmax(1)
    seen = {c: 0 for c in classes}
    for img_probs, label in zip(probs, labels.tolist()):  # the module's test images: class by class, files sorted
        name = classes[label]
        row = rows[f"{name}/{seen[name]:04d}.png"]
        seen[name] += 1
        top = img_probs.topk(3)
        assert [row[f"class_{j}"] for j in (1, 2, 3)] == [classes[i] for i in top.indices.tolist()]
        assert [float(row[f"prob_{j}"]) for j in (1, 2, 3)] == pytest.approx(top.values.tolist(), abs=2e-6)
    assert sum(seen.values()) == len(rows) == len(labels)


def test_a_photo_of_another_size_or_mode_is_stretched_bilinearly_to_the_models_input(tiny_runs, tmp_path, capsys):
    from inference import predict, trained

    run = trained.load(tiny_runs / "lenet" / "version_0")
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (48, 64, 4), dtype=np.uint8)  # 64 wide, 48 high, with alpha
    wide = (rng.integers(0, 65536, (40, 40), dtype=np.uint16))  # 16-bit grayscale
    Image.fromarray(rgba, "RGBA").save(tmp_path / "photo.png")
    Image.fromarray(wide).save(tmp_path / "gray16.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert predict_cli.main([str(run.run_dir), str(tmp_path), "--topk", "10", "--tta", "0", "--gpus", "0",
                             "--csv", str(tmp_path / "out" / "p.csv")]) == 0
    out, err = capsys.readouterr()
    assert "skipping" in err and "broken.jpg" in err and "2 image(s) classified" in out and "1 skipped" in out
    rows = {r["file"]: r for r in _rows(tmp_path / "out" / "p.csv")}
    expected = {
        "photo.png": Image.fromarray(rgba, "RGBA").convert("RGB").resize((32, 32), Image.Resampling.BILINEAR),
        "gray16.png": Image.fromarray(np.rint(wide / 65535 * 255).astype(np.uint8), "L").convert("RGB")
        .resize((32, 32), Image.Resampling.BILINEAR)}
    for name, im in expected.items():
        pixels = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None]
        probs = predict.probabilities(run.model, pixels, tta=0, progress=False)[0]
        row = rows[name]
        got = {row[f"class_{j}"]: float(row[f"prob_{j}"]) for j in range(1, 11)}
        assert [got[c] for c in run.classes()[0]] == pytest.approx(probs.tolist(), abs=2e-6), name


@pytest.mark.parametrize("case", ["no images", "unreadable only", "not a checkpoint", "topk", "csv"])
def test_predicts_bad_input_is_one_line_and_exit_2(case, tiny_runs, folder_data, tmp_path, capsys):
    run, images = str(tiny_runs / "lenet" / "version_0"), str(folder_data / "test" / "cat")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.png").write_bytes(b"\x89PNG but not really")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    (tmp_path / "a_file").write_text("x")
    argv, wanted = {
        "no images": ([run, str(tmp_path / "empty")], "no image files"),
        "unreadable only": ([run, str(tmp_path / "junk.png")], "none of the 1 file(s) is a readable image"),
        "not a checkpoint": ([str(tmp_path / "other.ckpt"), images], "not a checkpoint written by train.py"),
        "topk": ([run, images, "--topk", "11"], "--topk 11: the model has 10 classes"),
        "csv": ([run, images, "--csv", str(tmp_path / "a_file" / "p.csv")], "cannot write it"),
    }[case]
    assert predict_cli.main([*argv, "--gpus", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("predict.py: error: ") and wanted in err[-1], err
    assert "Traceback" not in "\n".join(err)


def test_an_old_checkpoint_without_class_names_takes_them_from_its_record_else_says_indices(tiny_runs, tmp_path):
    from inference import trained

    run = trained.load(tiny_runs / "lenet" / "version_0")
    assert run.ckpt["classes"] == list(run.datamodule().classes)  # written with every checkpoint now
    del run.ckpt["classes"]
    assert run.classes() == (list(run.datamodule().classes), "")  # from metrics.json
    run.record = None
    names, note = run.classes()
    assert names == [str(i) for i in range(10)] and "shown as indices 0-9" in note


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_exported_files_give_pytorchs_logits_in_their_runtime_for_any_batch(name, tiny_runs, tmp_path, capsys):
    """ONNX through onnxruntime, TorchScript after a save and load: the model's own logits (its
    normalisation computed outside the file, by the model) for batches of 1, 7 and 64 test images."""
    import onnxruntime as ort

    from inference import trained

    run = trained.load(tiny_runs / name / "version_0")
    images = run.datamodule().test_set()[0]
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        out = tmp_path / f"m{suffix}"
        assert export_cli.main([str(run.run_dir), "--format", fmt, "--out", str(out)]) == 0
        assert "checked with" in capsys.readouterr().out and not list(tmp_path.glob("*.tmp"))
        if fmt == "onnx":
            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            runtime = lambda x: session.run(None, {"images": x.numpy()})[0]  # noqa: E731
        else:
            loaded = torch.jit.load(str(out))
            runtime = lambda x: loaded(x).detach().numpy()  # noqa: E731
        for n in (1, 7, 64):
            batch = images[torch.arange(n) % len(images)]
            with torch.no_grad():
                want = run.model(run.model.normalize(batch)).numpy()
            assert np.abs(runtime(batch) - want).max() <= 1e-4 * max(1, np.abs(want).max()), (fmt, n)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_on_torch_2_4_onnx_goes_through_the_torchscript_exporter_with_the_same_check(name, tiny_runs, tmp_path,
                                                                                     monkeypatch, capsys):
    """requirements.txt admits torch 2.4, whose torch.onnx.export has no dynamo exporter: the older one
    (still in today's torch) writes the file, with its batch dimension dynamic, and export's own check
    in onnxruntime (batches of 1, 7 and 64) passes for every model."""
    import onnxruntime as ort

    from inference import export

    calls = []
    real = torch.onnx.export
    # torch 2.4's export: no `dynamo` argument, the TorchScript-based exporter (dynamo=False today).
    older = {"dynamo": False} if export.dynamo_exporter() else {}
    monkeypatch.setattr(export, "dynamo_exporter", lambda: False)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: calls.append(k.get("dynamo")) or real(*a, **k, **older))
    out = tmp_path / "m.onnx"
    assert export_cli.main([str(tiny_runs / name / "version_0"), "--format", "onnx", "--out", str(out)]) == 0
    assert calls == [None] and "checked with" in capsys.readouterr().out  # not told dynamo=True
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch" and session.get_inputs()[0].type == "tensor(uint8)"


def test_an_export_whose_graph_lacks_the_normalisation_is_refused(tiny_runs, tmp_path, monkeypatch, capsys):
    """The check compares the file with the model's own preprocessing, so a graph without it fails."""
    from inference import export

    monkeypatch.setattr(export.Deployable, "forward", lambda self, images: self.net(images.float()))
    out = tmp_path / "m.onnx"
    assert export_cli.main([str(tiny_runs / "lenet" / "version_0"), "--format", "onnx", "--out", str(out)]) == 2
    assert "differ from PyTorch's" in capsys.readouterr().err and not out.exists()


def test_exports_bad_input_is_one_line_and_exit_2(tiny_runs, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    for argv, wanted in (([str(tiny_runs / "lenet" / "version_0"), "--format", "onnx", "--out",
                           str(tmp_path / "a_file" / "m.onnx")], "cannot write there"),
                         ([str(tmp_path / "a_file"), "--format", "onnx"], "")):
        assert export_cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("export.py: error: ") and wanted in err[-1], err


def test_ctrl_c_during_exports_check_keeps_no_file(tiny_runs, tmp_path, monkeypatch, capsys):
    from inference import export

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "check", interrupted)
    out = tmp_path / "m.onnx"
    assert export_cli.main([str(tiny_runs / "lenet" / "version_0"), "--format", "onnx", "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip() == "export.py: stopped (Ctrl-C); no file was kept" and not out.exists()


def test_mistakes_are_the_highest_loss_images_a_planted_mislabel_first(tiny_runs, tmp_path, capsys):
    """A test image relabelled as the class the model finds least likely of any image and class:
    that image then has the highest loss of all, so it leads the mistakes, with both classes and
    probabilities."""
    import visualize
    from inference import mistakes, trained

    run = trained.load(tiny_runs / "lenet" / "version_0")
    scored = mistakes.score(run)
    i, wrong = divmod(int(scored.probs.argmin()), len(scored.classes))
    guess = int(scored.probs[i].argmax())
    scored.labels = scored.labels.clone()
    scored.labels[i] = wrong
    worst = scored.worst(5)
    assert worst[0]["index"] == i and worst[0]["true"] == scored.classes[wrong] and worst[0]["pred"] == scored.classes[guess]
    assert worst[0]["p_true"] == pytest.approx(float(scored.probs[i, wrong])) and worst[0]["loss"] >= worst[1]["loss"]
    losses = -torch.log(scored.probs[torch.arange(len(scored.labels)), scored.labels])
    assert [r["index"] for r in worst] == losses.argsort(descending=True)[:5].tolist()

    assert visualize.main(["mistakes", str(run.run_dir), "--n", "6", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| class | precision | recall | F1 | test images |" in out and "expected calibration error" in out
    for suffix in ("mistakes", "per_class", "reliability"):
        assert (tmp_path / f"{run.name}_{suffix}.png").stat().st_size > 5000
    assert visualize.main(["cam", str(run.run_dir), "--images", "0", "3", "--out", str(tmp_path)]) == 0
    assert visualize.main(["cam", str(run.run_dir), "--images", "999"]) == 2


def test_per_class_numbers_are_torchmetrics_on_a_known_case():
    from figures.mistakes import per_class

    labels = torch.tensor([0, 0, 1, 1, 2])
    preds = torch.tensor([0, 1, 1, 1, 0])  # class 0: P 1/2 R 1/2; class 1: P 2/3 R 1; class 2: P 0 R 0
    rows = per_class(torch.eye(3)[preds], labels, ["a", "b", "c"])
    assert [(r["precision"], r["recall"], r["images"]) for r in rows] == \
        [(0.5, 0.5, 2), (pytest.approx(2 / 3), 1.0, 2), (0.0, 0.0, 1)]
    assert rows[1]["f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))


def test_expected_calibration_error_equals_a_hand_computation():
    """Four images in two bins of 2 (of 15 equal-width bins): confidences 0.9, 0.9 (one right) and
    0.6, 0.6 (both right). ECE = sum over bins of share * |accuracy - confidence|
    = 0.5 * |0.5 - 0.9| + 0.5 * |1.0 - 0.6| = 0.4."""
    from figures.calibration import calibration

    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 0, 1])
    cal = calibration(probs, labels)
    assert cal["ece"] == pytest.approx(0.4, abs=1e-6)
    filled = [(round(a, 6), round(c, 6), s) for a, c, s in zip(cal["accuracy"], cal["confidence"], cal["share"]) if s]
    assert filled == [(1.0, 0.6, 0.5), (0.5, 0.9, 0.5)]
    sure = calibration(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]))  # confidence exactly 1
    assert sure["share"][-1] == 1.0 and sure["accuracy"][-1] == 0.5 and sure["ece"] == pytest.approx(0.5)


def test_grad_cam_puts_its_mass_where_the_network_looks():
    """A network whose conv block sees only the left half of the image (its output is zero on the
    right): every heatmap lies in the left half. Heatmaps follow the class asked for."""
    from torch import nn

    from figures.cam import grad_cam
    from lit_modules.base import BaseClassifier

    class LeftOnly(nn.Module):
        def forward(self, x):
            return torch.cat([x[..., : x.shape[-1] // 2], torch.zeros_like(x[..., x.shape[-1] // 2:])], -1)

    class LooksLeft(BaseClassifier):
        name = "looks_left"

        def build_network(self):
            torch.manual_seed(0)
            return nn.Sequential(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), LeftOnly()),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    model = LooksLeft()
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    cams = grad_cam(model, images, torch.arange(8) % 10)
    left, right = cams[..., :14].sum(), cams[..., 18:].sum()  # the bilinear upsampling blurs the middle
    assert cams.amax() == pytest.approx(1.0) and left > 0 and right == 0
    other = (torch.arange(8) + 1) % 10
    assert not torch.allclose(cams, grad_cam(model, images, other))
    both = grad_cam(model, images, (torch.arange(8) % 10, other))  # one forward pass, two classes each
    assert torch.allclose(both[0], cams) and torch.allclose(both[1], grad_cam(model, images, other))


def test_grad_cam_of_ones_own_files_is_for_predicts_top_two_on_predicts_pixels(tiny_runs, folder_data, tmp_path,
                                                                                  monkeypatch, capsys):
    """`visualize.py cam RUN --images FILES`: the heatmaps are asked for the classes predict.py ranks
    first and second, on the pixels predict.py decodes (a photo of another size stretched the same
    way); an unreadable file is named and skipped; indices and files together are a one-line error."""
    import figures.cam
    import visualize
    from inference import images as own
    from inference import trained

    run = str(tiny_runs / "vgg_bn" / "version_0")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("cat", "ship")):
        img = Image.open(next((folder_data / "test" / name).iterdir())).convert("RGB")
        img.resize((96, 64) if i else (32, 32)).save(photos / f"{name}{'.jpg' if i else '.png'}")
    (photos / "junk.png").write_text("not an image")
    asked = []
    real = figures.cam.grad_cam
    monkeypatch.setattr(figures.cam, "grad_cam", lambda model, x, classes: asked.append((x, classes)) or real(model, x, classes))
    assert visualize.main(["cam", run, "--images", str(photos), "--out", str(tmp_path / "fig")]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "fig" / "vgg_bn-version_0_cam_files.png").stat().st_size > 1000
    assert f"skipping {photos / 'junk.png'}: not a readable image" in err
    assert predict_cli.main([run, str(photos), "--topk", "2", "--csv", str(tmp_path / "p.csv")]) == 0
    want = _rows(tmp_path / "p.csv")
    (pixels, (first, second)), = asked
    names = trained.load(run).classes()[0]
    assert [(names[a], names[b]) for a, b in zip(first.tolist(), second.tolist())] == \
        [(r["class_1"], r["class_2"]) for r in want]
    assert torch.equal(pixels, own.decode(sorted(p for p in photos.iterdir() if p.name != "junk.png"), 32)[0])
    capsys.readouterr()
    assert visualize.main(["cam", run, "--images", "3", str(photos)]) == 2
    assert capsys.readouterr().err.strip() == (f"visualize.py: error: --images 3 {photos}: give test image indices "
                                               f"or image files and folders, not both")


def test_the_final_test_saves_its_probabilities_and_the_report_uses_them(tiny_runs, monkeypatch):
    """The final test's softmax per test image goes beside the record; the mistakes read it instead
    of scoring the test set again, unless it is another checkpoint's."""
    from core import run_folder
    from inference import mistakes, predict, trained

    run = trained.load(tiny_runs / "vgg_bn" / "version_0")
    saved = torch.load(run.run_dir / run_folder.PROBS, weights_only=True)
    assert saved["checkpoint"] == run.path.name and saved["tta"] == run.model.hparams.tta
    fresh = predict.probabilities(run.model, run.datamodule().test_set()[0], tta=run.model.hparams.tta, progress=False)
    assert torch.allclose(saved["probs"], fresh, atol=1e-6)
    calls = []
    real = predict.probabilities
    monkeypatch.setattr(predict, "probabilities", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert torch.equal(mistakes.score(run).probs, saved["probs"]) and calls == []
    run.path = run.path.with_name("best-epoch09-val_acc0.9999.ckpt")  # another checkpoint's: scored again
    assert torch.allclose(mistakes.score(run).probs, fresh) and calls == [1]


def test_ctrl_c_while_predicting_is_one_line_and_exit_130(tiny_runs, folder_data, tmp_path, monkeypatch, capsys):
    """Not Lightning's 'Detected KeyboardInterrupt' and exit 1: predict.py's own line; no CSV."""
    import os
    import signal

    from lit_modules.base import BaseClassifier

    real = BaseClassifier.predict_step
    monkeypatch.setattr(BaseClassifier, "predict_step",
                        lambda self, *a, **k: os.kill(os.getpid(), signal.SIGINT) or real(self, *a, **k))
    before = signal.getsignal(signal.SIGINT)
    table = tmp_path / "p.csv"
    assert predict_cli.main([str(tiny_runs / "lenet" / "version_0"), str(folder_data / "test"), "--csv", str(table)]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"predict.py: stopped (Ctrl-C); nothing was written to {table}"
    assert "Detected KeyboardInterrupt" not in err and "Traceback" not in err and not table.exists()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_failed_prediction_leaves_an_existing_csv_as_it_was(tiny_runs, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    table = tmp_path / "predictions.csv"
    table.write_text("file,class_1\nyesterday.png,cat\n")
    assert predict_cli.main([str(tiny_runs / "lenet" / "version_0"), str(tmp_path / "junk.png"), "--csv", str(table),
                             "--gpus", "0"]) == 2
    assert table.read_text() == "file,class_1\nyesterday.png,cat\n"
