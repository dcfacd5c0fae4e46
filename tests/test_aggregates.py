"""rliable-style aggregates: the IQM and P(X > Y) on hand-computed data and against scipy, the
stratified bootstrap's intervals (cover, shrink, reproduce), and a two-workload study carrying
them into its tables, figure, stored JSON, report and dashboard."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from starlette.testclient import TestClient

from trainlab.config import RunConfig
from trainlab.plots.comparisons import plot_aggregates
from trainlab.report.builder import write_report
from trainlab.studies import StudyOptions, run_baselines, run_optimizers, run_regularization
from trainlab.studies.aggregates import (
    RESAMPLES,
    add_aggregates,
    gather,
    improvement,
    improvement_interval,
    iqm,
    iqm_interval,
    iqm_weights,
    resample,
    rng_for,
)
from trainlab.studies.baselines import BaselineBudget
from trainlab.studies.optimizers import OptimBudget
from trainlab.studies.output import StudyOutput
from trainlab.studies.regularization import RegBudget
from trainlab.track.store import Store
from trainlab.track.summary import Summary
from trainlab.ui.app import create_app

SMALL = {"name": "small", "data": {"name": "mnist1d"}, "model": {"name": "mlp", "options": {"width": 8}},
         "train": {"batch_size": 100}}  # fmt: skip


def test_iqm_is_the_mean_of_the_middle_half_with_quartile_straddlers_in_part() -> None:
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    # n = 6: each score holds 1/6 of the mass; the 2nd and 5th straddle a quartile, half inside
    assert list(iqm_weights(6)) == pytest.approx([0, 1 / 6, 1 / 3, 1 / 3, 1 / 6, 0])
    assert iqm([16, 0, 1, 2, 4, 8]) == pytest.approx((1 + 2 * 2 + 2 * 4 + 8) / 6)  # 3.5
    assert iqm([5.0]) == 5.0 and iqm([1.0, 3.0]) == 2.0
    assert all(iqm_weights(n).sum() == pytest.approx(1.0) for n in range(1, 30))


@pytest.mark.parametrize("n", [4, 8, 12, 40])
def test_iqm_is_scipys_25_percent_trimmed_mean_when_n_is_a_multiple_of_4(n: int) -> None:
    x = np.random.default_rng(n).normal(size=n)
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25))


def test_probability_of_improvement_averages_pairs_over_workloads() -> None:
    x = {"w1": [3.0, 1.0], "w2": [2.0]}
    y = {"w1": [2.0, 1.0], "w2": [2.0]}
    # w1: (3>2) 1, (3>1) 1, (1>2) 0, (1=1) 0.5 -> 2.5/4; w2: a tie, 0.5
    assert improvement(x, y) == pytest.approx((2.5 / 4 + 0.5) / 2)
    assert improvement(x, y) + improvement(y, x) == pytest.approx(1.0)
    assert improvement(x, x) == 0.5


def test_probability_of_improvement_is_mann_whitney_u_over_nm() -> None:
    rng = np.random.default_rng(3)  # accuracies on 50 test examples: ties are common
    x = {w: list(rng.integers(30, 45, size=5) / 50) for w in ("a", "b", "c")}
    y = {w: list(rng.integers(28, 43, size=4) / 50) for w in ("a", "b", "c")}
    want = np.mean([stats.mannwhitneyu(x[w], y[w]).statistic / (5 * 4) for w in x])
    assert improvement(x, y) == pytest.approx(want)


def test_stratified_resamples_keep_each_workloads_seeds_and_count() -> None:
    scores = {"w1": [0.1, 0.2, 0.3], "w2": [0.8, 0.9]}
    w1, w2 = resample(scores, rng_for("x"), 500)
    assert w1.shape == (500, 3) and w2.shape == (500, 2)
    assert set(np.unique(w1)) == {0.1, 0.2, 0.3} and set(np.unique(w2)) == {0.8, 0.9}


def test_intervals_cover_the_estimate_shrink_with_seeds_and_reproduce_under_a_seed() -> None:
    rng = np.random.default_rng(0)
    few = {w: list(rng.normal(0.8, 0.03, size=4)) for w in ("a", "b")}
    many = {w: xs * 10 for w, xs in few.items()}  # the same spread over 10x the seeds
    widths = []
    for scores in (few, many):
        low, high = iqm_interval(scores, rng_for("v"))
        point = iqm(np.concatenate(list(scores.values())))
        assert low <= point <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # about 1/sqrt(10) as wide
    assert iqm_interval(few, rng_for("v")) == iqm_interval(few, rng_for("v"))
    assert iqm_interval(few, rng_for("v")) != iqm_interval(few, rng_for("v", seed=1))
    ref = {w: list(rng.normal(0.78, 0.03, size=3)) for w in ("a", "b")}
    low, high = improvement_interval(few, ref, rng_for("v", "over", "ref"))
    assert 0 <= low <= improvement(few, ref) <= high <= 1
    assert improvement_interval(few, ref, rng_for("q")) == improvement_interval(few, ref, rng_for("q"))  # fmt: skip


def test_a_variant_missing_from_a_workload_is_left_out_saying_why() -> None:
    cells = [("B", "m", {"m/gru": [0.9], "m/mlp": [0.7], "m/cnn": [0.8]}, "m/mlp"),
             ("B", "d", {"d/mlp": [0.6], "d/cnn": []}, "d/mlp")]  # fmt: skip
    kept, refs, left = gather(cells)
    assert kept == {"B": {"mlp": {"m": [0.7], "d": [0.6]}}} and refs == {"B": "mlp"}
    assert left == {"B": {"gru": "not run on d", "cnn": "no finished run on d"}}


def test_aggregates_go_to_a_table_strict_json_and_a_figure(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    study = StudyOutput(store, "optimizers", "agg", {})
    summary = Summary("optimizers", "T")
    rng = np.random.default_rng(1)
    cells = [("Optimizers", w, {f"{w}/{v}": list(rng.normal(mu, 0.02, size=4).clip(0, 1))
                                for v, mu in (("adam", 0.8), ("sgd", 0.7), ("lion", 0.82))}, f"{w}/adam")
             for w in ("mnist1d", "digits")]  # fmt: skip
    add_aggregates(summary, study, cells)
    agg = summary.data["aggregates"]
    json.dumps(agg, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert agg["resamples"] == RESAMPLES == 2000 and agg["workloads"] == ["mnist1d", "digits"]
    fam = agg["families"]["Optimizers"]
    assert fam["reference"] == "adam" and list(fam["variants"]) == ["adam", "sgd", "lion"]
    sgd = fam["variants"]["sgd"]
    assert sgd["n"] == {"mnist1d": 4, "digits": 4}
    assert sgd["iqm"] == pytest.approx(iqm(cells[0][2]["mnist1d/sgd"] + cells[1][2]["digits/sgd"]))
    assert sgd["p_improvement"] == 0.0 and sgd["p_ci"] == [0.0, 0.0]  # 0.1 below on both
    assert fam["variants"]["adam"]["p_improvement"] is None
    table = summary.tables[0]
    assert table.title == "Optimizers: IQM and probability of improvement over workloads"
    assert table.rows[1][:2] == ["sgd", "4+4"] and table.rows[0][5] is None
    assert "2000 stratified-bootstrap resamples" in table.note
    assert [f.file for f in study.figures] == ["aggregates.png"]
    assert all((study.dir / f"aggregates.{s}").exists() for s in ("png", "svg", "pdf"))


def test_aggregate_figure_has_iqm_and_improvement_panels_with_intervals() -> None:
    panels = {"Optimizers": ("adam", {"adam": (0.8, 0.78, 0.82), "sgd": (0.7, 0.65, 0.74)},
                             {"sgd": (0.1, 0.0, 0.3)})}  # fmt: skip
    fig = plot_aggregates(panels, "test_acc", "Aggregates")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["sgd", "adam"]
    assert right.get_xlim() == (-0.03, 1.03) and "over adam" in right.get_title()
    assert len(left.containers) == 2 and len(right.containers) == 1  # one bar per interval
    assert "(reference)" in [t.get_text() for t in right.texts]


def test_regularization_on_two_workloads_reports_aggregates_everywhere(tmp_path: Path) -> None:
    budget = RegBudget(seeds=2, epochs=2, methods=("none", "dropout 0.5"))
    result = run_regularization(
        budget,
        base=RunConfig.model_validate(SMALL),
        data=["mnist1d", "digits"],
        options=StudyOptions(workers=1, progress=False),
    )
    data = result.summary.data
    fam = data["aggregates"]["families"]["Regularization"]
    assert fam["reference"] == "none" and set(fam["variants"]) == {"none", "dropout 0.5"}
    pooled = data["test_acc"]["mnist1d/dropout 0.5"] + data["test_acc"]["digits/dropout 0.5"]
    assert fam["variants"]["dropout 0.5"]["iqm"] == pytest.approx(iqm(pooled))
    stored = json.loads(json.dumps(result.to_json(), allow_nan=False))  # what --json prints
    assert stored["data"]["aggregates"]["families"]["Regularization"]["reference"] == "none"
    title = "Regularization: IQM and probability of improvement over workloads"
    assert (result.dir / "regularization-iqm-and-probability-of-improvement-over-workloads.tex").exists()  # fmt: skip
    html = write_report(Store(), tmp_path / "report.html", [result.study_id]).path.read_text()
    assert title in html
    figure = r'<figcaption><span class="label">Figure \d+\.</span> Aggregates over workloads\.'
    assert re.search(figure, html)
    app = create_app(Store().root, host="testserver", port=None)
    page = TestClient(app, base_url="http://testserver").get(f"/api/study/{result.study_id}").json()
    assert title in [t["title"] for t in page["summary"]["tables"]]
    assert "aggregates.png" in [f["file"] for f in page["summary"]["figures"]]


def test_baselines_on_two_datasets_aggregate_the_models_on_both_against_the_mlp() -> None:
    result = run_baselines(
        BaselineBudget(seeds=2, epochs=1),
        datasets=("mnist1d", "digits"),
        options=StudyOptions(workers=1, progress=False),
    )
    fam = result.summary.data["aggregates"]["families"]["Baselines"]
    assert fam["reference"] == "mlp" and list(fam["variants"]) == ["logreg", "mlp", "cnn"]
    assert fam["left_out"] == {"gru": "not run on digits"}
    test = result.summary.data["test_acc"]
    cnn = {w: test[f"{w}/cnn"] for w in ("mnist1d", "digits")}
    mlp = {w: test[f"{w}/mlp"] for w in ("mnist1d", "digits")}
    assert fam["variants"]["cnn"]["p_improvement"] == pytest.approx(improvement(cnn, mlp))
    table = next(t for t in result.summary.tables if t.title.startswith("Baselines: IQM"))
    assert table.note.endswith("left out: gru (not run on digits)")


def test_optimizers_on_two_workloads_aggregate_each_family_against_its_reference() -> None:
    budget = OptimBudget(epochs=2, lrs=(0.01,), seeds=2, tuning_seeds=1, extend=0)
    result = run_optimizers(
        budget,
        optimizers=("sgd", "adam"),
        schedules=(),
        base=RunConfig.model_validate(SMALL),
        data=("mnist1d", "digits"),
        options=StudyOptions(workers=1, progress=False),
    )
    data = result.summary.data
    fams = data["aggregates"]["families"]
    assert list(fams) == ["Optimizers (constant schedule)"]
    fam = fams["Optimizers (constant schedule)"]
    assert fam["reference"] == "adam" and set(fam["variants"]) == {"sgd", "adam"}
    sgd = {w: data[f"{w}/optimizers"]["test_acc"][f"{w}/sgd"] for w in ("mnist1d", "digits")}
    adam = {w: data[f"{w}/optimizers"]["test_acc"][f"{w}/adam"] for w in ("mnist1d", "digits")}
    assert fam["variants"]["sgd"]["p_improvement"] == pytest.approx(improvement(sgd, adam))
    assert fam["variants"]["sgd"]["n"] == {"mnist1d": 2, "digits": 2}
