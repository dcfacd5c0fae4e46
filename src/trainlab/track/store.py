"""The run store: one SQLite file (WAL, busy timeout) plus a folder per run and per study.

A row is written when a run starts (`running`), once per finished epoch (one transaction), and
when it ends. A `running` row whose process is gone is marked `interrupted` on the next open.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.config import RunConfig, get_dotted, validate
from trainlab.errors import StoreError

STATUSES = ("running", "finished", "failed", "diverged", "interrupted", "pruned")
DEFAULT_ROOT = "trainlab-runs"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, config_hash TEXT NOT NULL, config TEXT NOT NULL,
  seed INTEGER NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, ended REAL,
  env TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}', error TEXT,
  host TEXT NOT NULL, pid INTEGER NOT NULL, pid_start TEXT);
CREATE INDEX IF NOT EXISTS runs_by_hash ON runs(config_hash, status);
CREATE TABLE IF NOT EXISTS epochs (
  run_id TEXT NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, metrics TEXT NOT NULL,
  PRIMARY KEY (run_id, epoch));
CREATE TABLE IF NOT EXISTS studies (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, created REAL NOT NULL,
  status TEXT NOT NULL, config TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}',
  UNIQUE (name, kind));
CREATE TABLE IF NOT EXISTS study_runs (
  study_id TEXT NOT NULL REFERENCES studies(id), run_id TEXT NOT NULL REFERENCES runs(id),
  variant TEXT NOT NULL, PRIMARY KEY (study_id, run_id));
"""

