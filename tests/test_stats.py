"""Statistics over seeds against values computed by hand on fixed numbers."""

import math

import numpy as np
import pytest

from trainlab.plots.curves import align, mean_band
from trainlab.studies.stats import (
    compare,
    describe,
    detectable,
    holm,
    interval,
    paired_or_welch,
    pm,
    stats_table,
    tost,
)
from trainlab.studies.verdicts import Arm, Metric, answers, judge, sentences

T_975_DF2 = 4.302652729911275  # t-table: two-sided 95%, 2 degrees of freedom
T_975_DF1 = 12.706204736174707


def t4_two_sided_p(t: float) -> float:
    """Two-sided p of Student's t with 4 degrees of freedom, in closed form:
    F(t) = 1/2 + sin(a) (1 + cos(a)^2 / 2) / 2 with a = atan(t / 2)."""
    a = math.atan(abs(t) / 2)
    return 1 - math.sin(a) * (1 + math.cos(a) ** 2 / 2)


def test_describe_three_seeds_by_hand() -> None:
    s = describe([0.80, 0.82, 0.84], seeds=[10, 11, 12])
    assert s.n == 3
    assert s.mean == pytest.approx(0.82)
    assert s.std == pytest.approx(0.02)
    half = T_975_DF2 * 0.02 / math.sqrt(3)  # 0.0496827...
    assert s.ci_low == pytest.approx(0.82 - half)
    assert s.ci_high == pytest.approx(0.82 + half)
    assert (s.best, s.best_seed, s.worst, s.worst_seed) == (0.84, 12, 0.80, 10)
    lower = describe([0.80, 0.82, 0.84], seeds=[10, 11, 12], higher=False)
    assert (lower.best_seed, lower.worst_seed) == (10, 12)  # e.g. a loss: lower is better


def test_describe_one_seed_has_no_spread() -> None:
    s = describe([0.5])
    assert s.std is None and s.ci_low is None and s.ci_high is None
    assert interval([0.5]) == (0.5, 0.5, 0.5)
    assert pm([0.5]) == "0.500 over 1 seed"


def test_welch_by_hand() -> None:
    # means 2 and 5, both variances 1, n = 3: t = -3 / sqrt(1/3 + 1/3), Welch df = 4
    c = compare([1, 2, 3], [4, 5, 6])
    assert c.diff == pytest.approx(-3.0)
    assert c.t == pytest.approx(-3 / math.sqrt(2 / 3))
    assert c.p == pytest.approx(t4_two_sided_p(-3 / math.sqrt(2 / 3)), abs=1e-9)
    assert c.p == pytest.approx(0.021312, abs=1e-6)
    assert c.verdict == "worse"
    assert compare([4, 5, 6], [1, 2, 3]).verdict == "better"
    assert compare([1, 2, 3], [4, 5, 6], higher=False).verdict == "better"  # e.g. ECE


