"""Resume under races and kills: compare-and-set claims, heartbeats, epoch rows that match the
checkpoint, and kill -9 at random moments giving the same final metrics as an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from trainlab.config import RunConfig
from trainlab.errors import StoreError
from trainlab.track.liveness import Heartbeat
from trainlab.track.store import Store
from trainlab.train.experiment import run
from trainlab.train.loop import Callback

CKPT = {
    "name": "ckpt",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 16}},
    "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "regularize": {"dropout": 0.1},  # the global RNG matters: a resume must restore it
    "train": {"epochs": 4, "batch_size": 10, "checkpoint": "every_epoch", "threads": 1},
}
TIMINGS = ("seconds", "train_seconds", "epoch_seconds")


def ckpt_config(**over: Any) -> RunConfig:
    return RunConfig.model_validate(CKPT).with_overrides(dict(over))


def without_timings(rows: list[dict[str, Any]] | dict[str, Any]) -> Any:
    if isinstance(rows, dict):
        return {k: v for k, v in rows.items() if k not in TIMINGS}
    return [without_timings(r) for r in rows]


class _StopAt(Callback):
    """Ctrl-C after epoch `at` (the row and the checkpoint of that epoch are written)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        if epoch == self.at:
            raise KeyboardInterrupt


def interrupted_run(store: Store, cfg: RunConfig, at: int) -> str:
    with pytest.raises(KeyboardInterrupt):
        run(cfg, store, [_StopAt(at)])
    (rec,) = store.list_runs(status="interrupted")
    return rec.id


def test_claim_is_compare_and_set(tmp_path: Path) -> None:
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    assert not store.claim_run(rec.id, [])  # running: nothing to claim
    store.finish_run(rec.id, "interrupted", {})
    rows = [{"epoch": 1, "val_acc": 0.5}]
    assert store.claim_run(rec.id, rows)
    assert not store.claim_run(rec.id, [])  # the second claimer loses and changes nothing
    assert store.epochs(rec.id) == rows and store.get_run(rec.id).status == "running"


def test_resumed_rows_are_exactly_the_checkpoints_epochs(tmp_path: Path) -> None:
    """A kill between the checkpoint and its epoch row (row 2 missing), or a row past the
    checkpoint (row 3 present): the resumed run's rows are exactly its checkpoint's epochs, and
    it ends identical to an uninterrupted run."""
    cfg = ckpt_config()
    whole = run(cfg, Store(tmp_path / "whole"))
    assert whole.record is not None
    store = Store(tmp_path / "cut")
    run_id = interrupted_run(store, cfg, at=3)
    con = sqlite3.connect(store.db_path)
    with con:
        con.execute("DELETE FROM epochs WHERE run_id=? AND epoch=2", (run_id,))
        con.execute("DELETE FROM epochs WHERE run_id=? AND epoch=3", (run_id,))
        con.execute("UPDATE epochs SET metrics='{}' WHERE run_id=? AND epoch=1", (run_id,))
    con.close()
    resumed = run(cfg, store)
    assert resumed.record is not None and resumed.record.id == run_id
    rows = store.epochs(run_id)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert without_timings(rows) == without_timings(
        Store(tmp_path / "whole").epochs(whole.record.id)
    )
    assert without_timings(resumed.summary) == without_timings(whole.summary)


def test_stale_heartbeat_marks_a_run_on_another_host_interrupted(tmp_path: Path) -> None:
    store = Store(tmp_path)
    old = store.create_run(RunConfig(seed=1), {})
    fresh = store.create_run(RunConfig(seed=2), {})
    con = sqlite3.connect(store.db_path)
    with con:
        con.execute(
            "UPDATE runs SET host='elsewhere', pid=1 WHERE id IN (?, ?)", (old.id, fresh.id)
        )
        con.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time() - 120, old.id))
    con.close()
    assert Store(tmp_path, stale_after=60).get_run(old.id).status == "interrupted"
    assert Store(tmp_path, stale_after=60).get_run(fresh.id).status == "running"  # alive there
    assert "no heartbeat for 1" in (Store(tmp_path).get_run(old.id).error or "")


def test_heartbeat_thread_keeps_a_long_epoch_alive_and_notices_a_takeover(tmp_path: Path) -> None:
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    con = sqlite3.connect(store.db_path)
    with con:
        con.execute("UPDATE runs SET heartbeat=0 WHERE id=?", (rec.id,))
    with Heartbeat(store.db_path, rec.id, every=0.05) as beat:
        time.sleep(0.5)
        assert beat.beats >= 2 and not beat.lost
        (when,) = con.execute("SELECT heartbeat FROM runs WHERE id=?", (rec.id,)).fetchone()
        assert time.time() - when < 1
        assert Store(tmp_path, stale_after=5).get_run(rec.id).status == "running"
        with con:  # another host decided it was stale and resumed it
            con.execute("UPDATE runs SET host='other', pid=7 WHERE id=?", (rec.id,))
        time.sleep(0.3)
        assert beat.lost
    with pytest.raises(StoreError, match="no longer held by this process"):
        store.log_epoch(rec.id, 1, {"epoch": 1}, owned=True)
    assert not store.finish_run(rec.id, "finished", {}, owned=True)
    assert store.get_run(rec.id).status == "running"  # the other host's run is left alone
    con.close()


