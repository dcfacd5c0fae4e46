"""Liveness of running runs: the rule that marks a dead one `interrupted`, and the heartbeat
thread that keeps a live one visibly alive (its own SQLite connection; connections do not cross
threads), even through a long epoch.

The rule: a `running` run is dead when its process is gone on this host (pid and the process's
start time, so a recycled pid does not count), or when its heartbeat is older than the timeout on
any host. The store applies it to rows read inside its write transaction.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType

HEARTBEAT_SECONDS = 30.0  # a running run refreshes its heartbeat at least this often
STALE_SECONDS = 600.0  # a heartbeat older than this marks the run interrupted, on any host


def dead_runs(c: sqlite3.Connection, stale_after: float) -> list[tuple[str, str]]:
    """(run id, why) of every `running` run that the rule finds dead, read through `c`."""
    host, now = socket.gethostname(), time.time()
    rows = c.execute(
        "SELECT id, host, pid, pid_start, coalesce(heartbeat, created) FROM runs"
        " WHERE status='running'"
    ).fetchall()
    dead = []
    for rid, run_host, pid, start, beat in rows:
        if run_host == host and not process_alive(pid, start):
            dead.append((rid, "process ended while running"))
        elif now - beat > stale_after:
            dead.append((rid, f"no heartbeat for {now - beat:.0f} s (host {run_host})"))
    return dead


def pid_start(pid: int) -> str | None:
    """The process start time from /proc (guards against a recycled pid); None off Linux."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or pid_start(pid) == start


class Heartbeat:
    """`with Heartbeat(store.db_path, run_id):` around the training of one run."""

    def __init__(self, db_path: Path, run_id: str, every: float = HEARTBEAT_SECONDS) -> None:
        self.db_path, self.run_id, self.every = db_path, run_id, every
        self.lost = False
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)

    def _loop(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        owner = (socket.gethostname(), os.getpid())
        try:
            while not self._stop.wait(self.every):
                try:
                    held = conn.execute(
                        "UPDATE runs SET heartbeat=? WHERE id=? AND status='running'"
                        " AND host=? AND pid=?",
                        (time.time(), self.run_id, *owner),
                    ).rowcount
                except sqlite3.Error:  # busy or a full disk: the next beat tries again
                    continue
                if held != 1:
                    self.lost = True
                    return
                self.beats += 1
        finally:
            conn.close()
