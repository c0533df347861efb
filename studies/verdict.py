"""Is a difference between two groups of runs more than seed noise? Welch's t-test: the
difference of the means with its 95% confidence interval, unequal variances allowed; when the
interval holds zero, the difference is "within seed noise". The t quantile is scipy's."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Verdict:
    diff: float  # mean(a) - mean(b)
    low: float
    high: float
    df: float

    @property
    def noise(self) -> bool:
        return self.low <= 0 <= self.high

    def text(self, scale: float = 100.0, unit: str = " pts") -> str:
        """+1.23 pts [-0.40, +2.86], within seed noise"""
        s = lambda v: f"{scale * v:+.2f}"
        return (f"{s(self.diff)}{unit} [{s(self.low)}, {s(self.high)}]"
                + (", within seed noise" if self.noise else ""))


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Verdict | None:
    """The verdict on mean(a) - mean(b); None unless each side has two or more values."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.mean(a) - statistics.mean(b)
    se = math.sqrt(va + vb)
    if se == 0:  # identical repeats on both sides: no spread to weigh the difference against
        return Verdict(diff, diff, diff, float("inf"))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return Verdict(diff, diff - half, diff + half, df)


def paired(diffs: Sequence[float], confidence: float = 0.95) -> Verdict | None:
    """The verdict on the mean of paired differences (two scorings of the same weights, one pair a
    seed): Student's t on the differences alone; None under two pairs."""
    from scipy import stats

    if len(diffs) < 2:
        return None
    diff, se = statistics.mean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    if se == 0:
        return Verdict(diff, diff, diff, float("inf"))
    half = stats.t.ppf(0.5 + confidence / 2, len(diffs) - 1) * se
    return Verdict(diff, diff - half, diff + half, len(diffs) - 1)
