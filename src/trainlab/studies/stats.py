"""Statistics over seeds: mean, std, a 95% t-interval, best/worst seed, and Welch's t-test against
the best variant with a verdict in words. Few seeds are the normal case; the words say so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from trainlab.track.summary import Table

ALPHA = 0.05  # two-sided significance level of the pairwise tests
LEVEL = 0.95  # confidence level of the intervals


@dataclass
class Spread:
    """One variant's metric over n seeds. `std`/`ci_*` are None for one seed (no spread to tell)."""

    n: int
    mean: float
    std: float | None  # sample standard deviation (ddof=1)
    ci_low: float | None  # 95% t-interval of the mean
    ci_high: float | None
    best: float
    best_seed: int
    worst: float
    worst_seed: int

    @property
    def half_width(self) -> float | None:
        return None if self.ci_high is None else self.ci_high - self.mean


@dataclass
class Comparison:
    """A variant against a reference (the best one): difference of means, Welch's test, verdict."""

    diff: float  # mean(variant) - mean(reference)
    t: float | None
    p: float | None  # None when no test is possible (one seed, or no spread in either group)
    verdict: str  # better | worse | within noise at n seeds | inconclusive: ...


def describe(
    values: Sequence[float], seeds: Sequence[int] | None = None, higher: bool = True
) -> Spread:
    """Mean, std and 95% CI of `values` (one per seed) and which seed was best and worst."""
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
        std = float(x.std(ddof=1))
        half = float(sps.t.ppf(0.5 + LEVEL / 2, x.size - 1)) * std / math.sqrt(x.size)
        ci_low, ci_high = mean - half, mean + half
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


def compare(a: Sequence[float], ref: Sequence[float], higher: bool = True) -> Comparison:
    """Is `a` better or worse than `ref`? Welch's t-test (unequal variances), two-sided at 5%."""
    xa, xr = np.asarray(a, dtype=float), np.asarray(ref, dtype=float)
    diff = float(xa.mean() - xr.mean())
    n = min(xa.size, xr.size)
    sign = diff if higher else -diff
    if n < 2:
        return Comparison(diff, None, None, f"inconclusive: {n} seed, no test possible")
    va, vr = xa.var(ddof=1), xr.var(ddof=1)
    if va == 0 and vr == 0:
        if diff == 0:
            return Comparison(diff, None, None, f"within noise at {n} seeds (identical values)")
        word = "better" if sign > 0 else "worse"
        return Comparison(diff, None, None, f"{word} (every seed; no spread in either)")
    with warnings.catch_warnings():  # one group without spread: scipy warns, the test still holds
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.ttest_ind(xa, xr, equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    if p < ALPHA and sign != 0:
        word = "better" if sign > 0 else "worse"
    else:
        word = f"within noise at {n} seeds"
    return Comparison(diff, t, p, word)


def best_variant(groups: Mapping[str, Sequence[float]], higher: bool = True) -> str:
    """The variant with the best mean (first of equals, in the order given)."""
    means = {k: float(np.mean(v)) for k, v in groups.items() if len(v)}
    if not means:
        raise ValueError("no variant has a value")
    pick = max if higher else min
    return pick(means, key=lambda k: means[k])


def against_best(
    groups: Mapping[str, Sequence[float]], higher: bool = True
) -> tuple[str, dict[str, Comparison]]:
    """The best variant and every other one compared with it."""
    best = best_variant(groups, higher)
    return best, {
        k: compare(v, groups[best], higher) for k, v in groups.items() if k != best and len(v)
    }


def stats_table(
    title: str,
    metric: str,
    groups: Mapping[str, Sequence[float]],
    seeds: Mapping[str, Sequence[int]] | None = None,
    higher: bool = True,
) -> tuple[Table, list[str]]:
    """The per-variant table (mean, std, CI, best/worst seed, p and verdict vs the best) and the
    verdict sentences, e.g. "sgd vs adam on test_acc: worse (p=0.003, n=3)"."""
    present = {k: list(v) for k, v in groups.items() if len(v)}
    if not present:
        return Table(title, ["variant"], [], f"no finished runs for {metric}"), []
    best, comps = against_best(present, higher)
    cols = ["variant", "n", f"{metric} mean", "std", "ci95 low", "ci95 high"]
    cols += ["best", "best seed", "worst", "worst seed", "diff vs best", "p (Welch)", "verdict"]
    rows, verdicts = [], []
    for name, values in sorted(
        present.items(), key=lambda kv: -np.mean(kv[1]) * (1 if higher else -1)
    ):
        s = describe(values, (seeds or {}).get(name), higher)
        c = comps.get(name)
        verdict = "best" if c is None else c.verdict
        diff, p = (c.diff, c.p) if c is not None else (0.0, None)
        row = [name, s.n, _r(s.mean), _r(s.std), _r(s.ci_low), _r(s.ci_high), _r(s.best)]
        rows.append([*row, s.best_seed, _r(s.worst), s.worst_seed, _r(diff), _sig(p), verdict])
        if c is not None:
            shown = "" if c.p is None else f"p={c.p:.3g}, "
            verdicts.append(f"{name} vs {best} on {metric}: {c.verdict} ({shown}n={s.n})")
    note = (
        f"mean over seeds; std with ddof=1; {LEVEL:.0%} CI by t-distribution; Welch's t-test "
        f"against the best variant ({best}), two-sided, alpha={ALPHA}, no multiple-test correction"
    )
    return Table(title, cols, rows, note), verdicts


def interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, CI low, CI high) of `values`; one value gives a zero-width interval."""
    s = describe(values)
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
