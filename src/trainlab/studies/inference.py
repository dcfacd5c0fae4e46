"""The tests behind a verdict, exact at small n: the sign-flip permutation test of per-seed
differences (paired by seed) or a permutation test of two groups, failed seeds entered as the
metric's worst value; the seeds x test-examples test that counts the test set's own sampling
error; the smallest p a design can reach; the difference a test detects (noncentral t) and the
seeds a study needs. The verdict's p is the larger of the exact and the test-set p.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.optimize import brentq

from trainlab.studies.stats import LEVEL, POWER, rounding, variance

EXACT_MAX = 16  # seeds up to which the sign-flip test enumerates all 2^n flips (65,536)
RESAMPLES = 100_000  # Monte Carlo flips / permutations beyond that (seeded: the same p each time)


@dataclass
class Test:
    """One two-sided test of mean(a) - mean(ref) and the effect's 95% CI.

    `p` is the larger of `p_exact` (seeds; failures as the worst value) and `p_examples`
    (seeds x test examples, where per-example outcomes exist); it never goes below `floor`."""

    diff: float  # mean(a) - mean(ref) over the seeds both finished (paired) or each finished
    ci: tuple[float, float] | None  # 95% CI of diff (seeds and, where known, test examples)
    p: float | None
    test: str  # e.g. "exact sign-flip (8 flips) + seeds x examples t"
    n: int  # pairs entered (paired), or the smaller group
    se: float | None  # standard error of diff
    df: float | None
    floor: float = 1.0  # the smallest p the exact test can give at this n
    p_exact: float | None = None
    p_examples: float | None = None
    examples: int | None = None  # test examples behind p_examples


def floor_paired(n: int) -> float:
    """The smallest two-sided p of the exact sign-flip test of n pairs: 2 / 2^n."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def floor_unpaired(na: int, nb: int) -> float:
    """The smallest two-sided p of the exact permutation test of groups of na and nb."""
    return min(1.0, 2.0 / math.comb(na + nb, na)) if na and nb else 1.0


def seeds_needed(alpha: float) -> int:
    """The fewest pairs whose exact sign-flip test can reach a two-sided `alpha`."""
    return max(1, math.ceil(math.log2(2.0 / alpha) - 1e-12))


def sign_flip(d: np.ndarray) -> tuple[float, str]:
    """Two-sided p of mean(d) = 0 by flipping the signs of the differences: all 2^n flips up to
    EXACT_MAX, else RESAMPLES seeded random flips, p = (1 + hits) / (1 + RESAMPLES)."""
    n = d.size
    tol = rounding(d) * n
    obs = abs(float(d.sum()))
    if obs <= tol:
        return 1.0, f"exact sign-flip ({2**n} flips)"
    if n <= EXACT_MAX:
        codes = np.arange(2**n)[:, None] >> np.arange(n)[None, :]
        signs = (codes & 1) * 2 - 1  # (2^n, n)
        stats_ = np.abs(signs @ d)
        return float(np.mean(stats_ >= obs - tol)), f"exact sign-flip ({2**n} flips)"
    rng = np.random.default_rng(0)
    hits = 0
    for start in range(0, RESAMPLES, 10_000):
        signs = rng.choice((-1.0, 1.0), size=(min(10_000, RESAMPLES - start), n))
        hits += int(np.sum(np.abs(signs @ d) >= obs - tol))
    return (1 + hits) / (1 + RESAMPLES), f"sign-flip, {RESAMPLES} Monte Carlo flips"


def permutation(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """Two-sided p of mean(a) = mean(b) by permuting the group labels: every split when they
    number at most RESAMPLES (scipy's permutation_test needs two values a group), else scipy's
    permutation_test with RESAMPLES seeded resamples."""
    tol = rounding(a, b)
    obs = abs(float(a.mean() - b.mean()))
    if obs <= tol:
        return 1.0, "exact permutation"
    splits = math.comb(a.size + b.size, a.size)
    if splits <= RESAMPLES:
        pooled = np.concatenate([a, b])
        picks = np.array(list(itertools.combinations(range(pooled.size), a.size)))
        in_a = np.zeros((len(picks), pooled.size), bool)
        np.put_along_axis(in_a, picks, True, axis=1)
        null = (in_a * pooled).sum(1) / a.size - (~in_a * pooled).sum(1) / b.size
        t = float(a.mean() - b.mean())
        # two-sided as scipy's permutation_test: twice the smaller one-sided p, at most 1
        one = min(np.mean(null <= t + tol), np.mean(null >= t - tol))
        return min(1.0, 2 * float(one)), f"exact permutation ({splits} splits)"
    res = sps.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        rng=0,
    )
    return min(1.0, float(res.pvalue)), f"permutation, {RESAMPLES} Monte Carlo"


