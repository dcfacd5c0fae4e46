import json
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.track.store import Store


def test_suite_steps_write_one_report_and_a_rerun_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["suite", "--only", "recorder", "--only", "features", "--workers", "1", "--json"]
    code = main(args)
    first = json.loads(capsys.readouterr().out)
    assert code == 0 and [s["name"] for s in first["steps"]] == ["recorder", "features"]
    assert all(s["error"] is None and len(s["study_ids"]) == 1 for s in first["steps"])
    report = Path(first["report"])
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "trainlab suite (quick)" in html
    for step in first["steps"]:
        assert step["study_ids"][0] in html  # every step's study is in the report
    runs = {r.id for r in Store().list_runs()}
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    # finished runs are reused: the same studies, no new run trained
    assert [s["study_ids"] for s in again["steps"]] == [s["study_ids"] for s in first["steps"]]
    assert {r.id for r in Store().list_runs()} == runs


def test_suite_inspections_run_side_by_side_on_two_slots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from trainlab.execute import pool

    args = ["suite", "--only", "recorder", "--only", "features", "--workers", "2", "--json"]
    try:
        assert main(args) == 0
    finally:
        pool.shutdown()
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert [s["name"] for s in steps] == ["recorder", "features"]  # the order asked for
    assert all(s["error"] is None and len(s["study_ids"]) == 1 for s in steps)
    with sqlite3.connect(Store().db_path) as db:
        pids = {pid for (pid,) in db.execute("SELECT pid FROM runs")}
    assert len(pids) == 2  # one inspection here, the other in the warm worker


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--budget", "huge"], "--budget 'huge': choose one of quick, full"),
        (["--only", "everything"], "--only 'everything': choose from baselines"),
        (["--workers", "0"], "--workers 0: must be 1 or more"),
    ],
)
def test_suite_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert main(["suite", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert Store().list_runs() == [] and Store().list_studies() == []


@pytest.mark.slow  # a search + confirmation of the mnist1d CNN and the report: ~15 s quiet
def test_suite_search_confirms_its_top_trials_on_fresh_seeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainlab import suite as suite_module

    monkeypatch.setitem(suite_module.SEARCH_BUDGET, "quick", (3, 1))
    monkeypatch.setitem(suite_module.SEARCH_CONFIRM, "quick", (2, 2))
    assert main(["suite", "--only", "search", "--workers", "1", "--json"]) == 0
    (step,) = json.loads(capsys.readouterr().out)["steps"]
    store = Store()
    links = store.study_links(step["study_ids"][0], role="confirm")
    assert len(links) == 4 and {link.run.seed for link in links} == {1000, 1001}
    summary = store.get_study(step["study_ids"][0]).summary
    assert summary["data"]["winner"] in {int(link.variant.split("-")[1]) for link in links}
    lo, hi = summary["data"]["test_interval"][1:]
    assert 0.0 <= lo <= hi <= 1.0
    assert summary["answers"][0].startswith("best on validation (mean val_acc over 2 fresh seeds")
