"""results/ablation.md and its figure from the ablation's records (experiments/ablation.py writes
them and calls this; the verdicts and the summary lines are report/ablation.py's)."""
from __future__ import annotations

import statistics
from pathlib import Path

from report.ablation import MARGIN, load, machines, summary, tta_pairs, verdicts


def tta_table(runs: list[dict]) -> str:
    """TTA on the same weights: the full recipe's last per-epoch test pass has none, its final scoring
    of the same checkpoint (where the best epoch is the last) adds the flip."""
    lines = ["| full, seed | test, no TTA | test, flip TTA | val, no TTA | val, flip TTA |", "|---|---|---|---|---|"]
    pct = lambda v: f"{100 * v:.2f}%"
    for seed, last, final in tta_pairs(runs):
        lines.append(f"| {seed} | {pct(last['test_acc'])} | {pct(final['test_acc'])} "
                     f"| {pct(last['val_acc'])} | {pct(final['val_acc'])} |")
    return "\n".join(lines) if len(lines) > 2 else "(no full run whose best epoch is its last yet)"


def _figure(runs: list[dict], rows, out: Path) -> list[str]:
    """OUT's figure (OUT with .png), written, and the lines that show it; none before any verdict
    (and a figure of an earlier table removed, not left to contradict this one)."""
    from figures.ablation import interval_figure

    found, png = verdicts(runs, rows), Path(out).with_suffix(".png")
    png.unlink(missing_ok=True)
    if not found or not found["verdicts"]:
        return []
    interval_figure(found, statistics.mean(found["ref"]), len(found["ref"]), MARGIN, png)
    return [f"![Each suggestion's test accuracy against the defaults, with its 95% interval]({png.name})", ""]


def write(records: Path, out: Path, rows, model: str) -> None:
    from report.tables import results_table

    runs = load(records, rows)
    seeds = {name: sorted(m["seed"] for m in runs if m["ablation_row"] == name) for name, _, _ in rows}
    rel = lambda p: Path(p).resolve().relative_to(Path(out).resolve().parent) if Path(p).resolve().is_relative_to(Path(out).resolve().parent) else p
    doc = [f"# {model} ablation: task 2(e), every suggestion of the assignment against the defaults", "",
           *summary(runs, rows), "", *_figure(runs, rows, out),
           "Full default-length runs (10 epochs) on the shared JPEG copy of CIFAR-10 (45,000 / 5,000 split "
           "by the seed, the 10,000 test images), one process a run, made and continued by", "",
           "    python experiments/ablation.py --data-dir <copy>     # --list: the rows and the runs still missing", "",
           f"Each run's metrics.json is in [{rel(records)}/]({rel(records)}/) as `<row>_seed<N>.json`; this page is "
           f"`python experiments/ablation.py --table-only`. Runs by machine and commit (each record names its own; "
           f"the defaults reproduce earlier commits' training to the last bit, tests/test_experiment_keys.py):", ""]
    doc += [f"- {line}" for line in machines(runs)]
    doc += ["", "## The rows", "", "| row | suggestion | command (plus `--data-dir <copy> --seed N`) | seeds done |",
            "|---|---|---|---|"]
    for name, what, flags in rows:
        command = " ".join(["python train.py --model", model, *flags])
        doc.append(f"| {name} | {what} | `{command}` | {' '.join(map(str, seeds[name])) or 'none'} |")
    doc += ["", "## Results", "",
            "`visualize.py table`'s columns, a row's seeds merged (mean ± std, n), the last column Welch's "
            "95% interval of the test-accuracy difference to the defaults where both have 2+ seeds. Val "
            "and test are the best checkpoint's, re-scored with flip TTA. s/epoch is not comparable "
            "between rows that ran on different machines or beside other work.", "",
            results_table(runs, key=lambda m: m["ablation_row"]) if runs else "(no runs yet)", "",
            "## TTA", "", tta_table(runs), ""]
    notes = records / "notes.md"  # hand-written observations, kept apart from what is generated
    doc += [notes.read_text()] if notes.exists() else []
    out.write_text("\n".join(doc))