def test_dead_run_check_reads_inside_the_write_transaction(tmp_path: Path) -> None:
    """A dead run claimed by a live process between the look and the write stays running."""
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    con = sqlite3.connect(store.db_path)
    with con:
        con.execute("UPDATE runs SET pid=999999999, pid_start='x' WHERE id=?", (rec.id,))
    original = store._dead_runs
    calls = []

    def dead_runs(c: sqlite3.Connection) -> list[tuple[str, str]]:
        if not calls:  # the first look sees it dead; then this process resumes it
            calls.append(1)
            found = original(c)
            other = sqlite3.connect(store.db_path)
            with other:
                other.execute(
                    "UPDATE runs SET pid=?, pid_start=NULL, host=? WHERE id=?",
                    (os.getpid(), socket.gethostname(), rec.id),
                )
            other.close()
            return found
        return original(c)

    store._dead_runs = dead_runs  # type: ignore[method-assign]
    assert store.mark_dead_runs() == 0
    assert store.get_run(rec.id).status == "running"
    con.close()


# ---- processes -------------------------------------------------------------------------------
CHILD = """
import json, os, sys, time
from trainlab.config import RunConfig
from trainlab.track.store import Store
from trainlab.train.experiment import run
root, cfg, gate = sys.argv[1], RunConfig.model_validate(json.loads(sys.argv[2])), sys.argv[3]
print("ready", flush=True)
while gate and not os.path.exists(gate):
    time.sleep(0.005)
result = run(cfg, Store(root))
print(json.dumps({"id": result.record.id, "summary": result.summary}), flush=True)
"""


def child(root: Path, cfg: RunConfig, gate: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", CHILD, str(root), cfg.model_dump_json(), gate]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_processes_racing_to_resume_train_it_once(tmp_path: Path) -> None:
    cfg = ckpt_config(**{"train.epochs": 6})
    store = Store(tmp_path)
    run_id = interrupted_run(store, cfg, at=2)
    gate = tmp_path / "go"
    procs = [child(tmp_path, cfg, str(gate)) for _ in range(2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    gate.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    waited = [e for _, e in outs if f"run {run_id} is being resumed by pid" in e]
    assert len(waited) == 1, outs  # exactly one trained; the other said it waited
    assert {r["id"] for r in results} == {run_id}
    assert without_timings(results[0]["summary"]) == without_timings(results[1]["summary"])
    (only,) = Store(tmp_path).list_runs()  # no second run, no duplicate epoch
    assert only.status == "finished"
    assert [r["epoch"] for r in Store(tmp_path).epochs(run_id)] == list(range(1, 7))


def epochs_stored(root: Path) -> int:
    if not (root / "trainlab.db").exists():
        return 0
    con = sqlite3.connect(root / "trainlab.db", timeout=30)
    try:
        return int(con.execute("SELECT count(*) FROM epochs").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is being created
        return 0
    finally:
        con.close()


def kill_and_resume(tmp_path: Path, kills: int, seed: int) -> list[int]:
    """kill -9 a checkpointed run `kills` times, each after a random number of stored epochs
    (0: during start-up, data loading or the first epoch) plus a random fraction of an epoch,
    then let it finish. Returns the stored epoch count at each kill."""
    cfg = ckpt_config(**{"train.epochs": 8, "data.options.n": 600})
    whole = run(cfg, Store(tmp_path / "whole"))
    root, rng, done, at = tmp_path / "killed", random.Random(seed), None, []
    targets = sorted(rng.randrange(0, 6) for _ in range(kills))  # two epochs are always left
    while done is None:
        proc = child(root, cfg)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        if len(at) < kills:
            target = targets[len(at)]
            while epochs_stored(root) < target and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.1))
            assert proc.poll() is None, "the run ended before its kill"
            at.append(epochs_stored(root))
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            done = json.loads(out.strip().splitlines()[-1])
        else:
            assert proc.returncode == -signal.SIGKILL, err
    assert len(at) == kills
    store = Store(root)
    assert [(r.id, r.status) for r in store.list_runs()] == [(done["id"], "finished")]
    assert without_timings(done["summary"]) == without_timings(whole.summary)
    rows = store.epochs(done["id"])
    assert whole.record is not None
    assert without_timings(rows) == without_timings(
        Store(tmp_path / "whole").epochs(whole.record.id)
    )
    con = sqlite3.connect(store.db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    return at


def test_kill_9_at_random_moments_then_resume_gives_identical_metrics(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, kills=2, seed=0)


@pytest.mark.slow
def test_kill_9_at_20_random_moments_then_resume_gives_identical_metrics(tmp_path: Path) -> None:
    at = kill_and_resume(tmp_path, kills=20, seed=1)
    print(f"kill -9 after n stored epochs: {sorted(at)}")
    assert len(set(at)) >= 4  # the kills spread over start-up and several epochs