def examples_se(ca: np.ndarray, cr: np.ndarray, paired: bool) -> tuple[float, float, float] | None:
    """(diff, se, df) of the mean accuracy difference counting seeds and test examples.

    `ca`, `cr`: (seeds, examples) 0/1 outcomes on one test set (rows aligned by seed when
    `paired`). The variance is the two-way (seeds x examples) sum: the per-seed differences'
    variance / n plus the per-example differences' (mean over seeds) variance / N. It counts
    their interaction twice, so it errs wide. Degrees of freedom by Welch-Satterthwaite."""
    n_ex = ca.shape[1]
    if n_ex < 2 or ca.shape[1] != cr.shape[1]:
        return None
    if paired:
        if ca.shape[0] < 2 or ca.shape != cr.shape:
            return None
        delta = ca.astype(float) - cr.astype(float)
        parts = [(float(delta.mean(1).var(ddof=1)) / ca.shape[0], ca.shape[0] - 1)]
        e = delta.mean(0)
    else:
        if ca.shape[0] < 2 or cr.shape[0] < 2:
            return None
        parts = [(float(c.mean(1).var(ddof=1)) / c.shape[0], c.shape[0] - 1) for c in (ca, cr)]
        e = ca.mean(0) - cr.mean(0)
    parts.append((float(e.var(ddof=1)) / n_ex, n_ex - 1))
    total = sum(v for v, _ in parts)
    diff = float(e.mean())
    if total <= 0:
        return diff, 0.0, float(n_ex - 1)
    df = total**2 / sum(v**2 / k for v, k in parts if v > 0)
    return diff, math.sqrt(total), df


def difference(
    a: Mapping[int, float | None],
    ref: Mapping[int, float | None],
    worst: float,
    examples_a: Mapping[int, np.ndarray] | None = None,
    examples_ref: Mapping[int, np.ndarray] | None = None,
) -> Test:
    """Test mean(a) - mean(ref). Keys are seeds; a value None is a planned seed that did not
    finish (failed or diverged): the exact test enters it as `worst` (the metric's worst value),
    so a variant whose weak seeds fail is not helped by losing them. Paired by seed when both
    planned the same seeds; the effect and its CI are over the seeds both finished.
    `examples_*`: per seed the 0/1 test outcomes behind an accuracy (None: not known)."""
    paired = set(a) == set(ref) and len(a) >= 2
    fa = {s: v for s, v in a.items() if v is not None}
    fr = {s: v for s, v in ref.items() if v is not None}
    if paired:
        both = sorted(set(fa) & set(fr))
        if not both:
            return Test(math.nan, None, None, "none", 0, None, None)
        entered = [s for s in sorted(a) if s in fa or s in fr]
        d_all = np.array([_or(a[s], worst) - _or(ref[s], worst) for s in entered], float)
        p_exact, how = sign_flip(d_all)
        floor = floor_paired(len(entered))
        d = np.array([fa[s] - fr[s] for s in both], float)
        diff, n = float(d.mean()), len(both)
        se_s = math.sqrt(variance(d, rounding(d)) / n) if n >= 2 else None
        df_s = float(n - 1)
        rows = both
    else:
        xa = np.array([_or(v, worst) for v in a.values()], float)
        xr = np.array([_or(v, worst) for v in ref.values()], float)
        if xa.size < 1 or xr.size < 1 or not fa or not fr:
            return Test(math.nan, None, None, "none", min(len(fa), len(fr)), None, None)
        p_exact, how = permutation(xa, xr)
        floor = floor_unpaired(xa.size, xr.size)
        ga, gr = np.array(list(fa.values()), float), np.array(list(fr.values()), float)
        diff, n = float(ga.mean() - gr.mean()), min(ga.size, gr.size)
        tol = rounding(ga, gr)
        va = variance(ga, tol) / ga.size if ga.size > 1 else math.nan
        vr = variance(gr, tol) / gr.size if gr.size > 1 else math.nan
        se_s = math.sqrt(va + vr) if n >= 2 else None
        df_s = _welch_df(va, vr, ga.size, gr.size) if n >= 2 else math.nan
        rows = []
    p_exact = max(p_exact, floor)
    test = Test(diff, None, p_exact, how, n, se_s, df_s, floor, p_exact)
    outcomes = _outcomes(fa, fr, rows, paired, examples_a, examples_ref)
    ex = None if outcomes is None else examples_se(*outcomes, paired)
    if outcomes is not None and ex is not None:
        _, se, df = ex
        test.se, test.df, test.examples = se, df, outcomes[0].shape[1]
        test.p_examples = (
            1.0
            if se == 0 and abs(diff) <= rounding(np.array([diff]))
            else (0.0 if se == 0 else float(2 * sps.t.sf(abs(diff) / se, df)))
        )
        sparse = sparse_examples(*outcomes)
        if sparse is not None:  # few discordant examples: the t's normal tail is too thin
            test.p_examples = max(test.p_examples, sparse)
        test.p = max(p_exact, test.p_examples)
        test.test = f"{how} + seeds x examples t"
    if test.se is not None and test.df is not None and math.isfinite(test.df):
        half = float(sps.t.ppf(0.5 + LEVEL / 2, test.df)) * test.se if test.se > 0 else 0.0
        test.ci = (diff - half, diff + half)
    return test


