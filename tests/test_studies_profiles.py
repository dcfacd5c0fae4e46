"""Performance profiles on hand-computed times, multi-workload studies on tiny budgets, and the
words of a "within noise" verdict."""

import math
import re
import statistics
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.report.builder import write_report
from trainlab.studies import StudyOptions, run_optimizers, run_regularization
from trainlab.studies.optimizers import OptimBudget
from trainlab.studies.profiles import corners, median_time, profile, ratios, rho, score
from trainlab.studies.regularization import RegBudget
from trainlab.studies.verdicts import Arm, Metric, answers, detectable_words, judge
from trainlab.track.store import Store

INF = math.inf
# Two workloads, three variants: c never reaches w1 and is 4x the best on w2.
TIMES = {"w1": {"a": 100.0, "b": 200.0, "c": INF}, "w2": {"a": 300.0, "b": 100.0, "c": 400.0}}
# An MLP of width 8 on mnist1d; `--data mnist1d,digits` adds digits with its default options.
SMALL = {"name": "small", "data": {"name": "mnist1d"}, "model": {"name": "mlp", "options": {"width": 8}},
         "train": {"batch_size": 100}}  # fmt: skip


def test_ratios_are_times_over_the_best_on_each_workload_and_inf_when_not_reached() -> None:
    assert ratios(TIMES) == {"a": [1.0, 3.0], "b": [2.0, 1.0], "c": [INF, 4.0]}
    assert ratios({"w": {"a": INF, "b": INF}}) == {"a": [INF], "b": [INF]}  # nobody reached
    with pytest.raises(ValueError, match="must be > 0"):
        ratios({"w": {"a": 0.0}})


def test_rho_is_the_share_of_workloads_within_tau_of_the_best() -> None:
    r = ratios(TIMES)
    assert [rho(r["a"], t) for t in (1.0, 2.99, 3.0, 4.0)] == [0.5, 0.5, 1.0, 1.0]
    assert [rho(r["b"], t) for t in (1.0, 1.99, 2.0)] == [0.5, 0.5, 1.0]
    assert [rho(r["c"], t) for t in (1.0, 3.99, 4.0)] == [0.0, 0.0, 0.5]  # never reaches w1


def test_integrated_score_is_the_exact_area_under_rho_over_tau_max_minus_one() -> None:
    r = ratios(TIMES)
    # a: 0.5 on [1, 3) + 1 on [3, 4] = 2, / 3; b: 0.5 on [1, 2) + 1 on [2, 4] = 2.5, / 3
    assert score(r["a"]) == pytest.approx(2 / 3)
    assert score(r["b"]) == pytest.approx(5 / 6)
    assert score(r["c"]) == 0.0  # 4x the best earns nothing, not reaching earns nothing
    assert score([1.0, 1.0]) == 1.0
    tau, rhos = corners(r["a"])
    assert (tau, rhos) == ([1.0, 3.0, 4.0], [0.5, 1.0, 1.0])
    area = sum(p * (t1 - t0) for p, t0, t1 in zip(rhos, tau, tau[1:], strict=False))
    assert area / 3 == pytest.approx(score(r["a"]))
    prof = profile(TIMES)
    assert {v: p["reached"] for v, p in prof.items()} == {"a": 2, "b": 2, "c": 1}
    assert prof["c"]["tau"] == [1.0, 4.0] and prof["c"]["rho"] == [0.0, 0.5]


def test_median_time_counts_runs_that_did_not_reach_as_infinite() -> None:
    row = {"n": 3, "reached": 2, "steps": {"values": [144.0, 108.0]}}
    assert median_time(row) == 144.0
    assert median_time({"n": 2, "reached": 1, "steps": {"values": [36.0]}}) == 36.0  # lower median
    assert median_time({"n": 3, "reached": 1, "steps": {"values": [36.0]}}) == INF


def test_detectable_words_never_exceed_the_metric_range() -> None:
    assert detectable_words([1.192], 3, 1.0) == "no difference detectable at n=3"
    assert detectable_words([None], 3, 1.0) == "no difference detectable at n=3"
    assert (
        detectable_words([0.012, 0.004], 3, 1.0) == "detectable at n=3: ±0.012, on the estimated SD"
    )
    assert detectable_words([1.5], 5, None) == "detectable at n=5: ±1.500, on the estimated SD"


def _answer(ref: dict[int, float], var: dict[int, float]) -> str:
    n = len(ref)
    arms = [Arm("f", "ref", n, {"test_acc": ref, "val_acc": ref}),
            Arm("f", "var", n, {"test_acc": var, "val_acc": var})]  # fmt: skip
    comp = judge(arms, {"f": "ref"}, [Metric("test_acc")])
    assert comp["ranges"] == {"test_acc": 1.0}
    return answers(comp)[0]


def test_within_noise_says_what_n_detects_only_inside_the_range() -> None:
    wild = [0.5, 0.9, 0.1, 0.6, 0.3, 0.8, 0.2, 0.7]
    noisy = _answer(dict(enumerate(wild)), dict(enumerate(reversed(wild))))
    assert re.search(
        r"within noise: var \(detectable at n=8: ±0\.[5-9]\d+, on the estimated SD\)", noisy
    )
    ref = [0.80, 0.81, 0.82, 0.80, 0.81, 0.82, 0.80, 0.81]
    diffs = [0.001, 0.002, -0.002, 0.0, 0.001, -0.001, 0.002, -0.001]
    quiet = _answer(
        dict(enumerate(ref)), {i: r + d for i, (r, d) in enumerate(zip(ref, diffs, strict=True))}
    )
    found = re.search(
        r"within noise: var \(detectable at n=8: ±(0\.\d+), on the estimated SD\)\.$", quiet
    )
    assert found and 0.001 < float(found.group(1)) < 0.01, quiet
    # and the three seeds of a quick budget cannot pass Holm at all: said, not "within noise"
    three = _answer({0: 0.80, 1: 0.81, 2: 0.82}, {0: 0.801, 1: 0.812, 2: 0.818})
    assert three.endswith("no verdict possible at n=3 (smallest attainable p 0.25): var.")


