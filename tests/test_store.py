import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainlab.config import RunConfig
from trainlab.errors import StoreError
from trainlab.track.store import Store


def _write_runs(root: str, worker: int, count: int) -> None:
    store = Store(root)
    for i in range(count):
        rec = store.create_run(RunConfig(seed=worker * 1000 + i), {"worker": worker})
        for epoch in range(1, 4):
            store.log_epoch(rec.id, epoch, {"epoch": epoch, "val_acc": epoch / 10})
        store.finish_run(rec.id, "finished", {"test_acc": 0.5})


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_runs, args=(str(tmp_path), w, 15)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    store = Store(tmp_path)
    runs = store.list_runs(status="finished")
    assert len(runs) == 45
    assert all(len(store.epochs(r.id)) == 3 for r in runs)


def test_dead_running_run_is_marked_interrupted(tmp_path: Path) -> None:
    code = (
        "import time; from trainlab.track.store import Store; from trainlab.config import RunConfig;"
        f"s = Store({str(tmp_path)!r}); r = s.create_run(RunConfig(), {{}}); print(r.id, flush=True);"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert Store(tmp_path).get_run(run_id).status == "running"  # alive: left alone
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    record = Store(tmp_path).get_run(run_id)
    assert record.status == "interrupted"
    assert record.error == "process ended while running"


def test_where_filters_on_config_and_summary(tmp_path: Path) -> None:
    store = Store(tmp_path)
    a = store.create_run(RunConfig.model_validate({"optim": {"name": "sgd"}}), {})
    b = store.create_run(RunConfig(), {})
    store.finish_run(a.id, "finished", {"test_acc": 0.9})
    store.finish_run(b.id, "diverged", {})
    assert [r.id for r in store.list_runs(where={"optim.name": "sgd"})] == [a.id]
    assert [r.id for r in store.list_runs(status="diverged")] == [b.id]
    with pytest.raises(StoreError, match="choose one of running, finished"):
        store.list_runs(status="done")


def test_get_run_by_prefix_and_missing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    assert store.get_run(rec.id[:6]).id == rec.id
    with pytest.raises(StoreError, match="not found"):
        store.get_run("zzzz")


def test_studies_reopen_by_name_and_link_runs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    study = store.open_study("opt", "optimizers", {"seeds": 3})
    assert store.open_study("opt", "optimizers", {"seeds": 3}).id == study.id
    rec = store.create_run(RunConfig(), {})
    store.link(study.id, rec.id, "adam")
    store.finish_study(study.id, {"title": "t"})
    again = store.get_study("opt")
    assert again.run_ids == [rec.id] and again.summary == {"title": "t"}
    assert [(v, r.id) for v, r in store.study_runs(study.id)] == [("adam", rec.id)]


def test_epoch_rows_are_written_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    store.log_epoch(rec.id, 1, {"val_acc": 0.1, "train_loss": 2.0})
    store.log_epoch(rec.id, 2, {"val_acc": 0.2, "train_loss": 1.0})
    store.truncate_epochs(rec.id, 1)
    assert store.epochs(rec.id) == [{"val_acc": 0.1, "train_loss": 2.0}]
    assert time.time() >= rec.created


def test_a_pre_versioning_store_migrates_and_keeps_its_links(tmp_path: Path) -> None:
    import sqlite3

    from trainlab.track.store import _SCHEMA, SCHEMA_VERSION

    con = sqlite3.connect(tmp_path / "trainlab.db")
    con.executescript(_SCHEMA)  # the schema every store had before `user_version`
    con.execute(
        "INSERT INTO studies (id, name, kind, created, status, config) VALUES"
        " ('s1', 'old', 'grid', 0, 'finished', '{}')"
    )
    con.commit()
    con.close()
    store = Store(tmp_path)
    rec = store.create_run(RunConfig(), {})
    store.link("s1", rec.id, "a", role="final")
    store.link("s1", rec.id, "b", role="final")  # one config serving two variants keeps both
    assert [(v, r.id) for v, r in store.study_runs("s1")] == [("a", rec.id), ("b", rec.id)]
    assert [link.role for link in store.study_links("s1", role="final")] == ["final", "final"]
    assert store.get_study("s1").run_ids == [rec.id]
    store.close()
    con = sqlite3.connect(tmp_path / "trainlab.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this"):
        Store(tmp_path)