def _or(v: float | None, worst: float) -> float:
    return worst if v is None else v


def _welch_df(va: float, vr: float, na: int, nr: int) -> float:
    if not (math.isfinite(va) and math.isfinite(vr)):
        return math.nan
    if va + vr == 0:
        return float(min(na, nr) - 1)
    return (va + vr) ** 2 / (va**2 / (na - 1) + vr**2 / (nr - 1))


def _outcomes(
    fa: Mapping[int, float],
    fr: Mapping[int, float],
    rows: list[int],
    paired: bool,
    ea: Mapping[int, np.ndarray] | None,
    er: Mapping[int, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(seeds, examples) 0/1 outcomes of each side's finished seeds (rows aligned by seed when
    `paired`), or None unless every one is known and all are on one test set."""
    if not ea or not er:
        return None
    seeds_a = rows if paired else sorted(fa)
    seeds_r = rows if paired else sorted(fr)
    if any(s not in ea for s in seeds_a) or any(s not in er for s in seeds_r):
        return None
    if len({ea[s].size for s in seeds_a} | {er[s].size for s in seeds_r}) != 1:
        return None
    return np.stack([ea[s] for s in seeds_a]), np.stack([er[s] for s in seeds_r])


def sparse_examples(ca: np.ndarray, cr: np.ndarray) -> float | None:
    """Where at most EXACT_MAX test examples differ between the variants (mean over seeds), the
    exact sign-flip p over those examples (McNemar's exact test when there is one seed)."""
    e = ca.astype(float).mean(0) - cr.astype(float).mean(0)
    e = e[np.abs(e) > 1e-12]
    if e.size > EXACT_MAX:
        return None
    return sign_flip(e)[0] if e.size else 1.0


def tost(test: Test, margin: float) -> float | None:
    """Two one-sided tests: the p of "|diff| < margin" (equivalence) on the test's se and df, never
    below the exact test's floor; None without a standard error."""
    if test.se is None or test.df is None or not math.isfinite(test.df):
        return None
    if test.se == 0:
        p = 0.0 if abs(test.diff) < margin else 1.0
    else:
        lower = float(sps.t.sf((test.diff + margin) / test.se, test.df))
        upper = float(sps.t.cdf((test.diff - margin) / test.se, test.df))
        p = max(lower, upper)
    return max(p, test.floor)


def power(delta: float, se: float, df: float, alpha: float) -> float:
    """Power of the two-sided t-test at `alpha` for a true difference `delta`: the exact
    noncentral t, P(|T| > t_crit) with T ~ nct(df, delta / se)."""
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    nc = delta / se
    # P(T < -crit | nc) = P(T > crit | -nc): scipy's lower tail gives NaN for large nc
    tails = np.nan_to_num([sps.nct.sf(crit, df, nc), sps.nct.sf(crit, df, -nc)])
    return float(min(1.0, tails.sum()))


def detectable(se: float | None, df: float | None, alpha: float, floor: float = 0.0,
               want: float = POWER) -> float | None:  # fmt: skip
    """The smallest difference found with power `want` at two-sided `alpha` (noncentral t, with
    the estimated se taken as known); None when the exact test cannot reach `alpha` at all
    (`floor` > alpha) or there is no spread to size it by."""
    if se is None or df is None or not math.isfinite(df) or se <= 0 or floor > alpha:
        return None
    # (t_crit + t_power) x se (the formula with the SD taken as known) is a lower bound
    lo = float(sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(want, df)) * se
    hi = lo * 1.5
    while power(hi, se, df, alpha) < want:
        lo, hi = hi, hi * 2
        if hi > se * 1e6:
            return None
    return float(brentq(lambda x: power(x, se, df, alpha) - want, lo, hi, xtol=se * 1e-10))


def seeds_for(effect: float, sd_seeds: float, var_examples: float, alpha: float,
              want: float = POWER, most: int = 1000) -> int | None:  # fmt: skip
    """The fewest seeds per variant (paired) whose test finds `effect` with power `want` at
    two-sided `alpha`: the exact test's floor must reach alpha, and the noncentral-t power over
    the seeds' SD of differences `sd_seeds` plus the test set's variance `var_examples` (which
    does not shrink with seeds: one fixed test set) must reach `want`. None beyond `most`."""
    for n in range(max(2, seeds_needed(alpha)), most + 1):
        v = sd_seeds**2 / n + var_examples
        if v <= 0:
            return n
        df = (v**2 / ((sd_seeds**2 / n) ** 2 / (n - 1))) if sd_seeds > 0 else 1e6
        if power(effect, math.sqrt(v), min(df, 1e6), alpha) >= want:
            return n
    return None
