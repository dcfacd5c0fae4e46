"""The store on bad media: a full disk (a 1 MiB tmpfs mounted by the test) and a read-only mount.
Writes fail with one clear line, the database stays intact, finished runs stay readable.

Mounting needs root (the CI container runs tests as root); elsewhere these tests skip.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import StoreError
from trainlab.track.store import Store


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def finished_run(root: Path) -> str:
    store = Store(root)
    rec = store.create_run(RunConfig(seed=7), {"python": "3"})
    for epoch in (1, 2):
        store.log_epoch(rec.id, epoch, {"epoch": epoch, "val_acc": 0.25 * epoch})
    store.finish_run(rec.id, "finished", {"test_acc": 0.75})
    store.close()
    return rec.id


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC
    finally:
        os.close(fd)


def integrity(root: Path) -> str:
    con = sqlite3.connect(root / "trainlab.db")
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def test_full_disk_gives_one_line_and_keeps_finished_runs(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_disk / "store"
    done = finished_run(root)
    store = Store(root)
    fill(small_disk)
    with pytest.raises(StoreError, match="the disk is full; nothing was written"):
        rec = store.create_run(RunConfig(seed=8), {"blob": "x" * 200_000})
        for epoch in range(1, 50):  # if the row fitted, the epochs cannot
            store.log_epoch(rec.id, epoch, {"blob": "y" * 20_000})  # type: ignore[dict-item]
    store.close()
    code = main(["run", "--data", "moons", "--epochs", "1", "--store", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: store ") and "disk is full" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert integrity(root) == "ok"
    again = Store(root)
    assert again.get_run(done).summary == {"test_acc": 0.75}
    assert [e["val_acc"] for e in again.epochs(done)] == [0.25, 0.5]
    assert main(["runs", "ls", "--store", str(root), "--json"]) == 0
    assert done in capsys.readouterr().out


def test_read_only_store_reads_and_refuses_writes(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_disk / "store"
    done = finished_run(root)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    store = Store(root)
    assert store.readonly
    assert store.get_run(done[:4]).status == "finished"
    assert [e["epoch"] for e in store.epochs(done)] == [1, 2]
    with pytest.raises(StoreError, match="is read-only: reading works"):
        store.create_run(RunConfig(), {})
    assert main(["runs", "show", done, "--store", str(root)]) == 0
    assert "test_acc" in capsys.readouterr().out
    for args in (["runs", "rm", done], ["run", "--data", "moons", "--epochs", "1"]):
        code = main([*args, "--store", str(root)])
        err = capsys.readouterr().err
        assert code == 2 and "is read-only" in err and err.count("\n") == 1, err
    store.close()
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert integrity(root) == "ok"
    assert [r.id for r in Store(root).list_runs()] == [done]  # nothing half-written
