"""trainlab.progress: the bar counts executor outcomes and search trials; a log gets one line per step."""

from __future__ import annotations

import pytest

from trainlab.progress import progress_bar
from trainlab.search import TrialRecord


def test_bar_counts_runs_and_trials(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("demo", total=None) as bar:
        bar.runs(None, 2, 5)  # the executor's first call: 2 of 5 already done
        assert bar.completed == 2
        bar.set_total(7)
        bar.trial(TrialRecord(number=0, state="PRUNED", value=None, params={}))
        bar.advance(2)
        assert bar.completed == 5
    assert capsys.readouterr().out == ""  # progress never goes to stdout


def test_a_log_gets_one_line_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("demo", total=2) as bar:
        bar.doing("first")
        bar.advance()
        bar.doing("second")
    assert capsys.readouterr().err.splitlines() == ["demo: first", "demo: second"]


def test_runs_that_did_not_finish_are_counted_by_status() -> None:
    from trainlab.config import RunConfig
    from trainlab.execute import Job, Outcome

    job = Job("a", RunConfig())
    with progress_bar("demo") as bar:
        bar.runs(Outcome(job, "diverged", None), 1, 3)
        bar.runs(Outcome(job, "finished", None), 2, 3)
        bar.runs(Outcome(job, "failed", None), 3, 3)
        task = bar._progress.tasks[0]
        assert (bar.completed, bar.failed, task.total) == (3, 2, 3)
        assert task.fields["info"] == "1 diverged, 1 failed"
