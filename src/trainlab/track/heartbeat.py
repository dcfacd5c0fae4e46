"""A running run's heartbeat: a daemon thread that refreshes `runs.heartbeat` every few seconds,
so a run in a long epoch stays visibly alive to every host that opens the store.

It has its own SQLite connection (connections do not cross threads). It stops by itself, and sets
`lost`, once the row is no longer this process's `running` run (another host marked it stale).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType

from trainlab.track.store import HEARTBEAT_SECONDS


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
