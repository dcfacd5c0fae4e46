"""Statistics over seeds against values computed by hand on fixed numbers."""

import math

import numpy as np
import pytest

from trainlab.plots.curves import align, mean_band
from trainlab.studies.stats import describe, holm, interval, pm, stats_table
from trainlab.studies.verdicts import Arm, Metric, answers, judge, sentences

T_975_DF2 = 4.302652729911275  # t-table: two-sided 95%, 2 degrees of freedom
T_975_DF1 = 12.706204736174707


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


def _arm(
    name: str,
    test: list[float],
    val: list[float],
    n: int | None = None,
    seeds: list[int] | None = None,
    planned: list[int] | None = None,
) -> Arm:
    seeds = seeds or list(range(len(test)))
    values = {
        "test_acc": dict(zip(seeds, test, strict=True)),
        "val_acc": dict(zip(seeds, val, strict=True)),
    }
    return Arm("f", name, n or len(test), values, identity=name, seeds=planned or seeds)


def _spread(centre: float, n: int, step: float = 0.01) -> list[float]:
    return [centre + step * ((i * 7) % n - n / 2) / n for i in range(n)]


def test_best_is_chosen_on_selection_runs_and_a_better_one_is_named() -> None:
    n = 8
    arms = [
        _arm("ref", _spread(0.70, n), [0.7] * n),
        _arm("val-best", _spread(0.60, n), [0.9] * n),  # the final runs' validation says nothing
        _arm("test-best", _spread(0.95, n), [0.5] * n),
    ]
    picked = {"f": {"ref": 0.71, "val-best": 0.93, "test-best": 0.52}}  # selection seeds' val_acc
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")], chosen=picked)
    best = comp["best"][0]
    assert best["variant"] == "val-best" and best["selection_score"] == 0.93
    assert best["better_than_chosen"] == ["ref", "test-best"] and best["worse_than_chosen"] == []
    by = {c["variant"]: c for c in comp["comparisons"]}
    assert by["test-best"]["verdict"] == "better" and by["val-best"]["verdict"] == "worse"
    raw = [by["val-best"]["p"], by["test-best"]["p"]]
    assert [by["val-best"]["p_adj"], by["test-best"]["p_adj"]] == pytest.approx(holm(raw))
    line = answers(comp)[0]
    assert line.startswith("f: best on validation (val_acc, runs not tested): val-best")
    assert "better than it on test_acc: ref, test-best" in line
    # without selection runs nothing is called best: the final runs are never used to choose
    assert judge(arms, {"f": "ref"}, [Metric("test_acc")])["best"] == []


def test_a_diverged_seed_enters_the_test_as_the_worst_value_and_keeps_the_pairs() -> None:
    arms = [
        _arm("ref", [0.7, 0.72, 0.71, 0.70, 0.69], [0.7] * 5),
        _arm("shaky", [0.7, 0.73, 0.72, 0.71], [0.7] * 4, n=5, planned=[0, 1, 2, 3, 4]),
    ]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    shaky = next(v for v in comp["variants"] if v["variant"] == "shaky")
    assert (shaky["n"], shaky["n_finished"], shaky["unstable"]) == (5, 4, True)
    c = comp["comparisons"][0]
    assert (c["n"], c["n_finished"], c["pairs"]) == (5, 4, 4)  # effect over the 4 shared seeds
    assert c["test"] == "exact sign-flip (32 flips)"  # still paired: all 5 seeds entered
    # seed 4 enters as accuracy 0: its difference -0.69 is as large as |sum| = 0.66 under every
    # flip of the four small gains, so the exact p is 1 (the lost seed is not hidden)
    assert c["p_exact"] == 1.0
    assert c["finish"] == {"finished": 4, "of": 5, "reference_finished": 5, "reference_of": 5,
                           "p_fisher": pytest.approx(1.0)}  # fmt: skip
    assert any("shaky (4 of 5 finished)" in a for a in answers(comp))
    assert "Fisher p=1" in sentences(comp)[0]
    # three of five lost, the rest the same: only the flips keeping the three alike reach it
    lost = _arm("lost", [0.7, 0.72], [0.7] * 2, n=5, planned=[0, 1, 2, 3, 4])
    c = judge([arms[0], lost], {"f": "ref"}, [Metric("test_acc")])["comparisons"][0]
    assert c["p_exact"] == pytest.approx(8 / 32) and c["diff"] == pytest.approx(0.0)


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
    n = 8
    ref = _spread(0.70, n, 0.02)
    var = [r + d for r, d in zip(ref, [0.004, -0.003, 0.002, -0.001, 0.003, -0.004, 0.001, 0.0], strict=True)]  # fmt: skip
    arms = [_arm("ref", ref, [0.7] * n), _arm("b", var, [0.7] * n)]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    c = comp["comparisons"][0]
    assert c["verdict"] == "within noise" and c["mde"] is not None and c["mde"] > abs(c["diff"])
    eq = judge(arms, {"f": "ref"}, [Metric("test_acc")], min_effect=0.05)["comparisons"][0]
    assert eq["verdict"] == "equivalent within ±0.05" and eq["p_tost_adj"] < 0.0304


def test_no_verdict_possible_at_three_seeds_says_its_floor() -> None:
    arms = [_arm("ref", [0.70, 0.71, 0.72], [0.7] * 3), _arm("b", [0.80, 0.81, 0.82], [0.7] * 3)]
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    c = comp["comparisons"][0]
    assert (
        c["p"] == 0.25 and c["verdict"] == "no verdict possible at n=3 (smallest attainable p 0.25)"
    )
    assert "no verdict possible at n=3" in answers(comp)[0]


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


def test_a_difference_without_spread_is_not_p_zero() -> None:
    # the demo's digits logreg vs mlp: 14 test samples behind in each of 3 seeds; before, this
    # was "paired t (no spread), p=0"; the exact test over 3 seeds cannot go below 0.25
    arms = [
        _arm("mlp", [0.961002767086029, 0.961002767086029, 0.9693593382835388], [0.96] * 3),
        _arm("logreg", [0.9220055937767029, 0.9220055937767029, 0.9303621053695679], [0.92] * 3),
    ]
    comp = judge(arms, {"f": "mlp"}, [Metric("test_acc")])
    c = comp["comparisons"][0]
    assert c["p"] == 0.25 and c["p_exact"] == 0.25 and c["floor"] == 0.25
    assert c["diff"] == pytest.approx(-14 / 359, abs=1e-6)
    (line,) = sentences(comp)
    assert "p=0.25, Holm p=0.25 over 1, look 1 at alpha 0.0304" in line
