"""Searches on Ray: with a local Ray head on 127.0.0.1 (2 CPUs) each trial is a Ray task whose run
the driver alone stores, linked as a local search links it; a rerun adds nothing; the pruner
decides inside the task; a Ray worker killed mid-trial is retried and its trial never stays
RUNNING; a bad executor/storage combination and a missing Ray each give one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import ray as ray_exec
from trainlab.search import SearchSettings, parse_space, run_search
from trainlab.search.storage import JOURNAL_FILE, open_storage
from trainlab.track.store import Store
from trainlab.track.summary import slug

from conftest import ray_task_pids

DIGITS = {
    "name": "digits-mlp",
    "data": {"name": "digits"},
    "model": {"name": "mlp", "options": {"width": 16}},
    "train": {"epochs": 2, "batch_size": 64},
}
LONG = {  # a trial that trains long enough to be killed mid-run
    "name": "moons-long",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 150, "batch_size": 50},
}
SPACE = {"optim.lr": {"log_uniform": [1e-3, 1e-1]}}
POSTGRES_URL = os.environ.get("TRAINLAB_TEST_POSTGRES_URL")


def base(raw: dict[str, Any] = DIGITS, **over: Any) -> RunConfig:
    return RunConfig.model_validate(raw).with_overrides(over)


def ray_settings(**over: Any) -> SearchSettings:
    return SearchSettings(**{"method": "random", "trials": 4, "workers": 2, "executor": "ray",
                             **over})  # fmt: skip


def journal(store: Store, name: str) -> Path:
    return store.root / "optuna" / f"{slug(name)}.{JOURNAL_FILE}"


def test_search_on_ray_stores_linked_trials_on_the_driver_and_a_rerun_adds_nothing(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.yaml").write_text(json.dumps(DIGITS))
    (tmp_path / "space.yaml").write_text(json.dumps(SPACE))
    args = ["search", "run", str(tmp_path / "base.yaml"), str(tmp_path / "space.yaml"),
            "--method", "random", "--trials", "4", "--workers", "2", "--executor", "ray",
            "--name", "on-ray", "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["state"] for t in out["trials"]] == ["COMPLETE"] * 4
    store = Store()
    links = {link.variant: link.run for link in store.study_links(out["study_id"], role="search")}
    assert sorted(links) == [f"trial-{i}" for i in range(4)]
    for t in out["trials"]:
        run = links[f"trial-{t['number']}"]
        epochs = store.epochs(run.id)
        assert t["run_id"] == run.id and run.status == "finished"
        assert [e["epoch"] for e in epochs] == [1, 2] and t["epochs"] == 2
        assert t["value"] == pytest.approx(epochs[-1]["val_acc"])
        assert (run.dir / "model.pt").exists() and "test_acc" in run.summary
    assert out["best_run_id"] in {r.id for r in links.values()} and len(store.list_runs()) == 4
    study = optuna.load_study(
        study_name="on-ray", storage=open_storage(None, journal(store, "on-ray"))
    )
    assert [sorted(t.intermediate_values) for t in study.trials] == [[1, 2]] * 4  # from the tasks
    assert main(args) == 0  # the budget is spent: nothing runs again
    again = json.loads(capsys.readouterr().out)
    assert [t["run_id"] for t in again["trials"]] == [t["run_id"] for t in out["trials"]]
    assert len(store.list_runs()) == 4


def test_confirmation_runs_are_ray_tasks_and_a_run_optuna_never_heard_of_is_reused(
    local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    units: list[int] = []
    run_ray = ray_exec.run_ray

    def spy(store: Store, study_id: str, todo: Any, settings: Any, done: Any) -> None:
        units.append(len(todo))
        run_ray(store, study_id, todo, settings, done)

    monkeypatch.setattr(ray_exec, "run_ray", spy)  # the study executor's Ray path
    store = Store()
    settings = ray_settings(trials=2, name="told-nothing", confirm=1, confirm_seeds=2)
    first = run_search(base(), parse_space(SPACE), settings, store)
    assert units == [2]  # the confirmation's two fresh seeds, as Ray tasks
    confirm = store.study_links(first.study_id, role="confirm")
    assert sorted(link.run.seed for link in confirm) == [1000, 1001]
    assert first.winner is not None  # its runs in seed order (the links: in order of arrival)
    assert [store.get_run(r).seed for r in first.winner.run_ids] == [1000, 1001]
    assert set(first.winner.run_ids) == {link.run.id for link in confirm}
    journal(store, "told-nothing").unlink()  # as if the driver died between store and tell
    again = run_search(base(), parse_space(SPACE), settings, store)
    assert [t.state for t in again.trials] == ["COMPLETE"] * 2
    assert [t.run_id for t in again.trials] == [t.run_id for t in first.trials]
    assert [t.value for t in again.trials] == [t.value for t in first.trials]
    assert len(store.list_runs()) == 4 and units == [2]  # nothing trained again


def test_the_pruner_decides_inside_the_ray_task(local_ray: None) -> None:
    """Five finished trials at 1.0 on every epoch: the median pruner stops the sixth, trained
    in a Ray task, after epoch 2 (its warm-up); the driver stores a pruned run of 2 epochs."""
    store = Store()
    name = "pruned-on-ray"
    study = optuna.create_study(
        study_name=name, storage=open_storage(None, journal(store, name)), direction="maximize"
    )
    lr = FloatDistribution(1e-3, 1e-1, log=True)
    for _ in range(5):
        study.add_trial(create_trial(params={"optim.lr": 0.01}, distributions={"optim.lr": lr},
                                     value=1.0, intermediate_values={1: 1.0, 2: 1.0, 3: 1.0}))  # fmt: skip
    settings = ray_settings(trials=6, workers=1, prune="median", name=name)
    result = run_search(base(**{"train.epochs": 3}), parse_space(SPACE), settings, store)
    last = result.trials[-1]
    assert [t.state for t in result.trials] == ["COMPLETE"] * 5 + ["PRUNED"]
    assert last.pruned_epoch == 2 and last.run_id is not None
    run = store.get_run(last.run_id)
    assert run.status == "pruned" and [e["epoch"] for e in store.epochs(run.id)] == [1, 2]
    assert [link.run.id for link in store.study_links(result.study_id, role="search")] == [run.id]


def _kill_mid_trial(path: Path, name: str, killed: list[int]) -> None:
    """SIGKILL the trial's Ray worker once the trial has reported 3 epochs from it."""
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            study = optuna.load_study(study_name=name, storage=open_storage(None, path))
        except KeyError:
            continue  # not created yet
        pids = ray_task_pids("train_trial")
        if pids and any(len(t.intermediate_values) >= 3 for t in study.trials):
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
            return


