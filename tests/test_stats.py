"""Statistics over seeds against values computed by hand on fixed numbers."""

import math

import numpy as np
import pytest

from trainlab.plots.curves import align, mean_band
from trainlab.studies.stats import compare, describe, interval, pm, stats_table

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


def test_stats_table_ranks_and_judges_against_the_best() -> None:
    groups = {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [4.5]}
    table, verdicts = stats_table("T", "test_acc", groups)
    assert [r[0] for r in table.rows] == ["b", "c", "a"]  # by mean: 5, 4.5, 2
    by = {r[0]: dict(zip(table.columns, r, strict=True)) for r in table.rows}
    assert by["b"]["verdict"] == "best"
    assert by["a"]["verdict"] == "worse" and by["a"]["p (Welch)"] == pytest.approx(0.0213, abs=1e-4)
    assert by["c"]["std"] is None and by["c"]["verdict"].startswith("inconclusive")
    assert "a vs b on test_acc: worse (p=0.0213, n=3)" in verdicts
    assert "nan" not in table.markdown().lower() and "nan" not in table.csv().lower()


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
