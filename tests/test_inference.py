"""The tests behind verdicts against scipy and statsmodels, and A/A simulations of the verdict path
(`judge`): exact floors at small n, test-set noise, corrected repeated looks."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from trainlab.studies.inference import (
    detectable,
    difference,
    examples_se,
    floor_paired,
    floor_unpaired,
    power,
    seeds_for,
    seeds_needed,
    sign_flip,
)
from trainlab.studies.looks import next_look, signature, spent
from trainlab.studies.stats import holm
from trainlab.studies.verdicts import Arm, Metric, judge, needed


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_constant_difference_is_never_below_the_exact_floor(n: int) -> None:
    t = difference({s: 0.702 for s in range(n)}, {s: 0.700 for s in range(n)}, 0.0)
    assert t.p == pytest.approx(2 / 2**n) and t.floor == pytest.approx(2 / 2**n)
    assert t.test == f"exact sign-flip ({2**n} flips)"
    assert floor_paired(n) == 2 / 2**n and seeds_needed(0.05) == 6  # 2/2^6 = 0.031


def test_sign_flip_matches_scipy_paired_permutation() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.7, 0.02, 7), rng.normal(0.69, 0.02, 7)
    want = sps.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=10**6,
        alternative="two-sided",
    ).pvalue
    got, how = sign_flip(a - b)
    assert got == pytest.approx(want, abs=1e-12) and how == "exact sign-flip (128 flips)"
    assert floor_unpaired(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)
    unpaired = difference({0: 0.80, 1: 0.81, 2: 0.82}, {5: 0.70, 6: 0.71, 7: 0.72}, 0.0)
    assert unpaired.p == pytest.approx(0.1) and unpaired.test == "exact permutation (20 splits)"
    xa, xb = rng.normal(0.7, 0.02, 4), rng.normal(0.69, 0.02, 5)
    want = sps.permutation_test((xa, xb), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                permutation_type="independent", alternative="two-sided").pvalue  # fmt: skip
    assert difference(
        dict(enumerate(xa)), {9 + i: v for i, v in enumerate(xb)}, 0.0
    ).p == pytest.approx(want)
    one = difference({0: 0.8}, {1: 0.7}, 0.0)  # one seed each: nothing to tell, never a crash
    assert one.p == 1.0 and one.floor == 1.0


def test_three_seeds_each_two_test_samples_better_is_not_better() -> None:
    rng = np.random.default_rng(0)
    ref = {s: rng.random(1000) < 0.7 for s in range(3)}
    var = {}
    for s, r in ref.items():
        v = r.copy()
        v[np.flatnonzero(~r)[:2]] = True  # 2 of 1,000 more right, in every seed
        var[s] = v
    arms = [Arm("f", name, 3, {"test_acc": {s: float(x.mean()) for s, x in ex.items()}}, name,
                [0, 1, 2], ex, "one test set") for name, ex in (("ref", ref), ("var", var))]  # fmt: skip
    c = judge(arms, {"f": "ref"}, [Metric("test_acc")])["comparisons"][0]
    assert c["diff"] == pytest.approx(0.002) and c["verdict"] != "better"
    # the test set's own noise: only a handful of examples differ, whatever the seeds say
    assert c["p"] >= 0.25 and c["p_examples"] > 0.05
    assert c["diff_ci"][0] <= 0 <= c["diff_ci"][1] or c["diff_ci"][0] < 0.001
    # the same at 10 seeds: the exact floor is gone, the test set's noise remains
    ten = {s: ref[s % 3] for s in range(10)}
    ten_var = {s: var[s % 3] for s in range(10)}
    t = difference({s: float(x.mean()) for s, x in ten_var.items()},
                   {s: float(x.mean()) for s, x in ten.items()}, 0.0, ten_var, ten)  # fmt: skip
    assert t.p_exact == pytest.approx(2 / 2**10) and t.p == t.p_examples and t.p > 0.05


def test_two_way_variance_by_hand() -> None:
    ca = np.array([[1, 1, 0, 1], [1, 0, 0, 1]])
    cr = np.array([[1, 0, 0, 1], [0, 0, 1, 1]])
    diff, se, df = examples_se(ca, cr, paired=True)  # type: ignore[misc]
    delta = ca - cr  # per seed mean 0.25, 0.0; per example mean 0.5, 0.5, -0.5, 0
    seeds = np.var([0.25, 0.0], ddof=1) / 2
    examples = np.var([0.5, 0.5, -0.5, 0.0], ddof=1) / 4
    assert diff == pytest.approx(delta.mean())
    assert se == pytest.approx(math.sqrt(seeds + examples))
    assert df == pytest.approx((seeds + examples) ** 2 / (seeds**2 / 1 + examples**2 / 3))


def test_holm_matches_statsmodels() -> None:
    p = [0.004, 0.03, 0.011, 0.2, 0.049, 0.0001]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-15)


@pytest.mark.parametrize("n", [5, 8, 12])
def test_detectable_difference_is_the_exact_noncentral_t(n: int) -> None:
    sd, alpha = 0.01, 0.05 / 6
    se = sd / math.sqrt(n)
    mde = detectable(se, n - 1.0, alpha)
    assert mde is not None
    # statsmodels' one-sample (paired) t power at effect size mde / sd
    assert TTestPower().power(effect_size=mde / sd, nobs=n, alpha=alpha) == pytest.approx(
        0.8, abs=1e-6
    )
    assert power(mde, se, n - 1.0, alpha) == pytest.approx(0.8, abs=1e-9)
    naive = (sps.t.ppf(1 - alpha / 2, n - 1) + sps.t.ppf(0.8, n - 1)) * se
    assert mde > naive  # the old (t + t) x se formula overstated power
    assert detectable(se, n - 1.0, alpha, floor=floor_paired(2)) is None  # exact test can't


def test_the_planner_counts_the_floor_and_the_test_set() -> None:
    alpha = 0.05 / 6
    n = seeds_for(0.01, 0.01, 0.0, alpha)
    assert n is not None and n >= seeds_needed(alpha)
    assert TTestPower().power(effect_size=1.0, nobs=n, alpha=alpha) >= 0.8 - 1e-9
    assert TTestPower().power(effect_size=1.0, nobs=n - 1, alpha=alpha) < 0.8
    # a fixed test set's noise does not shrink with seeds: an effect below it needs ~infinite n
    assert seeds_for(0.001, 0.001, 0.0015**2, alpha) is None
    assert needed(6, 0.05, 1) == 9  # 2 / 2^9 < 0.0304 / 6


def _aa_study(rng: np.random.Generator, seeds: int, n_ex: int = 300) -> list[Arm]:
    """4 identical variants on one test set: example difficulty fixed, seed noise per run."""
    difficulty = rng.normal(0.0, 1.5, n_ex)
    arms = []
    for v in range(4):
        ex = {}
        for s in range(seeds):
            skill = 0.8 + rng.normal(0, 0.3)  # a seed's luck: ~1.5 points of test accuracy SD
            ex[s] = rng.random(n_ex) < 1 / (1 + np.exp(-(skill - difficulty)))
        values = {"test_acc": {s: float(x.mean()) for s, x in ex.items()}}
        arms.append(Arm("aa", f"v{v}", seeds, values, f"v{v}", list(range(seeds)), ex, "set"))
    return arms


def _calls(arms: list[Arm], look: int) -> bool:
    comp = judge(arms, {"aa": "v0"}, [Metric("test_acc")], look=look)
    return any(c["verdict"] in ("better", "worse") for c in comp["comparisons"])


def test_sequential_aa_adding_seeds_holds_the_error_rate() -> None:
    """A study extended one seed at a time from 3 to 12, with a look after each: any false call
    across all looks counts. Corrected looks stay under alpha; treating every look as the first
    (the old behaviour) does not."""
    rng = np.random.default_rng(7)
    studies, hits, naive = 100, 0, 0
    for _ in range(studies):
        full = _aa_study(rng, 12)
        corrected = uncorrected = False
        for k, n in enumerate(range(3, 13), start=1):
            arms = [Arm(a.family, a.name, n, {"test_acc": {s: a.values["test_acc"][s] for s in range(n)}},
                        a.identity, list(range(n)), {s: a.examples[s] for s in range(n)}, "set")
                    for a in full]  # fmt: skip
            corrected = corrected or _calls(arms, k)
            uncorrected = uncorrected or _calls(arms, 1)
        hits += corrected
        naive += uncorrected
    upper = sps.binomtest(hits, studies).proportion_ci(0.95).high
    assert hits / studies <= 0.05 and upper < 0.1
    assert naive >= hits


def test_a_look_is_new_only_when_the_runs_are() -> None:
    first = next_look([], signature({"a": [(0, "r1", "finished")]}))
    assert first["look"] == 1 and first["n"] == {"a": 1}
    again = next_look([first], signature({"a": [(0, "r1", "finished")]}))
    assert again["look"] == 1  # a rerun that trained nothing new is the same look
    more = next_look([first], signature({"a": [(0, "r1", "finished"), (1, "r2", "finished")]}))
    assert more["look"] == 2 and more["n"] == {"a": 2}
    assert sum(spent(0.05, k) for k in range(1, 10**5)) == pytest.approx(0.05, rel=1e-4)