def _search_with_one_kill(store: Store, name: str) -> Any:
    killed: list[int] = []
    args = (journal(store, name), name, killed)
    killer = threading.Thread(target=_kill_mid_trial, args=args, daemon=True)
    killer.start()
    settings = ray_settings(trials=1, workers=1, name=name)
    result = run_search(base(LONG), parse_space(SPACE), settings, store)
    killer.join()
    assert killed, "no Ray trial task was seen reporting epochs"
    live = optuna.load_study(study_name=name, storage=open_storage(None, journal(store, name)))
    assert TrialState.RUNNING not in {t.state for t in live.trials}
    return result


def test_a_killed_ray_worker_is_retried_with_its_trial_complete_and_one_run(
    local_ray: None,
) -> None:
    store = Store()
    result = _search_with_one_kill(store, "killed-once")
    assert [t.state for t in result.trials] == ["COMPLETE"]
    runs = store.list_runs()
    assert len(runs) == 1 and runs[0].id == result.trials[0].run_id
    assert len(store.epochs(runs[0].id)) == 150


def test_a_trial_whose_ray_retries_are_spent_ends_failed_not_running(
    local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_exec, "MAX_RETRIES", 0)
    store = Store()
    result = _search_with_one_kill(store, "killed-for-good")
    (trial,) = result.trials
    assert trial.state == "FAIL" and trial.run_id is None
    assert trial.error is not None and trial.error.startswith("ray task failed")
    assert store.list_runs() == []


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason='no PostgreSQL: export TRAINLAB_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)" to run it',
)
def test_a_search_with_postgres_storage_runs_on_ray(
    local_ray: None, recwarn: pytest.WarningsRecorder
) -> None:
    url = POSTGRES_URL or ""
    name = f"trainlab-ray-test-{os.getpid()}-{time.time_ns()}"
    store = Store()
    settings = ray_settings(trials=2, storage=url, name=name, heartbeat=1)
    try:
        result = run_search(base(), parse_space(SPACE), settings, store)
        assert [t.state for t in result.trials] == ["COMPLETE"] * 2
        runs = {link.run.id for link in store.study_links(result.study_id, role="search")}
        assert runs == {t.run_id for t in result.trials} and len(store.list_runs()) == 2
        again = run_search(base(), parse_space(SPACE), settings, store)
        assert len(again.trials) == 2 and len(store.list_runs()) == 2
        assert not [w for w in recwarn if "Heartbeat" in str(w.message)]  # the tasks beat
    finally:
        optuna.delete_study(study_name=name, storage=url)


@pytest.mark.parametrize("storage", [None, "sqlite:///optuna.db"])
def test_a_cluster_with_a_file_storage_is_refused_in_one_line(
    storage: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "space.yaml").write_text(json.dumps(SPACE))
    args = ["search", "run", str(tmp_path / "space.yaml"), "--method", "random", "--trials", "2",
            "--executor", "ray", "--ray-address", "10.0.0.1:6379", "--store", str(tmp_path)]  # fmt: skip
    assert main(args + (["--storage", storage] if storage else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address 10.0.0.1:6379" in err[0]
    shown = storage or "none (the journal file in the store)"
    assert f"--storage {shown} with" in err[0] and "postgresql://" in err[0]
    assert Store(tmp_path).list_studies() == []


def test_a_search_without_ray_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=re.escape(ray_exec.INSTALL)):
        run_search(base(), parse_space(SPACE), ray_settings(), Store(tmp_path / "api"))
    (tmp_path / "space.yaml").write_text(json.dumps(SPACE))
    args = ["search", "run", str(tmp_path / "space.yaml"), "--method", "random", "--trials", "2",
            "--executor", "ray", "--store", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ray_exec.INSTALL in err[0]
    assert Store(tmp_path).list_studies() == []


@pytest.mark.parametrize("command", [["study", "baselines"], ["search", "run"]])
def test_executor_help_shows_the_extra_in_brackets(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*command, "--help"]) == 0
    assert "pip install 'trainlab[ray]'" in capsys.readouterr().out
