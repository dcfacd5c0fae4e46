"""Parallel workers, killed searches and heartbeats: no trial lost, none run twice."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.search import SearchSettings, load_trials, parse_space, run_search
from trainlab.search.storage import (
    FlockLock,
    count_done,
    has_heartbeat,
    open_storage,
    recover_trials,
)
from trainlab.track.store import Store

BASE = {
    "name": "tiny",
    "data": {"name": "moons"},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 64, "checkpoint": "none"},
}
GRID = {
    "optim.lr": {"choice": [0.003, 0.01, 0.03]},
    "model.options.width": {"choice": [4, 8]},
}


def base(**over: object) -> RunConfig:
    return RunConfig.model_validate(BASE).with_overrides(dict(over))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_grid_workers_run_every_point_once() -> None:
    store = Store()
    result = run_search(base(), parse_space(GRID), SearchSettings("grid", workers=2), store)
    points = [tuple(sorted(t.params.items())) for t in result.trials]
    assert len(points) == len(set(points)) == 6
    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.state == "COMPLETE" for t in result.trials)
    runs = [r for _, r in store.study_runs(result.study_id)]
    assert sorted(r.id for r in runs) == sorted(t.run_id or "" for t in result.trials)
    workers = {t.run_id: store.get_run(t.run_id or "").env["torch_threads"] for t in result.trials}
    assert set(workers.values()) == {1}  # the thread rule: 2 workers x 1 thread on 2 cores


def test_two_tpe_workers_lose_no_trial() -> None:
    store = Store()
    settings = SearchSettings("tpe", trials=6, workers=2, seed=3)
    result = run_search(base(), parse_space(GRID), settings, store)
    assert [t.number for t in result.trials] == list(range(6))
    assert len({t.run_id for t in result.trials}) == 6 and len(store.list_runs()) == 6


def test_a_trial_of_a_dead_worker_is_failed_and_rerun_once() -> None:
    store, space = Store(), parse_space(GRID)
    settings = SearchSettings("random", trials=3, name="killed")
    run_search(base(), space, settings, store)
    storage = open_storage(None, next((store.root / "optuna").glob("*.journal")))
    study = optuna.load_study(study_name="killed", storage=storage)
    orphan = study.ask()
    orphan.suggest_categorical("optim.lr", [0.003, 0.01, 0.03])
    orphan.set_user_attr("worker", f"{os.uname().nodename}|{dead_pid()}||{orphan.number}")
    result = run_search(base(), space, SearchSettings("random", trials=5, name="killed"), store)
    by_number = {t.number: t for t in result.trials}
    assert by_number[3].state == "FAIL"
    retry = [t for t in result.trials if t.retry_of == 3]
    assert len(retry) == 1 and retry[0].state == "COMPLETE"
    assert retry[0].params["optim.lr"] == orphan.params["optim.lr"]
    assert sum(t.state == "COMPLETE" for t in result.trials) == 5
    assert not any(t.state == "RUNNING" for t in result.trials)


def start_search(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`trainlab search run` in its own process group (so the test can kill it, workers and all)."""
    (tmp_path / "base.yaml").write_text(json.dumps(BASE))
    (tmp_path / "space.yaml").write_text(json.dumps(GRID))
    args = ["search", "run", "base.yaml", "space.yaml", *extra]
    cmd = [sys.executable, "-m", "trainlab", *args]
    return subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, stderr=subprocess.DEVNULL)


def kill_while_training(
    proc: subprocess.Popen[bytes], name: str, number: int, url: str | None = None
) -> FrozenTrial:
    """SIGKILL the search once trial `number` is running and linked to its run (mid-training)."""
    store, deadline = Store(), time.time() + 90
    storage = open_storage(url, store.root / "optuna" / f"{name}.optuna.journal")
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        except KeyError:
            continue  # not created yet
        if len(trials) > number and trials[number].user_attrs.get("run_id"):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            assert trials[number].state == TrialState.RUNNING
            return trials[number]
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"trial {number} of {name!r} never ran (exit code {proc.poll()})")


