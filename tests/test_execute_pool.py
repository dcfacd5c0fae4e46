"""The local executor: failures are counted, never fatal; a killed study resumes with no duplicate
and no missing run; worker processes run one thread each on a 2-core budget, stay warm across
studies while this process runs jobs too, and each sees its own GPU with --devices."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import ExecSettings, Job, execute, parse_devices, pool
from trainlab.studies import StudyOptions, expand, product, run_grid
from trainlab.track.store import Store
from trainlab.train.seed import threads_per_worker

TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50, "checkpoint": "none"},
}
# sgd at lr 1 with an L2 coefficient of 5 multiplies the weights by -4 per step: inf, then NaN.
DIVERGES = {"optim.name": "sgd", "optim.lr": 1.0, "regularize.l2": 5.0, "schedule.name": "constant",
            "train.batch_size": 4}  # fmt: skip


def tiny(**over: object) -> RunConfig:
    return RunConfig.model_validate(TINY).with_overrides(dict(over))


def assert_complete(store: Store, study_id: str, jobs: list[Job]) -> None:
    """Every job has exactly one finished run linked to the study; the other linked runs are the
    ones a kill interrupted or failed (kept in the study, so `study rm` and `gc` find them)."""
    linked = store.study_runs(study_id)
    done = Counter(r.config_hash for _, r in linked if r.status == "finished")
    assert done == Counter({j.hash for j in jobs}), "a run is missing or duplicated"
    assert all(r.status in ("finished", "interrupted", "failed") for _, r in linked)


def test_failed_and_diverged_runs_are_counted_not_fatal() -> None:
    store = Store()
    study = store.open_study("failing", "grid", {})
    jobs = [
        Job("ok", tiny(seed=0)),
        Job("no cuda", tiny(seed=2, **{"train.device": "cuda"})),  # fails preparing: no record
        Job("diverges", tiny(**DIVERGES)),
        Job("ok", tiny(seed=1)),
    ]
    outcomes = execute(store, study.id, jobs, workers=1)
    assert [o.status for o in outcomes] == ["finished", "failed", "diverged", "finished"]
    assert "CUDA is not available" in outcomes[1].error and outcomes[1].run is None
    assert outcomes[2].run is not None and outcomes[2].run.status == "diverged"
    again = execute(store, study.id, jobs, workers=1)  # diverged is a result: not run again
    assert [o.reused for o in again] == [True, False, True, True]


def test_rerun_skips_finished_runs_and_shares_duplicates() -> None:
    store = Store()
    base = tiny()
    first = run_grid(
        base,
        ["optim.lr=0.01"],
        seeds=2,
        selection_seeds=0,
        options=StudyOptions(workers=1, store=store, name="g", progress=False),
    )
    assert first.counts["reused"] == 0
    jobs = expand(base, product({"optim.lr": [0.01, 0.1]}), [0, 1, 2])
    second = run_grid(
        base,
        ["optim.lr=0.01,0.1"],
        seeds=3,
        selection_seeds=0,
        options=StudyOptions(workers=1, store=store, name="g-wider", progress=False),
    )
    assert second.counts == {"runs": 6, "reused": 2, "finished": 6, "diverged": 0, "failed": 0, "interrupted": 0}  # fmt: skip
    assert_complete(store, second.study_id, jobs)
    twice = execute(store, second.study_id, [jobs[0], jobs[0]], workers=1)
    assert twice[0].run is not None and twice[0].run == twice[1].run and twice[0].reused


KILLABLE = """
    import sys
    from trainlab.config import RunConfig
    from trainlab.execute import ExecSettings, use
    from trainlab.studies import StudyOptions, run_grid
    from trainlab.track.store import Store
    base = RunConfig.model_validate({TINY!r}).with_overrides({{"train.epochs": 60}})
    with use(ExecSettings(vectorize="off")):  # many small units: a kill hits one run
        run_grid(base, ["optim.lr=0.003,0.01,0.03,0.1"], seeds=5, selection_seeds=0,
                 options=StudyOptions(workers=3, store=Store(sys.argv[1]), name="killed",
                                      progress=False))