def test_within_noise_names_the_seed_count() -> None:
    c = compare([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert c.p is not None and c.p > 0.05
    assert c.verdict == "within noise at 3 seeds"


def test_one_seed_and_zero_variance_never_give_nan() -> None:
    one = compare([0.5], [0.6, 0.7])
    assert one.p is None and one.verdict == "inconclusive: 1 seed, no test possible"
    same = compare([0.5, 0.5], [0.5, 0.5])
    assert same.p is None and same.verdict.startswith("within noise at 2 seeds")
    apart = compare([0.6, 0.6], [0.5, 0.5])
    assert apart.p is None and apart.verdict.startswith("better")


def test_stats_table_describes_in_the_given_order_without_nan() -> None:
    groups = {"a": [0.1, 0.2, 0.3], "b": [0.4, 0.5, 0.6], "c": [0.45]}
    table = stats_table("T", "test_acc", groups)
    assert [r[0] for r in table.rows] == ["a", "b", "c"]
    by = {r[0]: dict(zip(table.columns, r, strict=True)) for r in table.rows}
    assert by["b"]["test_acc mean"] == pytest.approx(0.5) and by["c"]["std"] is None
    assert "nan" not in table.markdown().lower() and "nan" not in table.csv().lower()


def test_ci_of_an_accuracy_stays_in_0_1() -> None:
    s = describe([0.99, 1.0, 1.0], bounds=(0.0, 1.0))
    assert s.ci_high == 1.0 and 0.0 <= s.ci_low < s.mean  # unclipped: 1.0108
    assert describe([0.99, 1.0, 1.0]).ci_high == pytest.approx(
        0.996667 + T_975_DF2 * 0.005773503 / math.sqrt(3), abs=1e-5
    )
    mean, lo, hi = interval([0.0, 0.0, 0.02])
    assert lo == 0.0 and hi <= 1.0 and mean == pytest.approx(0.02 / 3)


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.02, 0.04, 0.30 (m=4): 4x0.01=0.04, 3x0.02=0.06, 2x0.04=0.08, 1x0.30=0.30
    assert holm([0.04, 0.01, None, 0.30, 0.02]) == pytest.approx([0.08, 0.04, None, 0.30, 0.06])
    # monotone: a later step never goes below an earlier one; capped at 1
    assert holm([0.02, 0.011, 0.9]) == pytest.approx([0.04, 0.033, 0.9])
    assert holm([0.6, 0.7]) == [1.0, 1.0]


def test_paired_test_by_seed_when_seeds_are_shared() -> None:
    a = {0: 0.80, 1: 0.72, 2: 0.91}
    ref = {0: 0.78, 1: 0.71, 2: 0.88}  # differences 0.02, 0.01, 0.03: mean 0.02, sd 0.01
    t = paired_or_welch(a, ref)
    assert t.test == "paired t" and t.n == 3
    assert t.diff == pytest.approx(0.02)
    se = 0.01 / math.sqrt(3)
    assert t.p == pytest.approx(2 * (1 - _t_cdf_df2(0.02 / se)), abs=1e-9)
    assert t.ci == pytest.approx((0.02 - T_975_DF2 * se, 0.02 + T_975_DF2 * se))
    welch = paired_or_welch({5: 0.80, 6: 0.72, 7: 0.91}, ref)  # other seeds: nothing to pair
    assert welch.test == "Welch t" and welch.p is not None and welch.p > t.p


def test_a_spread_of_float32_rounding_is_no_spread() -> None:
    # digits test accuracies of 3 seeds from `make demo` (float32, 359 test samples): logreg is
    # 14 samples behind mlp in every seed, which float32 rounds differently per seed (6e-8).
    # Taken as spread, that gave "paired t, p=2.6e-13, CI [-0.039, -0.039]".
    mlp = {0: 0.961002767086029, 1: 0.961002767086029, 2: 0.9693593382835388}
    logreg = {0: 0.9220055937767029, 1: 0.9220055937767029, 2: 0.9303621053695679}
    t = paired_or_welch(logreg, mlp)
    assert t.test == "paired t (no spread)" and t.se == 0 and t.p == 0.0
    assert t.diff == pytest.approx(-14 / 359, abs=1e-6) and t.ci == (t.diff, t.diff)
    assert detectable(t) is None  # nothing to size a test by
    same = paired_or_welch({0: 0.5, 1: 0.6}, {0: 0.5 + 3e-8, 1: 0.6 - 2e-8})  # equal, to rounding
    assert same.test == "paired t (no spread)" and same.diff == 0.0 and same.p == 1.0
    # a real spread, however small against the values, is still tested
    small = paired_or_welch({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.49, 1: 0.5899, 2: 0.6902})
    assert small.test == "paired t" and small.p is not None and 0 < small.p < 1
    assert describe([0.961002767086029, 0.9610027670860291]).std == 0.0
    assert compare([0.5, 0.5 + 1e-8], [0.5 - 1e-8, 0.5]).verdict.startswith("within noise")


def _t_cdf_df2(t: float) -> float:
    """Student's t CDF with 2 degrees of freedom, closed form."""
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def test_tost_and_detectable_difference() -> None:
    t = paired_or_welch({0: 0.50, 1: 0.52, 2: 0.51}, {0: 0.505, 1: 0.515, 2: 0.51})
    assert (
        tost(t, 0.05) is not None and tost(t, 0.05) < 0.05
    )  # tiny diff: equivalent within 5 points
    assert tost(t, 0.0001) > 0.45  # a margin far inside the noise: no equivalence
    mde = detectable(t)
    assert mde is not None and mde > abs(t.diff)
    se = t.se
    assert se is not None and mde == pytest.approx((T_975_DF2 + 1.0606601717798212) * se, rel=1e-6)


def _arm(
    name: str,
    test: list[float],
    val: list[float],
    n: int | None = None,
    seeds: list[int] | None = None,
) -> Arm:
    seeds = seeds or list(range(len(test)))
    values = {
        "test_acc": dict(zip(seeds, test, strict=True)),
        "val_acc": dict(zip(seeds, val, strict=True)),
    }
    return Arm("f", name, n or len(test), values, identity=name)


def test_best_is_chosen_on_validation_when_test_disagrees() -> None:
    arms = [
        _arm("ref", [0.70, 0.71, 0.72], [0.70, 0.71, 0.72]),
        _arm("val-best", [0.60, 0.61, 0.62], [0.90, 0.91, 0.92]),
        _arm("test-best", [0.95, 0.96, 0.97], [0.50, 0.51, 0.52]),
    ]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    assert comp["best"][0]["variant"] == "val-best" and comp["selection_metric"] == "val_acc"
    assert "test-best" in comp["best"][0]["distinguishable"]
    by = {c["variant"]: c for c in comp["comparisons"]}
    assert by["test-best"]["verdict"] == "better" and by["val-best"]["verdict"] == "worse"
    raw = [by["val-best"]["p"], by["test-best"]["p"]]
    assert [by["val-best"]["p_adj"], by["test-best"]["p_adj"]] == pytest.approx(holm(raw))
    assert answers(comp)[0].startswith("f: best on validation (val_acc): val-best")


def test_a_diverged_seed_stays_in_n_and_flags_the_variant() -> None:
    arms = [
        _arm("ref", [0.7, 0.72, 0.71], [0.7, 0.72, 0.71]),
        _arm("shaky", [0.7, 0.73], [0.7, 0.73], n=3),
    ]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    shaky = next(v for v in comp["variants"] if v["variant"] == "shaky")
    assert (shaky["n"], shaky["n_finished"], shaky["unstable"]) == (3, 2, True)
    c = comp["comparisons"][0]
    assert (c["n"], c["n_finished"]) == (3, 2) and c["test"] == "Welch t"  # seeds {0,1} vs {0,1,2}
    assert any("shaky (2 of 3 finished)" in a for a in answers(comp))


def test_identical_configuration_is_said_not_tested() -> None:
    same = _arm("adamw wd=0", [0.7, 0.72, 0.71], [0.7, 0.72, 0.71])
    ref = _arm("adam", [0.7, 0.72, 0.71], [0.7, 0.72, 0.71])
    same.identity = ref.identity = "abc"
    comp = judge([ref, same], {"f": "adam"}, [Metric("test_acc")])
    c = comp["comparisons"][0]
    assert (
        c["verdict"] == "identical configuration" and c["p"] is None and comp["n_comparisons"] == 0
    )


def test_within_noise_says_what_it_could_detect_and_tost_says_equivalent() -> None:
    arms = [_arm("ref", [0.70, 0.72, 0.71], [0.7] * 3), _arm("b", [0.705, 0.715, 0.712], [0.7] * 3)]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    c = comp["comparisons"][0]
    assert c["verdict"] == "within noise" and c["mde"] is not None and c["mde"] > abs(c["diff"])
    eq = judge(arms, {"f": "ref"}, [Metric("test_acc")], min_effect=0.05)["comparisons"][0]
    assert eq["verdict"] == "equivalent within ±0.05" and eq["p_tost_adj"] < 0.05


def test_mean_band_and_align() -> None:
    mean, lo, hi = mean_band(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert mean.tolist() == [2.0, 3.0]
    assert lo == pytest.approx([2 - T_975_DF1, 3 - T_975_DF1])  # std sqrt(2), n 2
    assert hi == pytest.approx([2 + T_975_DF1, 3 + T_975_DF1])
    x, m = align([([1, 2, 3], [0.1, 0.2, 0.3]), ([1, 2], [0.5, 0.6])])
    assert x.tolist() == [1, 2] and m.tolist() == [[0.1, 0.2], [0.5, 0.6]]  # epochs: shortest
    x, m = align([([1.0, 3.0], [0.0, 1.0]), ([2.0, 4.0], [0.0, 1.0])], points=3)
    assert x.tolist() == [2.0, 2.5, 3.0]  # wall time: the range both runs cover
    assert m[0].tolist() == [0.5, 0.75, 1.0] and m[1].tolist() == [0.0, 0.25, 0.5]


def test_a_difference_without_spread_says_why_its_p_is_zero() -> None:
    # the demo's digits logreg vs mlp: 14 test samples behind in each of 3 seeds
    arms = [
        _arm("mlp", [0.961002767086029, 0.961002767086029, 0.9693593382835388], [0.96] * 3),
        _arm("logreg", [0.9220055937767029, 0.9220055937767029, 0.9303621053695679], [0.92] * 3),
    ]
    comp = judge(arms, {"f": "mlp"}, [Metric("test_acc")])
    (line,) = sentences(comp)
    assert "paired t (no spread), p=0, Holm p=0 over 1" in line
    assert "every seed differed by the same amount, so p is 0" in line