def test_a_killed_search_resumes_to_its_budget(tmp_path: Path) -> None:
    args = ["train.epochs=30", "--method", "random", "--trials", "3", "--name", "kill-me"]
    killed = kill_while_training(start_search(tmp_path, *args), "kill-me", 1)
    settings = SearchSettings("random", trials=3, name="kill-me")
    started = time.perf_counter()
    result = run_search(base(**{"train.epochs": 30}), parse_space(GRID), settings, Store())
    states = [t.state for t in result.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    retry = result.trials[2]
    assert retry.retry_of == 1 and retry.params == result.trials[1].params
    runs = {r.id: r.status for r in Store().list_runs()}
    killed_run = killed.user_attrs["run_id"]
    assert result.trials[1].run_id == killed_run and runs[killed_run] == "interrupted"
    assert sorted(runs.values()) == ["finished"] * 3 + ["interrupted"]
    assert time.perf_counter() - started < 25  # no stale journal lock to wait out (Optuna's: 30 s)


def test_the_journal_lock_dies_with_its_process(tmp_path: Path) -> None:
    journal = tmp_path / "x.journal"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(journal)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    lock, started = FlockLock(str(journal)), time.perf_counter()
    assert lock.acquire() and time.perf_counter() - started < 1
    lock.release()
    storage = open_storage(None, journal)  # the default storage uses this lock
    optuna.create_study(storage=storage, study_name="locked").ask()
    assert (tmp_path / "x.journal.flock").exists()


LOCK_HOLDER = textwrap.dedent(  # FlockLock's own calls, without importing trainlab (torch: slow)
    """
    import fcntl, os, sys, time
    fcntl.flock(os.open(sys.argv[1] + ".flock", os.O_CREAT | os.O_RDWR), fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(60)
    """
)


HEARTBEAT_WORKER = textwrap.dedent(
    """
    import sys, time, optuna
    storage = optuna.storages.RDBStorage(sys.argv[1], heartbeat_interval=1, grace_period=3)
    study = optuna.load_study(study_name="hb", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + time.sleep(120), n_trials=1)
    """
)


def test_heartbeat_fails_and_requeues_a_killed_workers_trial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url, tmp_path / "unused", heartbeat_interval=1)
    assert has_heartbeat(storage)
    study = optuna.create_study(storage=storage, study_name="hb")
    worker = subprocess.Popen([sys.executable, "-c", HEARTBEAT_WORKER, url])
    deadline = time.time() + 60
    while not study.get_trials(states=(TrialState.RUNNING,)) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the worker's heartbeat thread has beaten at least once
    worker.kill()
    worker.wait()
    assert recover_trials(study, heartbeat=True) == []  # within the grace period: still alive
    time.sleep(3.5)  # grace period: 3 heartbeat intervals
    assert recover_trials(study, heartbeat=True) == [0]
    first, again = study.get_trials()
    assert first.state == TrialState.FAIL and again.state == TrialState.WAITING
    assert again.params == first.params and again.system_attrs["failed_trial"] == 0
    assert count_done(study.get_trials()) == 0  # a re-queued trial does not use up budget


def test_a_database_url_works_and_sqlite_refuses_parallel_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    store = Store()
    settings = SearchSettings("random", trials=2, storage=url, name="db")
    result = run_search(base(), parse_space(GRID), settings, store)
    assert [t.state for t in result.trials] == ["COMPLETE", "COMPLETE"]
    record, saved = load_trials(store, "db")  # the URL is not kept: trials as last written
    assert record.config["storage"] == url and [t.run_id for t in saved] == [
        t.run_id for t in result.trials
    ]
    _, live = load_trials(store, "db", storage=url)
    assert [t.value for t in live] == [t.value for t in result.trials]
    with pytest.raises(ConfigError, match="SQLite locks under parallel writers"):
        run_search(base(), parse_space(GRID), SearchSettings("random", 2, workers=2, storage=url))


POSTGRES_URL = os.environ.get("TRAINLAB_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason='no PostgreSQL: export TRAINLAB_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)" to run it',
)


@needs_postgres
def test_postgres_grid_with_two_workers_retries_a_killed_workers_trial(tmp_path: Path) -> None:
    """The several-machines route: a worker dies mid-trial on another machine (its trial looks
    foreign, so only its stopped heartbeat tells); the next `search run` fails and re-queues that
    trial, and two workers finish the grid with every point run exactly once."""
    url = POSTGRES_URL or ""
    name = f"trainlab-test-{os.getpid()}-{time.time_ns()}"
    args = ["train.epochs=30", "--method", "grid", "--storage", url, "--heartbeat", "1"]
    killed = kill_while_training(start_search(tmp_path, *args, "--name", name), name, 0, url)
    storage = open_storage(url, tmp_path / "unused", heartbeat_interval=1)
    study = optuna.load_study(study_name=name, storage=storage)
    trial_id = study.get_trials(deepcopy=False)[0]._trial_id
    storage.set_trial_user_attr(trial_id, "worker", "another-machine|1|0|0")
    assert study.get_trials()[0].state == TrialState.RUNNING
    time.sleep(3.5)  # grace period: 3 heartbeat intervals of 1 s
    settings = SearchSettings("grid", workers=2, storage=url, name=name, heartbeat=1)
    try:
        result = run_search(base(**{"train.epochs": 30}), parse_space(GRID), settings, Store())
        states = [t.state for t in result.trials]
        assert states[0] == "FAIL" and states.count("COMPLETE") == 6 and len(states) == 7
        retry = next(t for t in result.trials if t.retry_of == 0)
        assert retry.params == killed.params and retry.state == "COMPLETE"
        killed_run = killed.user_attrs["run_id"]
        points = [tuple(sorted(t.params.items())) for t in result.trials if t.state == "COMPLETE"]
        assert len(set(points)) == 6
        runs = {r.id: r.status for r in Store().list_runs()}
        assert result.trials[0].run_id == killed_run and runs[killed_run] == "interrupted"
        assert sorted(runs.values()) == ["finished"] * 6 + ["interrupted"]
        live = [t.state for t in optuna.load_study(study_name=name, storage=url).get_trials()]
        assert "RUNNING" not in {s.name for s in live}
    finally:
        optuna.delete_study(study_name=name, storage=url)