def test_regularization_on_two_workloads_profiles_the_methods(tmp_path: Path) -> None:
    budget = RegBudget(seeds=2, epochs=2, methods=("none", "dropout 0.5"))
    result = run_regularization(
        budget,
        base=RunConfig.model_validate(SMALL),
        data=["mnist1d", "digits"],
        options=StudyOptions(workers=1, progress=False),
    )
    data = result.summary.data
    assert sorted(data["test_acc"]) == ["digits/dropout 0.5", "digits/none", "mnist1d/dropout 0.5", "mnist1d/none"]  # fmt: skip
    assert data["comparison"]["references"] == {"mnist1d": "mnist1d/none", "digits": "digits/none"}
    ttt = data["time_to_target"]
    assert list(ttt) == ["mnist1d", "digits"]
    times = {}
    for w, t in ttt.items():
        assert t["target"] == pytest.approx(statistics.median(data["val_acc"][f"{w}/none"]))
        assert list(t["variants"]) == [f"{w}/none", f"{w}/dropout 0.5"]
        times[w] = {m: median_time(t["variants"][f"{w}/{m}"]) for m in ("none", "dropout 0.5")}
    prof = data["performance_profile"]
    assert prof["tau_max"] == 4.0 and prof["measure"] == "steps"
    assert prof["workloads"] == ["mnist1d", "digits"]
    assert set(prof["variants"]) == {"none", "dropout 0.5"}
    for m, p in prof["variants"].items():
        best = {w: min(times[w].values()) for w in times}
        want = sum(max(0.0, 4 - times[w][m] / best[w]) for w in times) / (2 * 3)
        assert 0 <= p["score"] <= 1 and p["score"] == pytest.approx(want)
    assert prof["variants"]["none"]["reached"] == 2  # the reference reaches its own median
    table = next(t for t in result.summary.tables if t.title.endswith("integrated score"))
    assert table.columns[:3] == ["variant", "workloads reached", "score"] and len(table.rows) == 2
    assert (result.dir / "performance_profile.png").exists()
    assert (result.dir / "performance_profile.svg").exists()
    html = write_report(Store(), tmp_path / "report.html", [result.study_id]).path.read_text()
    assert "Regularization: performance profile: integrated score" in html
    assert "Regularization on digits: time to target" in html
    figure = r'<img src="data:image/png;base64,[^"]+"[^\n]*\n\s*<p class="swipe" hidden>[^\n]*\n\s*<figcaption><span class="label">Figure \d+\.</span> Performance profiles\.'
    assert re.search(figure, html)  # the profile figure, inline


def test_optimizers_on_two_workloads_tune_and_judge_each_against_its_own_adam() -> None:
    store = Store()
    budget = OptimBudget(epochs=2, lrs=(0.01,), seeds=2, tuning_seeds=1, extend=0)
    result = run_optimizers(
        budget,
        optimizers=("sgd", "adam"),
        schedules=(),
        base=RunConfig.model_validate(SMALL),
        data=("mnist1d", "digits"),
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    assert result.counts["finished"] == 12  # per workload: 2 tuning + 2 x 2 final
    runs = {link.run.config.name: link.run.config.data.name for link in store.study_links(result.study_id)}  # fmt: skip
    assert runs == {"mnist1d/sgd": "mnist1d", "mnist1d/adam": "mnist1d", "digits/sgd": "digits", "digits/adam": "digits"}  # fmt: skip
    data = result.summary.data
    assert data["comparison"]["references"] == {"mnist1d/optimizers": "mnist1d/adam", "digits/optimizers": "digits/adam"}  # fmt: skip
    assert list(data["time_to_target"]) == ["mnist1d/optimizers", "digits/optimizers"]
    prof = data["performance_profile"]["variants"]
    assert set(prof) == {"sgd", "adam"} and all(0 <= p["score"] <= 1 for p in prof.values())
    assert {p["family"] for p in prof.values()} == {"Optimizers (constant schedule)"}
    files = {f.file for f in result.summary.figures}
    assert {"performance_profile.png", "test-acc-digits-optimizers.png"} <= files


def test_unknown_data_is_one_line_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    for study in ("optimizers", "regularization"):
        code = main(["study", study, "--data", "mnist1d,mnist2d"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1
        # the classification sets only: these studies choose on val_acc
        assert (
            err.startswith("error: --data 'mnist2d': choose from digits, mnist1d, mnist5k, moons")
            and "diabetes" not in err
        )


def test_a_regression_base_is_one_line_pointing_to_the_grid_study(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for study in ("optimizers", "regularization"):
        code = main(["study", study, "data.name=diabetes"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "data.name='diabetes' is a regression task" in err and "study grid" in err
    with pytest.raises(ConfigError, match="--data '': name at least one of digits"):
        run_regularization(data=[], options=StudyOptions(progress=False))
