"""The report as a student hands it in: report.pdf (fpdf2) and report.tex (pdflatex), each with every
section and figure of report.md, tables inside the page, names from runs escaped; the discussion
facts follow the records; 3f shows the last conv block; resnet18 upsamples as Code Listing 1."""
from __future__ import annotations

import copy
import re
import shutil
import subprocess

import pytest
import torch
from torch import nn

import train
import visualize
from conftest import write_folder_tree
from lit_modules import MODELS
from report import facts

ODD = "a_b%c#d"  # a class name and a logdir with LaTeX's special characters


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One lenet run on a 3-class tree whose class and logdir names hold _ % #, reported in all formats."""
    root = tmp_path_factory.mktemp("formats")
    tree = write_folder_tree(root / "tree", n_train=4, n_test=2, classes=(ODD, "b", "c"))
    logdir = root / f"logs_{ODD}"
    assert train.main(["--model", "lenet", "--gpus", "0", "--epochs", "2", "--batch-size", "8", "--val-size", "3",
                       "--dataset", "folder", "--data-dir", str(tree), "--logdir", str(logdir)]) == 0
    out = root / "report"
    assert visualize.main(["report", str(logdir), "--out", str(out), "--format", "md,pdf,tex"]) == 0
    return out


def _headings(md: str) -> list[str]:
    return [ln.lstrip("#").strip() for ln in md.splitlines() if ln.startswith("## ") or ln.startswith("### ")]


def _figures(md: str) -> int:
    return len(re.findall(r"^!\[", md, flags=re.M))


def _text_runs(path):
    """The reader, and (page width, x, text, font size, font name) of every text run of the PDF."""
    from pypdf import PdfReader

    reader, runs = PdfReader(str(path)), []
    for page in reader.pages:
        def visit(text, cm, tm, font, size, page=page):
            if text.strip():
                name = str((font or {}).get("/BaseFont", ""))
                runs.append((float(page.mediabox.width), tm[4] * cm[0] + cm[4], text, size * abs(tm[0]) * cm[0], name))
        page.extract_text(visitor_text=visit)
    return reader, runs


def _advances():
    """Per font of the PDF (matplotlib's DejaVu files), each character's advance in em."""
    from pathlib import Path

    import matplotlib
    from fontTools.ttLib import TTFont

    ttf, fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf", {}
    for key, name in (("Mono", "DejaVuSansMono.ttf"), ("Bold", "DejaVuSans-Bold.ttf"),
                      ("Oblique", "DejaVuSans-Oblique.ttf"), ("", "DejaVuSans.ttf")):
        font = TTFont(str(ttf / name))
        hmtx, em = font["hmtx"], font["head"].unitsPerEm
        fonts[key] = {chr(c): hmtx[g][0] / em for c, g in font.getBestCmap().items()}
    return fonts


def test_the_pdf_holds_every_section_and_figure_and_no_text_runs_off_the_page(report):
    md = (report / "report.md").read_text()
    reader, runs = _text_runs(report / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    for title in _headings(md):
        assert re.sub(r"`", "", title) in flat, title
    assert sum(len(page.images) for page in reader.pages) == _figures(md) >= 5
    assert ODD in flat
    assert len(reader.pages) > 1 and "1 / " in text  # numbered pages
    fonts = _advances()
    for width, x, run, size, name in runs:  # the run's end, from its font's own advance widths
        em = next(f for key, f in fonts.items() if key.lower() in name.lower())
        end = x + size * sum(em.get(ch, 1.0) for ch in run.rstrip())
        assert end <= width + 0.5, f"text runs off the page ({end:.0f} > {width:.0f} pt): {run!r}"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base "
                                                              "and texlive-latex-recommended; .ci/run installs them)")
def test_the_latex_source_compiles_with_pdflatex_as_it_is(report, tmp_path):
    from pypdf import PdfReader

    folder = shutil.copytree(report / "latex", tmp_path / "latex")
    tex = (folder / "report.tex").read_text()
    md = (report / "report.md").read_text()
    items = [ln for ln in md.splitlines() if ln.startswith("### ")]  # the assignment's items: 1a, 1b, ...
    assert tex.count(r"\section*{") == len(items) >= 4 and tex.count(r"\part*{") == md.count("\n## ")
    assert r"\toprule" in tex and tex.count("% TODO") == md.count("> *Discussion") and r"a\_b\%c\#d" in tex
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-1500:]
    reader = PdfReader(str(folder / "report.pdf"))
    assert sum(len(page.images) for page in reader.pages) == _figures(md)
    assert ODD in re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_a_format_that_does_not_exist_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as e:
        visualize.parse_args(["report", "--format", "md,docx"])
    assert e.value.code == 2 and "'docx' is not a format; give some of md, pdf, tex" in capsys.readouterr().err