"""


def finished_runs(root: Path) -> int:
    return len(Store(root).list_runs(status="finished")) if (root / "trainlab.db").exists() else 0


def worker_run_pid(root: Path, parent: int) -> int | None:
    """The process id of a run a worker (not the study process itself) is training now."""
    with sqlite3.connect(root / "trainlab.db") as db:
        row = db.execute(
            "SELECT pid FROM runs WHERE status='running' AND pid != ? LIMIT 1", (parent,)
        ).fetchone()
    return None if row is None else int(row[0])


def wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[bytes], seconds: float = 120
) -> None:
    deadline = time.time() + seconds
    while not check():
        assert proc.poll() is None, "the study ended before it could be killed"
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_killed_worker_and_study_resume_with_no_duplicate_and_none_missing(tmp_path: Path) -> None:
    root = tmp_path / "kill-store"
    script = tmp_path / "study.py"
    script.write_text(textwrap.dedent(KILLABLE.format(TINY=TINY)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(root)], env=env)
    wait_for(lambda: finished_runs(root) >= 1, proc)
    # Kill one worker mid-run (not the study, which runs jobs too): the study counts that job
    # failed, starts another worker, goes on.
    wait_for(lambda: worker_run_pid(root, proc.pid) is not None, proc)
    os.kill(worker_run_pid(root, proc.pid) or 0, signal.SIGKILL)
    after_worker = finished_runs(root) + 2
    wait_for(lambda: finished_runs(root) >= after_worker, proc)
    os.kill(proc.pid, signal.SIGKILL)  # then the study itself; its workers notice and stop
    proc.wait()
    deadline = time.time() + 60
    while time.time() < deadline and Store(root).list_runs(status="running"):
        time.sleep(0.2)
    store = Store(root)
    assert not store.list_runs(status="running"), "a worker outlived its study"
    before = {r.config_hash for r in store.list_runs(status="finished")}
    assert 3 <= len(before) < 20
    base = RunConfig.model_validate(TINY).with_overrides({"train.epochs": 60})
    result = run_grid(
        base,
        ["optim.lr=0.003,0.01,0.03,0.1"],
        seeds=5,
        selection_seeds=0,
        options=StudyOptions(workers=1, store=store, name="killed", progress=False),
    )
    jobs = expand(base, product({"optim.lr": [0.003, 0.01, 0.03, 0.1]}), range(5))
    assert_complete(store, result.study_id, jobs)
    assert result.counts["reused"] == len(before) and result.counts["finished"] == 20
    threads = {r.env["torch_threads"] for r in store.list_runs() if r.config_hash in before}
    assert threads == {threads_per_worker(3)}  # 3 slots x 1 thread on 2 cores


def test_warm_workers_serve_every_study_and_this_process_runs_jobs_too() -> None:
    store = Store()
    off = ExecSettings(vectorize="off")
    pids = []
    for name in ("first", "second"):
        study = store.open_study(name, "grid", {})
        jobs = [Job("v", tiny(seed=s, **{"optim.lr": 0.01 if name == "first" else 0.02}))
                for s in range(4)]  # fmt: skip
        outcomes = execute(store, study.id, jobs, workers=2, settings=off)
        assert [o.status for o in outcomes] == ["finished"] * 4
        assert pool._WARM is not None and pool._WARM.size == 1  # 2 slots: here + 1 worker
        pids.append({p.pid for p in pool._WARM.procs.values()})
        with sqlite3.connect(store.db_path) as db:
            ran_in = {pid for (pid,) in db.execute("SELECT pid FROM runs")}
        assert os.getpid() in ran_in  # the parent did not wait for its workers to start
    assert pids[0] == pids[1]  # the same worker process served both studies
    pool.shutdown()


def test_devices_give_each_worker_its_gpu_round_robin() -> None:
    envs = [pool.worker_environment(i, 1, ("cuda:0", "cuda:1")) for i in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0"]
    assert {e["OMP_NUM_THREADS"] for e in envs} == {"1"}
    assert "CUDA_VISIBLE_DEVICES" not in pool.worker_environment(0, 1, ()) or os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )
    started = pool.Pool(3, 1, ("cuda:2", "cuda:5"), Path(Store().root) / "logs")
    try:  # what each started process really sees, read from /proc
        seen = []
        for proc in started.procs.values():
            raw = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
            env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
            seen.append(env["CUDA_VISIBLE_DEVICES"])
        assert seen == ["2", "5", "2"]
    finally:
        started.close(signal.SIGKILL)


def test_devices_option_parses_and_rejects_bad_names() -> None:
    assert parse_devices("cuda:0, cuda:1") == ("cuda:0", "cuda:1")
    assert parse_devices(None) == ()
    with pytest.raises(ConfigError, match="--devices 'gpu0'"):
        ExecSettings(devices=parse_devices("gpu0"))


CALLS = """
import os, time

def where(x, parent, pause=0.0):
    time.sleep(pause)
    return {"x": x, "pid": os.getpid(), "parent": os.getpid() == parent}

def fails(x):
    raise ValueError(f"bad x: {x}")

def dies_in_worker(parent, pause):
    if os.getpid() != parent:
        os._exit(3)
    time.sleep(pause)
    return {"pid": os.getpid()}
"""


def test_run_calls_uses_every_slot_and_answers_errors_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "callmod.py").write_text(CALLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the workers import it too
    pool.shutdown()
    me = os.getpid()
    calls = [("callmod:where", {"x": i, "parent": me, "pause": 0.4}) for i in range(4)]
    calls.insert(2, ("callmod:fails", {"x": 7}))
    answers: dict[int, dict] = {}
    pool.run_calls(calls, 2, tmp_path / "logs", lambda i, a: answers.__setitem__(i, a))
    assert sorted(answers) == list(range(5))  # every call answered once
    assert answers[2] == {"error": "ValueError: bad x: 7"}
    done = [answers[i] for i in (0, 1, 3, 4)]
    assert [a["x"] for a in done] == [0, 1, 2, 3]
    assert {a["parent"] for a in done} == {True, False}  # here and in the worker
    pool.shutdown()


def test_run_calls_reports_a_worker_that_dies_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "callmod.py").write_text(CALLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    pool.shutdown()
    me = os.getpid()
    calls = [("callmod:dies_in_worker", {"parent": me, "pause": 1.5}) for _ in range(3)]
    answers: dict[int, dict] = {}
    pool.run_calls(calls, 2, tmp_path / "logs", lambda i, a: answers.__setitem__(i, a))
    assert sorted(answers) == [0, 1, 2]
    errors = [a["error"] for a in answers.values() if "error" in a]
    assert errors and all("worker exited with code 3" in e for e in errors)
    assert any(a.get("pid") == me for a in answers.values())  # this process went on
    pool.shutdown()