# Forward migrations: MIGRATIONS[k] takes a store at `PRAGMA user_version` k to k + 1. A store
# written before versioning reads as version 0 (the schema above); a new store runs them all.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: a run linked to a study keeps every variant label it serves (a config shared by two
    # variants), and each link says what the run is for there (tuning, final, search, confirm).
    (
        "CREATE TABLE study_runs_v1 (study_id TEXT NOT NULL REFERENCES studies(id),"
        " run_id TEXT NOT NULL REFERENCES runs(id), variant TEXT NOT NULL,"
        " role TEXT NOT NULL DEFAULT '', PRIMARY KEY (study_id, run_id, variant))",
        "INSERT INTO study_runs_v1 (study_id, run_id, variant) SELECT study_id, run_id, variant"
        " FROM study_runs",
        "DROP TABLE study_runs",
        "ALTER TABLE study_runs_v1 RENAME TO study_runs",
        "CREATE INDEX study_runs_by_run ON study_runs(run_id)",
    ),
    # 2: the dashboard's runs page pages by creation time and filters by status.
    (
        "CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created)",
        "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
ROLES = ("", "tuning", "final", "search", "confirm", "inspect")


@dataclass
class RunRecord:
    id: str
    name: str
    status: str
    config: RunConfig
    config_hash: str
    seed: int
    created: float
    ended: float | None
    env: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    dir: Path

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.created

    def as_dict(self) -> dict[str, Any]:
        """The JSON record `--json` prints: identity, status, config and final metrics."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "config_hash": self.config_hash,
            "seed": self.seed,
            "created": self.created,
            "ended": self.ended,
            "seconds": self.seconds,
            "error": self.error,
            "dir": str(self.dir),
            **self.summary,
            "config": self.config.model_dump(mode="json"),
        }


@dataclass
class StudyRecord:
    id: str
    name: str
    kind: str
    status: str
    created: float
    config: dict[str, Any]
    summary: dict[str, Any]
    dir: Path
    run_ids: list[str] = field(default_factory=list)


@dataclass
class StudyLink:
    variant: str
    role: str
    run: RunRecord


class Store:
    """Open (creating if needed) the store at `root`; default `$TRAINLAB_STORE` or ./trainlab-runs."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get("TRAINLAB_STORE") or DEFAULT_ROOT).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--store {str(self.root)!r} is a file, not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "trainlab.db"
        self._conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._migrate()
        self.mark_dead_runs()

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION in one transaction (concurrent openers wait)."""
        if self._version() == SCHEMA_VERSION:
            return
        with self._write() as c:
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {str(self.root)!r} has schema version {version}, newer than this"
                    f" trainlab's {SCHEMA_VERSION}: upgrade trainlab to read it"
                )
            for steps in MIGRATIONS[version:]:
                for sql in steps:
                    c.execute(sql)
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def study_dir(self, study_id: str) -> Path:
        return self.root / "studies" / study_id

    # ---- runs -------------------------------------------------------------------------------
    def create_run(self, cfg: RunConfig, env: dict[str, Any]) -> RunRecord:
        run_id = uuid.uuid4().hex[:10]
        now = time.time()
        pid = os.getpid()
        row = (
            run_id,
            cfg.name,
            cfg.hash(),
            cfg.model_dump_json(),
            cfg.seed,
            "running",
            now,
            json.dumps(env),
            socket.gethostname(),
            pid,
            pid_start(pid),
        )
        with self._write() as c:
            c.execute(
                "INSERT INTO runs (id, name, config_hash, config, seed, status, created, env, host,"
                " pid, pid_start) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return self.get_run(run_id)

    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        """Write one finished epoch in one transaction (a kill never leaves half an epoch)."""
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                (run_id, epoch, json.dumps(metrics)),
            )

    def truncate_epochs(self, run_id: str, after: int) -> None:
        """Drop epochs past `after` (a resumed run restarts from its last checkpoint)."""
        with self._write() as c:
            c.execute("DELETE FROM epochs WHERE run_id=? AND epoch>?", (run_id, after))

    def finish_run(
        self, run_id: str, status: str, summary: dict[str, Any], error: str | None = None
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} not in {STATUSES}")
        with self._write() as c:
            c.execute(
                "UPDATE runs SET status=?, summary=?, error=?, ended=? WHERE id=?",
                (status, json.dumps(summary), error, time.time(), run_id),
            )

    def reopen_run(self, run_id: str) -> None:
        """Mark an interrupted run as running again in this process (resume)."""
        pid = os.getpid()
        with self._write() as c:
            c.execute(
                "UPDATE runs SET status='running', ended=NULL, error=NULL, host=?, pid=?,"
                " pid_start=? WHERE id=?",
                (socket.gethostname(), pid, pid_start(pid), run_id),
            )

    def delete_run(self, run_id: str) -> None:
        with self._write() as c:
            c.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            c.execute("DELETE FROM study_runs WHERE run_id=?", (run_id,))
            c.execute("DELETE FROM runs WHERE id=?", (run_id,))

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id or unique id prefix."""
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE id=? OR id LIKE ? LIMIT 3", (run_id, f"{run_id}%")
        ).fetchall()
        exact = [r for r in rows if r[0] == run_id]
        if exact:
            rows = exact
        if not rows:
            raise StoreError(f"run {run_id!r} not found in {self.db_path}")
        if len(rows) > 1:
            raise StoreError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return self._run(rows[0])

    def list_runs(
        self,
        status: str | None = None,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by status and dotted config fields (`optim.name=adam`)."""
        if status is not None and status not in STATUSES:
            raise StoreError(f"--status {status!r}: choose one of {', '.join(STATUSES)}")
        sql = (
            "SELECT * FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY created DESC"
        )
        runs = [self._run(r) for r in self._conn.execute(sql, (status,) if status else ())]
        for key, want in (where or {}).items():
            runs = [r for r in runs if _matches(r, key, want)]
        return runs[:limit] if limit else runs

    def find_run(self, config_hash: str, statuses: tuple[str, ...]) -> RunRecord | None:
        """The newest run with this config hash in one of `statuses`, if any."""
        marks = ",".join("?" * len(statuses))
        row = self._conn.execute(
            f"SELECT * FROM runs WHERE config_hash=? AND status IN ({marks})"
            " ORDER BY created DESC LIMIT 1",
            (config_hash, *statuses),
        ).fetchone()
        return self._run(row) if row else None

    def epochs(self, run_id: str) -> list[dict[str, float]]:
        rows = self._conn.execute(
            "SELECT metrics FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def mark_dead_runs(self) -> int:
        """Mark `running` rows of this host whose process is gone as `interrupted`; return the count."""
        host = socket.gethostname()
        rows = self._conn.execute(
            "SELECT id, pid, pid_start FROM runs WHERE status='running' AND host=?", (host,)
        ).fetchall()
        dead = [rid for rid, pid, start in rows if not process_alive(pid, start)]
        if dead:
            with self._write() as c:
                c.executemany(
                    "UPDATE runs SET status='interrupted', error='process ended while running'"
                    " WHERE id=? AND status='running'",
                    [(rid,) for rid in dead],
                )
        return len(dead)

    def _run(self, row: tuple[Any, ...]) -> RunRecord:
        (rid, name, chash, config, seed, status, created, ended, env, summary, error, *_) = row
        return RunRecord(
            id=rid,
            name=name,
            status=status,
            config=validate(json.loads(config)),
            config_hash=chash,
            seed=seed,
            created=created,
            ended=ended,
            env=json.loads(env),
            summary=json.loads(summary),
            error=error,
            dir=self.run_dir(rid),
        )

    # ---- studies ----------------------------------------------------------------------------
    def open_study(self, name: str, kind: str, config: dict[str, Any]) -> StudyRecord:
        """Get the study with this name and kind, or create it (re-running a study resumes it)."""
        with self._write() as c:
            row = c.execute(
                "SELECT id FROM studies WHERE name=? AND kind=?", (name, kind)
            ).fetchone()
            if row is None:
                sid = uuid.uuid4().hex[:10]
                c.execute(
                    "INSERT INTO studies (id, name, kind, created, status, config) VALUES (?,?,?,?,?,?)",
                    (sid, name, kind, time.time(), "running", json.dumps(config, default=str)),
                )
            else:
                sid = row[0]
                c.execute(
                    "UPDATE studies SET status='running', config=? WHERE id=?",
                    (json.dumps(config, default=str), sid),
                )
        self.study_dir(sid).mkdir(parents=True, exist_ok=True)
        return self.get_study(sid)

    def link(self, study_id: str, run_id: str, variant: str, role: str = "") -> None:
        """Link a run to a study under a variant label (a run may serve several variants) and a
        role: `tuning` (chose a setting), `final` (a fresh-seed sample), `search`, `confirm`."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} not in {ROLES}")
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO study_runs (study_id, run_id, variant, role)"
                " VALUES (?,?,?,?)",
                (study_id, run_id, variant, role),
            )

    def finish_study(
        self, study_id: str, summary: dict[str, Any], status: str = "finished"
    ) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE studies SET status=?, summary=? WHERE id=?",
                (status, json.dumps(summary, default=str), study_id),
            )

    def get_study(self, ref: str) -> StudyRecord:
        """A study by id, id prefix or name (newest if several kinds share the name)."""
        row = (
            self._conn.execute(
                "SELECT * FROM studies WHERE id=? OR name=? ORDER BY created DESC LIMIT 1",
                (ref, ref),
            ).fetchone()
            or self._conn.execute(
                "SELECT * FROM studies WHERE id LIKE ? ORDER BY created DESC LIMIT 1", (f"{ref}%",)
            ).fetchone()
        )
        if row is None:
            raise StoreError(f"study {ref!r} not found in {self.db_path}")
        return self._study(row)

    def list_studies(self, kind: str | None = None) -> list[StudyRecord]:
        sql = "SELECT * FROM studies" + (" WHERE kind=?" if kind else "") + " ORDER BY created DESC"
        return [self._study(r) for r in self._conn.execute(sql, (kind,) if kind else ())]

    def study_runs(self, study_id: str, role: str | None = None) -> list[tuple[str, RunRecord]]:
        """(variant, run) pairs of a study, oldest first; a run shared by two variants comes twice.
        With `role`, only the links of that role."""
        return [(link.variant, link.run) for link in self.study_links(study_id, role)]

    def study_links(self, study_id: str, role: str | None = None) -> list[StudyLink]:
        """The study's links (variant, role, run), oldest run first, optionally of one role."""
        rows = self._conn.execute(
            "SELECT l.variant, l.role, r.* FROM study_runs l JOIN runs r ON r.id = l.run_id"
            " WHERE l.study_id=?"
            + (" AND l.role=?" if role is not None else "")
            + " ORDER BY r.created, l.variant",
            (study_id, role) if role is not None else (study_id,),
        ).fetchall()
        return [StudyLink(r[0], r[1], self._run(r[2:])) for r in rows]

    def _study(self, row: tuple[Any, ...]) -> StudyRecord:
        sid, name, kind, created, status, config, summary = row
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT run_id FROM study_runs WHERE study_id=?", (sid,)
            )
        ]
        return StudyRecord(
            id=sid,
            name=name,
            kind=kind,
            status=status,
            created=created,
            config=json.loads(config),
            summary=json.loads(summary),
            dir=self.study_dir(sid),
            run_ids=ids,
        )


def _matches(run: RunRecord, key: str, want: Any) -> bool:
    if key in ("status", "name", "seed", "config_hash"):
        got: Any = getattr(run, key)
    elif key in run.summary:
        got = run.summary[key]
    else:
        got = get_dotted(run.config, key)
    return got == want or str(got) == str(want)


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
