"""A study through its real path on a tiny budget: per-example test outcomes stored beside each
run, seeds added as a corrected new look, plans that ignore seed counts and execution settings
but name what differs, selection on seeds that are never tested, and the seeds planner."""

import json
import threading

import numpy as np
import pytest

from test_studies import tiny
from trainlab.errors import ConfigError
from trainlab.execute import load_examples
from trainlab.studies import StudyOptions, run_grid
from trainlab.studies.output import StudyOutput
from trainlab.studies.planner import plan_seeds
from trainlab.track.store import Store


def test_each_final_run_keeps_its_test_outcomes_compactly() -> None:
    store = Store()
    result = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    finals = [link.run for link in store.study_links(result.study_id, "final")]
    assert len(finals) == 4
    for run in finals:
        ex = load_examples(run)
        assert ex is not None and ex.correct.dtype == bool
        assert float(ex.correct.mean()) == pytest.approx(run.summary["test_acc"], abs=1e-6)
        assert np.all(ex.loss >= 0) and ex.loss.size == ex.correct.size
    labels = {load_examples(r).labels for r in finals}  # type: ignore[union-attr]
    assert len(labels) == 1  # one test set: the comparison pairs examples


def test_adding_seeds_is_a_new_corrected_look_of_the_same_study(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store()
    first = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    assert "no verdict possible at n=2" in capsys.readouterr().err  # said before training
    comp = first.summary.data["comparison"]
    assert comp["look"] == 1 and comp["alpha_look"] == pytest.approx(0.05 * 6 / np.pi**2)
    again = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    assert again.study_id == first.study_id and again.summary.data["comparison"]["look"] == 1
    more = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=3,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    assert more.study_id == first.study_id  # the default name leaves the seed count out
    c = more.summary.data["comparison"]
    assert c["look"] == 2 and c["alpha_look"] == pytest.approx(0.05 * 6 / (np.pi**2 * 4))
    looks = store.get_study(more.study_id).summary["data"]["looks"]
    assert [(k["look"], k["n"]) for k in looks] == [
        (1, {"optim.name=adam": 2, "optim.name=sgd": 2}),
        (2, {"optim.name=adam": 3, "optim.name=sgd": 3}),
    ]
    assert more.to_json()["look"] == 2
    assert all("look 2 at alpha 0.0076" in v for v in more.summary.verdicts)
    assert more.counts["reused"] >= 6  # the first look's runs are not trained again
    json.dumps(store.get_study(more.study_id).summary, allow_nan=False)


def test_a_plan_ignores_execution_settings_and_names_what_differs() -> None:
    store = Store()
    run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, name="x", progress=False),
    )
    resumed = run_grid(
        tiny(**{"train.checkpoint": "every_epoch", "train.threads": 1}),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, name="x", progress=False),
    )
    assert resumed.counts["reused"] == resumed.counts["runs"]
    with pytest.raises(ConfigError) as exc:
        run_grid(
            tiny(**{"optim.lr": 0.02}),
            ["optim.name=sgd,adam"],
            seeds=2,
            options=StudyOptions(workers=1, store=store, name="x", progress=False),
        )
    msg = str(exc.value)
    assert "\n" not in msg and "base.optim.lr: 0.01 -> 0.02" in msg and "--name 'x'" in msg


def test_two_processes_opening_one_name_with_different_plans_never_both_pass() -> None:
    store = Store()
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def open_it(lr: float) -> None:
        barrier.wait()
        try:
            StudyOutput(Store(store.root), "grid", "race", {"base": {"optim": {"lr": lr}}})
        except ConfigError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=open_it, args=(lr,)) for lr in (0.1, 0.2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (
        len(errors) == 1 and len([s for s in store.list_studies("grid") if s.name == "race"]) == 1
    )


def test_best_is_chosen_on_selection_seeds_that_are_never_tested() -> None:
    store = Store()
    result = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    selection = [link.run for link in store.study_links(result.study_id, "selection")]
    assert sorted(r.seed for r in selection) == [1000, 1000]
    finals = {link.run.id for link in store.study_links(result.study_id, "final")}
    assert not finals & {r.id for r in selection}
    best = result.summary.data["comparison"]["best"][0]
    picked = max(selection, key=lambda r: r.summary["val_acc"])
    assert best["variant"] == picked.name and best["selection_score"] == picked.summary["val_acc"]
    none = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        selection_seeds=0,
        options=StudyOptions(workers=1, store=store, name="no-selection", progress=False),
    )
    assert none.summary.data["comparison"]["best"] == []


def test_the_planner_reads_a_stored_study() -> None:
    store = Store()
    result = run_grid(
        tiny(),
        ["optim.lr=0.01,0.1"],
        seeds=3,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    plan = plan_seeds(store, result.name, 0.05)
    # look 2 tests at 0.0076: 2 / 2^9 is the first floor under it
    assert plan["look"] == 2 and plan["n_comparisons"] == 1 and plan["floor_seeds"] == 9
    (row,) = plan["rows"]
    assert row["pilot_n"] == 3 and row["test_set_se"] > 0
    assert row["seeds"] is None or row["seeds"] >= plan["floor_seeds"]
    with pytest.raises(ConfigError, match="--effect 2"):
        plan_seeds(store, result.name, 2)