def test_discussion_facts_follow_the_records(report):
    """The numbers next to a discussion place are the record's: change the record, the sentence changes."""
    from core import run_folder

    run = next((report.parent / f"logs_{ODD}" / "lenet").iterdir())
    m = run_folder.read_record(run)
    before = facts.final_numbers([m])[0]
    assert f"test accuracy {100 * m['final']['test_acc']:.2f}%" in before
    assert f"- {before}" in (report / "report.md").read_text()
    changed = copy.deepcopy(m)
    changed["final"]["test_acc"] = 0.4321
    assert "test accuracy 43.21%" in facts.final_numbers([changed])[0]


def _record(model: str, seed: int, acc: float, changes: dict | None = None) -> dict:
    recipe = {"model": dict(changes or {})}
    return {"model": model, "seed": seed, "changes": changes or {}, "recipe": recipe, "epochs": [{"epoch": 1}],
            "final": {"test_acc": acc}, "data": {}, "status": "finished", "device": "cpu", "precision": "32"}


def test_the_ablation_facts_name_the_largest_and_smallest_effect_and_their_verdicts():
    runs = ([_record("vgg_bn", s, a) for s, a in ((0, 0.80), (1, 0.81), (2, 0.79))]
            + [_record("vgg_bn", s, a, {"batchnorm": False}) for s, a in ((0, 0.70), (1, 0.71), (2, 0.69))]
            + [_record("vgg_bn", s, a, {"dropout": 0.3}) for s, a in ((0, 0.80), (1, 0.82), (2, 0.79))]
            + [_record("vgg_bn", 0, 0.85, {"width": 2.0})])
    largest, smallest = facts.ablation(runs)
    assert largest.startswith("largest effect of 3 changes: vgg_bn with batchnorm=False, test accuracy -10.00 points")
    assert largest.endswith("beyond seed noise")
    assert smallest.startswith("smallest effect of 3 changes: vgg_bn with dropout=0.3, test accuracy +0.33 points")
    assert smallest.endswith("within seed noise")
    one_seed = facts.ablation([_record("vgg_bn", 0, 0.8), _record("vgg_bn", 0, 0.85, {"width": 2.0})])
    assert one_seed == ["largest effect of 1 changes: vgg_bn with width=2.0, test accuracy +5.00 points against its "
                        "defaults (not measured over seeds: n=1 against n=1)"]
    assert facts.ablation([_record("vgg_bn", 0, 0.8)]) == []  # nothing to compare: no fact


def test_3f_shows_the_last_conv_blocks_output_as_model_children_minus_the_last_two_give_it():
    from figures.filters import capture

    torch.manual_seed(0)
    model = MODELS["resnet18"](weights="none").eval()
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    cap = capture(model, image)
    net = model.net
    x = nn.functional.interpolate(model.normalize(image[None]) * net.scale + net.shift, scale_factor=8)
    with torch.no_grad():
        layer4 = nn.Sequential(*list(net.backbone.children())[:-2])(x)[0]
    assert cap["last_name"] == "net.backbone.layer4" and tuple(cap["last"].shape) == (512, 8, 8)
    assert torch.allclose(cap["last"], layer4, atol=1e-5)  # after layer4's BatchNorm, shortcut and ReLU
    assert (cap["last"] >= 0).all()  # a ReLU's output; the bare last conv's is not
    assert tuple(capture(MODELS["lenet"]().eval(), image)["last"].shape) == (128, 4, 4)  # after its pooling


def test_resnet18_upsamples_as_code_listing_1_by_default_and_bilinear_when_asked():
    seen = {}
    for mode in ("nearest", "bilinear"):
        model = MODELS["resnet18"](weights="none", **({} if mode == "nearest" else {"upsample_mode": mode})).eval()
        hook = model.net.backbone.conv1.register_forward_pre_hook(lambda mod, i, mode=mode: seen.__setitem__(mode, i[0]))
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            model(x)
        hook.remove()
        listing = nn.functional.interpolate(x * model.net.scale + model.net.shift, scale_factor=8)  # nearest
        assert torch.equal(seen[mode], listing) == (mode == "nearest")
    assert MODELS["resnet18"].all_defaults()["upsample_mode"] == "nearest"
