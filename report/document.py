"""The report: `write_report` writes report.md, the skeleton of the assignment's report, with every
figure and table (report/tables.py) from a logdir's runs.

    python visualize.py report [LOGDIR] [--out DIR]
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from core.errors import UserError
from report import curves, facts
from report.page import Page
from report.tables import results_table


def _accuracy(runs: list[dict]) -> float:
    """The mean over seeds of the best checkpoint's test accuracy (val where a run has no test)."""
    finals = [m.get("final") or {} for m in runs]
    return sum(f.get("test_acc") or f.get("val_acc") or 0.0 for f in finals) / len(finals)


def _transfer_note(m: dict) -> str:
    """What trains in a transfer-learning run, and from which weights: from its recorded recipe."""
    weights = (m.get("hparams") or {}).get("weights", "imagenet")
    if weights == "imagenet":
        return "Only layer4 and the classifier train; the rest keeps its ImageNet weights."
    if weights == "none":
        return ("Trained without ImageNet weights (`--weights none`): only layer4 and the classifier train, "
                "the rest keeps its random initialisation, so this is not transfer learning.")
    return f"Only layer4 and the classifier train; the rest keeps the weights of `{Path(weights).name}`."


FORMATS = ("md", "pdf", "tex")


def write_report(logdir: Path, out: Path, compare: Sequence[str] | None = None, dataset: str | None = None,
                 named: Sequence[str] | None = None, formats: Sequence[str] = ("md",),
                 ablation: Path | None = None) -> list[Path]:
    """The report as report.md, report.pdf and/or latex/report.tex (FORMATS), one set of figures for all;
    `ablation`: an ablation's records folder, whose verdicts answer 2e."""
    page = build_report(logdir, out, compare, dataset, named, ablation)
    return [write_format(page, fmt) for fmt in formats]


def build_report(logdir: Path, out: Path, compare: Sequence[str] | None = None, dataset: str | None = None,
                 named: Sequence[str] | None = None, ablation: Path | None = None) -> Page:
    """The report's page (its figures drawn into out/figures) in the order of the assignment's items,
    for one data set's runs (report/runs.py); items without a run say how to make one. Which section a
    model belongs to is its registered `role`."""
    from datamodules.sources import DATASETS
    from report import runs as chosen_runs

    if compare is not None and len(compare) < 2:
        raise UserError("--compare needs two or more runs (model names or run folders)")
    data, latest, note, pool = chosen_runs.select(logdir, dataset, named)
    roles = {role: [n for n in latest if _role(n) == role] for role in ("baseline", "custom", "transfer")}
    every = [m for runs in latest.values() for m in runs]
    r = Page(out, logdir, every, data)
    r.add(f"# {DATASETS[data].title if data in DATASETS else data} results",
          "Made by `python visualize.py report` from " + ("the runs named" if named else "each model's latest "
          "experiment (its latest finished run's settings)") + ", the seeds of one experiment merged; paths are "
          "relative to this file. Val and test numbers are the "
          "best checkpoint's (by validation accuracy), re-scored with the model's TTA. " + note,
          results_table(every))
    _baseline_section(r, latest, roles["baseline"])
    _custom_section(r, latest, roles["custom"], pool, ablation)
    _transfer_section(r, latest, roles["transfer"], compare)
    if (logdir / "optuna.db").is_file():
        from report.study import report_section

        report_section(r, logdir)
    return r


def write_format(r: Page, fmt: str) -> Path:
    path = r.out / f"report.{fmt}"
    if fmt == "tex":  # a folder of its own, figures included: upload it to Overleaf as it is, and
        path = _latex_folder(r.out)  # compiling it does not overwrite report.pdf
    if fmt == "md":
        from report import markdown

        path.write_text(markdown.render(r.blocks))
    elif fmt == "pdf":
        from report import pdf

        pdf.render(r.blocks, r.out, path, title_block(r))
    else:
        from report import latex

        path.write_text(latex.render(r.blocks, title_block(r)))
    return path


def _latex_folder(out: Path) -> Path:
    import shutil

    folder = out / "latex"
    if (folder / "figures").is_dir():
        shutil.rmtree(folder / "figures")
    shutil.copytree(out / "figures", folder / "figures")
    return folder / "report.tex"


def title_block(r: Page) -> dict[str, str]:
    """The PDF's and LaTeX's title: the data set, the date, the commit and the machine of the runs."""
    import datetime

    first = r.blocks[0].text if r.blocks else "Results"
    commits = sorted({(m.get("environment") or {}).get("git_commit") or "unknown" for m in r.runs})
    devices = sorted({m.get("device", "?") for m in r.runs})
    return {"title": first, "date": datetime.date.today().isoformat(), "commit": ", ".join(c[:12] for c in commits),
            "machine": "; ".join(devices), "dataset": r.dataset}


