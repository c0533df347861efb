"""README's code does what README says it does: run as written, not read."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def readme_block(after: str) -> str:
    """The indented code block that follows the paragraph ending with `after`."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(after)) + 1
    while not lines[start].strip():
        start += 1
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block)


@pytest.mark.slow
def test_the_onnxruntime_lines_classify_a_photo_as_predict_does_without_torch(tiny_runs, folder_data, tmp_path,
                                                                              monkeypatch, capsys):
    """export.py's default file name, then README's lines in a fresh interpreter that must never
    import torch: the class they print is predict.py's top-1 for the same JPEG."""
    import export as export_cli
    import predict as predict_cli

    code = readme_block("with onnxruntime alone, no torch:")
    assert "onnxruntime" in code and "cat.jpg" in code
    photo = tmp_path / "cat.jpg"
    Image.open(next((folder_data / "test" / "cat").iterdir())).convert("RGB").save(photo, quality=90)
    monkeypatch.chdir(tmp_path)
    assert export_cli.main([str(tiny_runs / "vgg_bn" / "version_0"), "--format", "onnx"]) == 0
    table = tmp_path / "p.csv"
    assert predict_cli.main([str(tiny_runs / "vgg_bn" / "version_0"), str(photo), "--csv", str(table), "--gpus", "0"]) == 0
    capsys.readouterr()
    with open(table, newline="") as f:
        top1 = next(csv.DictReader(f))["class_1"]
    no_torch = code + "\nimport sys; assert 'torch' not in sys.modules, 'the lines imported torch'\n"
    done = subprocess.run([sys.executable, "-c", no_torch], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == top1, done.stdout
