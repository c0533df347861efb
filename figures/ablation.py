"""An ablation's verdicts as one picture (results/ablation.png, the report's 2e): each row
measured over enough seeds, its test-accuracy difference to the defaults with Welch's 95% interval,
best at the top, coloured by verdict, the "did not matter" band shaded."""
from __future__ import annotations

from pathlib import Path

from figures.style import plt, save

COLORS = {"better": "tab:green", "worse": "tab:red", "noise": "tab:gray", "unsure": "tab:orange"}
LABELS = {"better": "better, beyond seed noise", "worse": "worse, beyond seed noise",
          "noise": "did not matter", "unsure": "undecided: seeds spread too far"}
# Points of test accuracy the axis shows. Most rows differ by a few points; without BatchNorm a run
# loses 35-76, which on one axis would squeeze every other interval to a dot. Those are drawn to the
# edge with their number, and so is an interval that runs past an edge (CutMix: -5.3, down to -6.7).
XLIM = (-6.0, 3.0)


def interval_figure(found: dict, ref_mean: float, n_ref: int, margin: float, path: Path) -> list[tuple[str, str, bool]]:
    """Draws `found` (report/ablation.verdicts) into `path`; returns its rows top to bottom
    as (row, verdict, its numbers written beside it: it or its interval reaches past the axis)."""
    group = {n: g for g in COLORS for n in found[g]}
    rows = sorted(group, key=lambda n: found["verdicts"][n].diff)  # the first at the bottom
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * max(len(rows), 1)))
    ax.axvspan(-100 * margin, 100 * margin, color="0.92", zorder=0)
    ax.axvline(0, color="0.3", lw=0.8)
    drawn = []
    for y, name in enumerate(rows):
        v, color = found["verdicts"][name], COLORS[group[name]]
        d, lo, hi = (100 * x for x in (v.diff, v.low, v.high))
        clip = lambda x: min(max(x, XLIM[0]), XLIM[1])
        edge, cut = not XLIM[0] <= d <= XLIM[1], not XLIM[0] <= lo <= hi <= XLIM[1]
        ax.plot([clip(lo), clip(hi)], [y, y], color=color, lw=2)
        ax.plot(clip(d), y, marker="<" if d < XLIM[0] else ">" if d > XLIM[1] else "o", color=color, ms=7)
        written = None
        if edge or cut:  # the numbers beside the point at the edge, else beside the end of the bar in view
            at, right = ((clip(d), d < 0) if edge or (lo < XLIM[0] and hi > XLIM[1])
                         else (hi, True) if lo < XLIM[0] else (lo, False))
            written = ax.annotate(f"{d:+.1f} pts [{lo:+.1f}, {hi:+.1f}]", (at, y), xytext=(10 if right else -10, 0),
                                  textcoords="offset points", va="center", ha="left" if right else "right",
                                  fontsize=8, bbox={"fc": "white", "ec": "none", "pad": 1})
        drawn.append((name, group[name], written is not None))
    for g, label in LABELS.items():  # the legend: only the verdicts present
        if found[g]:
            ax.plot([], [], color=COLORS[g], lw=2, marker="o", label=label)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlim(*XLIM)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"test accuracy against the defaults ({100 * ref_mean:.2f}%, n={n_ref}), points\n"
                  f"bars: Welch's 95% interval; shaded: within ±{100 * margin:.0f} pt")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=8)  # 4 in a row run off
    ax.grid(axis="x", alpha=0.3)
    save(fig, path)
    return drawn[::-1]