def _role(name: str) -> str:
    from lit_modules import MODELS

    return MODELS[name].role if name in MODELS else "custom"


def _example(role: str, fallback: str) -> str:
    """The command that makes a missing section's run: a registered model of that role."""
    from lit_modules import MODELS

    name = next((n for n, cls in MODELS.items() if cls.role == role), fallback)
    return f"python train.py --model {name}" + (" --gpus 1" if role == "transfer" else "")


def _baseline_section(r: Page, latest: dict, names: list[str]) -> None:
    r.add("## 1. LeNet baseline")
    if not names:
        r.missing("1a-1c", _example("baseline", "lenet"))
        return
    runs = latest[names[0]]
    r.run_line(runs)
    r.add("### 1a. Training curves")
    r.curves(runs, "The assignment's train, validation and test curves in a single plot.")
    r.add("### 1b. Final accuracies", results_table(runs))
    r.discuss(facts.final_numbers(runs))
    r.add("### 1c. Parameters")
    shown = r.model_section(runs, filters=True)
    p = runs[0]["params"]
    r.discuss([f"{runs[0]['model']}: {p['total']:,} parameters, {p['trainable']:,} trained"] + facts.filters(runs[0]["model"], shown))


def _custom_section(r: Page, latest: dict, custom: list[str], pool: list[dict], ablation: Path | None) -> None:
    r.add("## 2. Custom CNNs")
    if not custom:
        r.missing("2a-2d" if ablation else "2a-2e", _example("custom", "vgg_bn"))
        if ablation:
            _what_helped(r, pool, ablation)
        return
    r.add("### 2a. Architectures and training details")
    for n in custom:
        r.add(f"#### {n}")
        r.run_line(latest[n])
        r.model_section(latest[n], filters=True)
    r.add("### 2b. The custom models side by side", results_table([m for n in custom for m in latest[n]]))
    r.discuss([f for n in custom for f in facts.final_numbers(latest[n])])
    best = max(custom, key=lambda n: _accuracy(latest[n]))
    r.add(f"### 2c/2d. Curves of the best custom model ({best})")
    r.curves(latest[best], "The most accurate custom model by test accuracy.")
    _what_helped(r, pool, ablation)


def _what_helped(r: Page, pool: list[dict], ablation: Path | None) -> None:
    """2e: the ablation's verdicts where one is named (report/ablation.py), and the facts of the logdir's runs."""
    r.add("### 2e. What helped, what did not")
    if ablation is not None:
        from report.ablation import section

        section(r, ablation)
    r.discuss(facts.ablation([m for m in pool if _role(m["model"]) == "custom"]))


def _transfer_section(r: Page, latest: dict, transfer: list[str], compare: Sequence[str] | None) -> None:
    r.add("## 3. Transfer learning")
    if transfer:
        runs = latest[transfer[0]]
        r.run_line(runs)
        r.add("### 3b/3c. Training curves")
        r.curves(runs, _transfer_note(runs[0]))
        r.add("### 3e/3f/3g. First conv activations, last conv block activations, first-conv weights")
        r.discuss(facts.filters(runs[0]["model"], r.model_section(runs, filters=True)))
    else:
        r.missing("3b-3g", _example("transfer", "resnet18"))
    groups = [latest_or_path(latest, c) for c in compare] if compare else default_pair(latest, transfer)
    r.add("### 3d. Comparison in one plot")
    if len(groups) < 2:
        r.missing("3d", _example("transfer", "resnet18"))
        return
    labels = curves.compare_labels([g[0] for g in groups])
    r.figure(curves.plot_compare(groups, r.figures),
             "Train (dashed) and validation (solid) loss of " + " and ".join(labels) + " in one plot"
             + (", seeds as a mean and a band" if any(len(g) > 1 for g in groups) else "") + "."
             + ("" if compare or transfer else " No transfer-learning run here: the two most accurate models instead."))
    r.discuss(facts.lowest_val_loss(groups))


def default_pair(latest: dict[str, list[dict]], transfer: list[str]) -> list[list[dict]]:
    """The most accurate experiment against the transfer-learning one, or the two most accurate;
    all of one data set (the report's)."""
    ranked = sorted(latest.values(), key=_accuracy, reverse=True)
    if transfer and ranked[0][0]["model"] != transfer[0]:
        return [ranked[0], latest[transfer[0]]]
    return ranked[:2]


def latest_or_path(latest: dict[str, list[dict]], spec: str) -> list[dict]:
    """--compare takes a model name (its experiment here) or a run folder / metrics.json."""
    return latest[spec] if spec in latest else [curves.load_run(spec)]
