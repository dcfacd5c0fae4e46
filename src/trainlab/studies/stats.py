"""Statistics over seeds: mean, std, a 95% t-interval (clipped to the metric's range), best/worst
seed, and Holm's correction. The tests behind a verdict are in `inference`. Few seeds are the
normal case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from trainlab.track.summary import Table

ALPHA = 0.05  # two-sided family-wise significance level of the verdicts
LEVEL = 0.95  # confidence level of the intervals
POWER = 0.80  # power of the minimum detectable difference
UNIT = (0.0, 1.0)  # the range of an accuracy or a calibration error
CI_NOTE = "95% CI by t-distribution over seeds, clipped to the metric's range [0, 1]"
# Metrics are measured in float32 (about 7 significant digits). Values that agree to ROUNDING of
# their scale are one measurement, and a spread that small is rounding, not signal: taken as
# spread, two accuracies that differ by the same count of test samples in each of 3 seeds
# (float32 rounds each a little differently) gave a paired t of p=2.6e-13.
ROUNDING = 1e-6


def rounding(*groups: np.ndarray) -> float:
    """The spread below which values of `groups` count as equal: ROUNDING of their scale."""
    return ROUNDING * max([1.0] + [float(np.abs(g).max()) for g in groups if g.size])


def variance(x: np.ndarray, tol: float) -> float:
    """Sample variance (ddof=1) of `x`, exactly 0 when its values agree to within `tol`."""
    return 0.0 if float(np.ptp(x)) <= tol else float(x.var(ddof=1))


@dataclass
class Spread:
    """One variant's metric over n seeds. `std`/`ci_*` are None for one seed (no spread to tell)."""

    n: int
    mean: float
    std: float | None  # sample standard deviation (ddof=1)
    ci_low: float | None  # 95% t-interval of the mean (clipped to the metric's range if given)
    ci_high: float | None
    best: float
    best_seed: int
    worst: float
    worst_seed: int

    @property
    def half_width(self) -> float | None:
        return None if self.ci_high is None else self.ci_high - self.mean


def describe(
    values: Sequence[float],
    seeds: Sequence[int] | None = None,
    higher: bool = True,
    bounds: tuple[float, float] | None = None,
) -> Spread:
    """Mean, std and 95% CI of `values` (one per seed) and which seed was best and worst. With
    `bounds` (e.g. (0, 1) for an accuracy) the t-interval is clipped to the metric's range."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("describe() needs at least one value")
    seeds = list(seeds) if seeds is not None else list(range(x.size))
    order = np.argsort(x, kind="stable")
    hi, lo = int(order[-1]), int(order[0])
    best, worst = (hi, lo) if higher else (lo, hi)
    mean = float(x.mean())
    std = ci_low = ci_high = None
    if x.size > 1:
        std = math.sqrt(variance(x, rounding(x)))
        half = float(sps.t.ppf(0.5 + LEVEL / 2, x.size - 1)) * std / math.sqrt(x.size)
        ci_low, ci_high = mean - half, mean + half
        if bounds is not None:
            ci_low, ci_high = max(ci_low, bounds[0]), min(ci_high, bounds[1])
    return Spread(
        x.size,
        mean,
        std,
        ci_low,
        ci_high,
        float(x[best]),
        seeds[best],
        float(x[worst]),
        seeds[worst],
    )


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error control); None stays None."""
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    present.sort()
    m, running = len(present), 0.0
    adjusted: list[float | None] = [None] * len(pvalues)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def stats_table(
    title: str,
    metric: str,
    groups: Mapping[str, Sequence[float]],
    seeds: Mapping[str, Sequence[int]] | None = None,
    higher: bool = True,
    bounds: tuple[float, float] | None = UNIT,
) -> Table:
    """The per-variant descriptive table (mean, std, CI, best/worst seed), in the order given.
    Verdicts come from `trainlab.studies.verdicts`, against a declared reference."""
    present = {k: list(v) for k, v in groups.items() if len(v)}
    cols = ["variant", "n", f"{metric} mean", "std", "ci95 low", "ci95 high"]
    cols += ["best", "best seed", "worst", "worst seed"]
    rows = []
    for name, values in present.items():
        s = describe(values, (seeds or {}).get(name), higher, bounds)
        row = [name, s.n, _r(s.mean), _r(s.std), _r(s.ci_low), _r(s.ci_high), _r(s.best)]
        rows.append([*row, s.best_seed, _r(s.worst), s.worst_seed])
    ci = CI_NOTE if bounds else "95% CI by t-distribution"
    note = f"mean over finished seeds; std with ddof=1; {ci}"
    return Table(title, cols, rows, note if present else f"no finished runs for {metric}")


def interval(
    values: Sequence[float], bounds: tuple[float, float] | None = UNIT
) -> tuple[float, float, float]:
    """(mean, CI low, CI high) of `values`, clipped to `bounds` (default [0, 1], an accuracy);
    one value gives a zero-width interval."""
    s = describe(values, bounds=bounds)
    lo = s.ci_low if s.ci_low is not None else s.mean
    hi = s.ci_high if s.ci_high is not None else s.mean
    return s.mean, lo, hi


def pm(values: Sequence[float], digits: int = 3) -> str:
    """Mean ± std as text, e.g. `0.912 ± 0.004 over 3 seeds` (no ± for one seed)."""
    s = describe(values)
    std = f" ± {s.std:.{digits}f}" if s.std is not None else ""
    return f"{s.mean:.{digits}f}{std} over {s.n} seed{'s' if s.n > 1 else ''}"


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _sig(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(f"{value:.3g}")
