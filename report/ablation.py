"""Task 2(e) from an ablation's records (experiments/ablation.py writes them, `<row>_seed<N>.json`):
each row measured over MIN_SEEDS seeds against the defaults (row `full`), Welch's 95% interval
(studies/verdict.py), and the lines that say which change helped most and which hurt most as far as
the intervals allow. results/ablation.md (experiments/ablation_table.py) and the report's 2e
(`visualize.py report --ablation DIR`) both say it from here.

Runs of one row are repeats whatever machine ran them: a row's seeds may come from different
sessions and CPU types, whose kernels move the numbers about as much as a seed does.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from core.recipe import settings_text, tta_name

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


def rows_from(records: Path) -> list[tuple[str, str, list]]:
    """The rows the records hold, `full` first, each described by what its runs changed (the
    experiment's own descriptions live with it: experiments/ablation_rows.py)."""
    found: dict[str, str] = {}
    for f in sorted(Path(records).glob("*_seed*.json")):
        changes = json.loads(f.read_text()).get("changes") or {}
        found.setdefault(f.stem.rsplit("_seed", 1)[0], settings_text(changes, "the defaults"))
    return sorted(((name, what, []) for name, what in found.items()), key=lambda r: r[0] != "full")


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
    lines += [tta] if (tta := tta_line(runs)) else []
    todo = [n for n, a in accs.items() if len(a) < MIN_SEEDS]
    lines += [f"- Not measured over {MIN_SEEDS} seeds yet: {', '.join(f'`{n}` (n={len(accs[n])})' for n in todo)}."] if todo else []
    return lines


def tta_pairs(runs: list[dict]) -> list[tuple[int, dict, dict]]:
    """(seed, the last epoch's scores, the final ones) of each run of the defaults whose best epoch is its
    last: the same weights scored without TTA (the per-epoch pass) and with it (the final scoring)."""
    return [(m["seed"], m["epochs"][-1], m["final"]) for m in runs if m["ablation_row"] == "full" and m.get("epochs")
            and m["final"].get("epoch") == m["epochs"][-1]["epoch"]]


def tta_line(runs: list[dict]) -> str | None:
    """TTA's own verdict: part of the defaults, so not a row; paired, as each pair is one set of weights."""
    from studies.verdict import paired

    pairs = tta_pairs(runs)
    found = paired([final["test_acc"] - last["test_acc"] for _, last, final in pairs])
    tta = (runs[0].get("hparams") or {}).get("tta") if runs else None
    return (f"- **TTA** ({tta_name(tta) if tta is not None else 'flip'}, in the defaults; the same weights scored "
            f"with it and without): {found.text()} test, paired over {len(pairs)} seeds.") if found else None


def seeds_against(accs: list[float], ref: list[float]) -> str:
    """The row's seeds, and where they all sit against the defaults' range when they do."""
    pct = lambda v: f"{100 * v:.2f}%"
    where = (f": all below the defaults' lowest ({pct(min(ref))})" if max(accs) < min(ref) else
             f": all above the defaults' highest ({pct(max(ref))})" if min(accs) > max(ref) else "")
    return f"seeds {' '.join(pct(a) for a in accs)}{where}"


def machines(runs: list[dict]) -> list[str]:
    """"15 on cpu (AMD EPYC, 1 threads), commit 2afd34e": the runs by machine and commit, most first."""
    where = Counter((m["device"], (m.get("environment") or {}).get("git_commit", "?")[:7]) for m in runs)
    return [f"{n} on {device}, commit {commit}" for (device, commit), n in where.most_common()]


def section(r, records: Path) -> None:
    """The report's 2e from an ablation's records (`visualize.py report --ablation DIR`): where the
    runs came from, the summary lines, the figure. `r`: the report's Page."""
    from core.errors import UserError
    from figures.ablation import interval_figure

    fix = "pass the --records folder of `python experiments/ablation.py` (default results/ablation)"
    try:
        rows = rows_from(records)
        if not rows or rows[0][0] != "full":
            raise UserError(f"--ablation {records}: no ablation records of the defaults (full_seed<N>.json) "
                            f"there; {fix}")
        runs = load(records, rows)
        lines = summary(runs, rows)
    except (ValueError, KeyError, TypeError) as e:  # a JSON file that is not a finished run's record
        raise UserError(f"--ablation {records}: not an ablation's records ({type(e).__name__}: {e}); {fix}") from None
    devices = ", ".join(sorted({m["device"] for m in runs}))
    commits = len({(m.get("environment") or {}).get("git_commit") for m in runs})
    r.add(f"From the ablation in `{records}`: {runs[0]['model']}'s defaults against one change at a time, "
          f"{len(runs)} full runs of `python experiments/ablation.py` on {devices} ({commits} commits; each "
          f"record names its own).", "\n".join(lines))
    found = verdicts(runs, rows)
    if found and found["verdicts"]:
        ref = found["ref"]
        path = r.figures / "ablation.png"
        interval_figure(found, statistics.mean(ref), len(ref), MARGIN, path)
        r.figure(path, f"Each change's test accuracy against the defaults ({len(ref)} seeds a row), with Welch's "
                       f"95% interval; rows beyond the axis are drawn at its edge with their numbers.")
