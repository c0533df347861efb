"""results/ablation.md from the ablation's records (experiments/ablation.py writes them and calls this).

Runs of one row are repeats whatever machine ran them: a row's seeds may come from different
sessions and CPU types, whose kernels move the numbers about as much as a seed does. The verdicts
are Welch's 95% intervals (studies/verdict.py); the first lines only say what the intervals allow.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

MIN_SEEDS = 3  # what a row needs before the summary draws a conclusion from it
# "Did not matter" needs more than an interval holding zero: it must also rule out a difference that
# would matter to a student, here one point either way. A row whose seeds disagree widely (a
# constant lr 0.2 that diverges on one seed in three) holds zero too, but says nothing.
MARGIN = 0.01


def load(records: Path, rows) -> list[dict]:
    """The records in the rows' order, each tagged with its row."""
    runs = []
    for name, _, _ in rows:
        for f in sorted(records.glob(f"{name}_seed*.json"), key=lambda f: int(f.stem.rsplit("_seed", 1)[1])):
            runs.append({**json.loads(f.read_text()), "ablation_row": name})
    return runs


def verdicts(runs: list[dict], rows) -> dict | None:
    """Each row with MIN_SEEDS against the defaults (Welch's interval), sorted into better, worse, noise
    (did not matter) and unsure; None while the defaults have fewer than MIN_SEEDS seeds."""
    from studies.verdict import welch

    accs = {name: [m["final"]["test_acc"] for m in runs if m["ablation_row"] == name] for name, _, _ in rows}
    ref = accs["full"]
    if len(ref) < MIN_SEEDS:
        return None
    found = {name: welch(a, ref) for name, a in accs.items() if name != "full" and len(a) >= MIN_SEEDS}
    noise = [n for n, v in found.items() if v.noise and -MARGIN <= v.low and v.high <= MARGIN]
    return {"accs": accs, "ref": ref, "verdicts": found,
            "better": sorted((n for n, v in found.items() if v.low > 0), key=lambda n: -found[n].diff),
            "worse": sorted((n for n, v in found.items() if v.high < 0), key=lambda n: found[n].diff),
            "noise": noise, "unsure": [n for n, v in found.items() if v.noise and n not in noise]}


def summary(runs: list[dict], rows) -> list[str]:
    """Which change helped most and which hurt most, beyond seed noise, among rows with MIN_SEEDS."""
    found = verdicts(runs, rows)
    what = {name: text for name, text, _ in rows}
    if found is None:
        n = sum(m["ablation_row"] == "full" for m in runs)
        return [f"No conclusions yet: the defaults have {n} of the {MIN_SEEDS} seeds a comparison needs."]
    accs, ref, better, worse, noise, unsure = (found[k] for k in ("accs", "ref", "better", "worse", "noise", "unsure"))
    text = lambda name: f"{what[name]} (`{name}`, {found['verdicts'][name].text()})"
    lines = [f"Test accuracy against the defaults' {100 * statistics.mean(ref):.2f}% (n={len(ref)}), "
             f"{len(found['verdicts'])} of {len(rows) - 1} suggestions measured over {MIN_SEEDS}+ seeds:"]
    lines.append(f"- **Helped most**: {text(better[0])}." if better else
                 "- **Nothing beat the defaults** beyond seed noise.")
    lines += [f"- Also better: {', '.join(text(n) for n in better[1:])}."] if better[1:] else []
    if worse:
        lines.append(f"- **Hurt most**: {text(worse[0])}; the part of the defaults it takes away or replaces "
                     f"matters most.")
        lines += [f"- Also worse: {', '.join(text(n) for n in worse[1:])}."] if worse[1:] else []
    lines += [f"- **Did not matter** (within seed noise, and within {100 * MARGIN:.0f} pt either way): "
              f"{', '.join(f'{what[n]} (`{n}`)' for n in noise)}."] if noise else []
    lines += [f"- **Undecided** (the interval holds zero, but also changes of more than {100 * MARGIN:.0f} pt; "
              f"the seeds spread too far for {MIN_SEEDS} to decide): "
              f"{', '.join(f'{text(n)}; {seeds_against(accs[n], ref)}' for n in unsure)}."] if unsure else []
    todo = [n for n, a in accs.items() if len(a) < MIN_SEEDS]
    lines += [f"- Not measured over {MIN_SEEDS} seeds yet: {', '.join(f'`{n}` (n={len(accs[n])})' for n in todo)}."] if todo else []
    return lines


def seeds_against(accs: list[float], ref: list[float]) -> str:
    """The row's seeds, and where they all sit against the defaults' range when they do."""
    pct = lambda v: f"{100 * v:.2f}%"
    where = (f": all below the defaults' lowest ({pct(min(ref))})" if max(accs) < min(ref) else
             f": all above the defaults' highest ({pct(max(ref))})" if min(accs) > max(ref) else "")
    return f"seeds {' '.join(pct(a) for a in accs)}{where}"


def tta_table(runs: list[dict]) -> str:
    """TTA on the same weights: the full recipe's last per-epoch test pass has none, its final scoring
    of the same checkpoint (where the best epoch is the last) adds the flip."""
    lines = ["| full, seed | test, no TTA | test, flip TTA | val, no TTA | val, flip TTA |", "|---|---|---|---|---|"]
    for m in runs:
        last, final = m["epochs"][-1], m["final"]
        if m["ablation_row"] == "full" and final["epoch"] == last["epoch"]:
            pct = lambda v: f"{100 * v:.2f}%"
            lines.append(f"| {m['seed']} | {pct(last['test_acc'])} | {pct(final['test_acc'])} "
                         f"| {pct(last['val_acc'])} | {pct(final['val_acc'])} |")
    return "\n".join(lines) if len(lines) > 2 else "(no full run whose best epoch is its last yet)"


def _figure(runs: list[dict], rows, out: Path) -> list[str]:
    """OUT's figure (OUT with .png), written, and the lines that show it; none before any verdict
    (and a figure of an earlier table removed, not left to contradict this one)."""
    from experiments.ablation_figure import interval_figure

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
    where = Counter((m["device"], (m.get("environment") or {}).get("git_commit", "?")[:7]) for m in runs)
    rel = lambda p: Path(p).resolve().relative_to(Path(out).resolve().parent) if Path(p).resolve().is_relative_to(Path(out).resolve().parent) else p
    doc = [f"# {model} ablation: task 2(e), every suggestion of the assignment against the defaults", "",
           *summary(runs, rows), "", *_figure(runs, rows, out),
           f"Full default-length runs (10 epochs) on the shared JPEG copy of CIFAR-10 (45,000 / 5,000 split "
           f"by the seed, the 10,000 test images), one process a run, made and continued by", "",
           "    python experiments/ablation.py --data-dir <copy>     # --list: the rows and the runs still missing", "",
           f"Each run's metrics.json is in [{rel(records)}/]({rel(records)}/) as `<row>_seed<N>.json`; this page is "
           f"`python experiments/ablation.py --table-only`. Runs by machine and commit (each record names its own; "
           f"the defaults reproduce earlier commits' training to the last bit, tests/test_experiment_keys.py):", ""]
    doc += [f"- {n} on {device}, commit {commit}" for (device, commit), n in where.most_common()]
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
