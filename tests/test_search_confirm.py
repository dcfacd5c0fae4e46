"""The search's objective scores the weights it tests; --confirm re-runs the top trials on fresh
seeds, chooses on mean validation and reports the winner's test accuracy with a bounded CI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.data import load
from trainlab.search import SearchSettings, parse_space, run_search
from trainlab.search.confirm import bounded_interval
from trainlab.track.store import Store
from trainlab.train.experiment import load_model
from trainlab.train.metrics import evaluate

BASE = {
    "name": "tiny",
    "data": {"name": "moons"},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 3, "batch_size": 64},
}
SPACE = {"optim.lr": {"log_uniform": [1e-3, 1e-1], "points": 3}}


def base(**over: Any) -> RunConfig:
    return RunConfig.model_validate(BASE).with_overrides(over)


@pytest.mark.parametrize("early_stopping", [None, 1])
def test_reported_test_acc_belongs_to_the_weights_the_objective_scored(
    early_stopping: int | None,
) -> None:
    store = Store()
    cfg = base(**{"train.early_stopping": early_stopping})
    result = run_search(cfg, parse_space(SPACE), SearchSettings("grid"), store)
    for t in result.trials:
        record = store.get_run(t.run_id or "")
        model = load_model(record)  # the weights the run was tested with
        data = load(record.config.data, record.config.seed, "cpu")
        assert evaluate(model, data.x_val, data.y_val).acc == pytest.approx(t.value, abs=1e-9)
        assert evaluate(model, data.x_test, data.y_test).acc == pytest.approx(t.test_acc, abs=1e-9)


def test_confirm_reruns_the_top_trials_on_fresh_seeds_and_chooses_on_mean_validation() -> None:
    store = Store()
    settings = SearchSettings("grid", confirm=2, confirm_seeds=2)
    result = run_search(base(), parse_space(SPACE), settings, store)
    assert result.confirmed is not None and len(result.confirmed) == 2
    ranked = sorted((t for t in result.trials), key=lambda t: (-(t.value or 0), t.number))
    assert [c.trial for c in result.confirmed] == [t.number for t in ranked[:2]]
    search_seeds = {store.get_run(t.run_id or "").config.seed for t in result.trials}
    confirm_links = store.study_links(result.study_id, role="confirm")
    assert len(confirm_links) == 4
    assert {link.run.config.seed for link in confirm_links} == {1000, 1001}
    assert not search_seeds & {link.run.config.seed for link in confirm_links}
    assert len(store.study_links(result.study_id, role="search")) == len(result.trials)
    means = {}
    for c in result.confirmed:
        runs = [link.run for link in confirm_links if link.variant == f"trial-{c.trial}"]
        means[c.trial] = sum(r.summary["val_acc"] for r in runs) / len(runs)
        assert c.test_acc == [r.summary["test_acc"] for r in runs]
    assert result.winner is not None and means[result.winner.trial] == max(means.values())
    assert result.best is not None and result.best.number == result.winner.trial
    mean, lo, hi = result.test_interval or (0, 0, 0)
    assert mean == pytest.approx(sum(result.winner.test_acc) / 2)
    assert 0.0 <= lo <= mean <= hi <= 1.0
    again = run_search(base(), parse_space(SPACE), settings, store)  # resumes: nothing re-run
    assert len(store.list_runs()) == 3 + 4 and again.winner is not None
    assert again.winner.trial == result.winner.trial


def test_bounded_interval_stays_inside_zero_one() -> None:
    mean, lo, hi = bounded_interval([1.0, 1.0, 0.9])
    assert mean == pytest.approx(0.9666667) and hi == 1.0 and lo < mean
    assert bounded_interval([0.0, 0.05])[1] == 0.0
    assert bounded_interval([0.5]) == (0.5, 0.5, 0.5)


def test_cli_summary_goes_to_stdout_with_the_confirmed_test_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.yaml").write_text(json.dumps(BASE))
    (tmp_path / "space.yaml").write_text(json.dumps(SPACE))
    args = ["search", "run", str(tmp_path / "base.yaml"), str(tmp_path / "space.yaml")]
    assert main([*args, "train.epochs=1", "--method", "grid", "--confirm", "1", "--name", "c"]) == 0
    captured = capsys.readouterr()
    assert "best (confirmed on 3 fresh seeds): trial" in captured.out
    assert "test_acc" in captured.out and "95% CI" in captured.out
    assert "confirm trial" in captured.err and "confirm trial" not in captured.out
    # `search show` names the confirmed winner too, as text and in its JSON
    assert main(["search", "show", "c", "--json"]) == 0
    won = json.loads(capsys.readouterr().out)["winner"]
    assert len(won["seeds"]) == 3 and len(won["test_acc"]) == 3 and len(won["run_ids"]) == 3
    assert main(["search", "show", "c"]) == 0
    shown = capsys.readouterr().out
    mean = sum(won["values"]) / 3
    assert f"Confirmed winner: trial {won['trial']}, mean val_acc {mean:.4f} over 3 fresh" in shown
    assert f"winner's runs: {', '.join(won['run_ids'])}" in shown


@pytest.mark.slow  # a subprocess that imports torch: ~10 s on a quiet machine
def test_ctrl_c_prints_one_resume_line_and_exits_130(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(json.dumps({**BASE, "train": {"epochs": 200}}))
    (tmp_path / "space.yaml").write_text(json.dumps(SPACE))
    cmd = [sys.executable, "-m", "trainlab", "search", "run", str(tmp_path / "base.yaml"),
           str(tmp_path / "space.yaml"), "--method", "grid"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    store = Path(os.environ["TRAINLAB_STORE"])
    deadline = time.time() + 60
    while time.time() < deadline and not list(store.glob("runs/*/config.yaml")):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "interrupted: 0 trial(s) finished by this command"
    )
    assert "resume with: trainlab search run" in lines[0] and "--method grid" in lines[0]
    assert stdout == ""
