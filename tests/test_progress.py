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


def test_a_log_gets_run_and_trial_counts_at_start_end_and_every_few_seconds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainlab import progress

    clock = iter([0.0, 1.0, 6.0, 7.0, 8.0, 20.0, 21.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress_bar("demo") as bar:
        for done in (0, 1, 2, 3, 5):  # at 0 s, 1 s (too soon), 6 s, 7 s (too soon), the end
            bar.runs(None, done, 5)
        bar.set_total(2)
        bar.completed = 0
        bar.trial(TrialRecord(number=0, state="COMPLETE", value=0.5, params={}))  # 20 s
        bar.trial(TrialRecord(number=1, state="PRUNED", value=None, params={}))  # the end
    assert capsys.readouterr().err.splitlines() == [
        "demo: 0/5 runs",
        "demo: 2/5 runs",
        "demo: 5/5 runs",
        "demo: 1/2 trials (trial 0 complete 0.5000)",
        "demo: 2/2 trials (trial 1 pruned)",
    ]
