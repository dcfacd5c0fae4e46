"""The run store: one SQLite file (WAL, busy timeout) plus a folder per run and per study.

A row is written when a run starts (`running`), once per finished epoch (one transaction), and
when it ends; a running run's heartbeat is refreshed every HEARTBEAT_SECONDS. On every open, a
`running` row is marked `interrupted` when its process is gone (same host: pid + start time) or its
heartbeat is older than `stale_after` seconds (any host) — decided inside the write transaction.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.config import RunConfig, flatten, get_dotted
from trainlab.errors import ConfigError, StoreError
from trainlab.track.configs import CONFIG_VERSION, load_stored
from trainlab.track.liveness import STALE_SECONDS, dead_runs, pid_start
from trainlab.track.liveness import process_alive as process_alive  # search/storage uses it
from trainlab.track.strictjson import dumps, repair

STATUSES = ("running", "finished", "failed", "diverged", "interrupted", "pruned")
DEFAULT_ROOT = "trainlab-runs"
PLANNED_FILE = "planned.json"  # in a study's folder: {"planned_runs": n}, for live views

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

# The JSON columns, (table, key column(s), column): written strictly (track/strictjson.py).
JSON_COLUMNS = (
    ("runs", "id", "config"),
    ("runs", "id", "env"),
    ("runs", "id", "summary"),
    ("epochs", "run_id, epoch", "metrics"),
    ("studies", "id", "config"),
    ("studies", "id", "summary"),
)


def repair_json(c: sqlite3.Connection) -> None:
    """Rewrite JSON cells SQLite can't read (`NaN`, `Infinity` written by older versions) with
    those numbers as null; valid cells are left as they are."""
    for table, key, column in JSON_COLUMNS:
        bad = c.execute(
            f"SELECT {key}, {column} FROM {table} WHERE NOT json_valid({column})"
        ).fetchall()
        keys = " AND ".join(f"{k.strip()}=?" for k in key.split(","))
        c.executemany(
            f"UPDATE {table} SET {column}=? WHERE {keys}",
            [(repair(row[-1]), *row[:-1]) for row in bad],
        )


# Forward migrations: MIGRATIONS[k] takes a store at `PRAGMA user_version` k to k + 1, each step
# an SQL statement or a function of the connection, all in one transaction. A store written
# before versioning reads as version 0 (the schema above); a new store runs them all. To change
# the schema, append a step (and never edit a released one): SCHEMA_VERSION follows.
Step = str | Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[tuple[Step, ...], ...] = (
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
    # 2: liveness across hosts (a heartbeat, seconds since the epoch) and the version of the
    # config schema each run was written under (read through track/configs.py).
    (
        "ALTER TABLE runs ADD COLUMN heartbeat REAL",
        "ALTER TABLE runs ADD COLUMN config_version INTEGER NOT NULL DEFAULT 0",
    ),
    # 3: the dashboard's runs page pages by creation time and filters by status.
    (
        "CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created)",
        "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created)",
    ),
    # 4: strict JSON: NaN / Infinity that older versions wrote into JSON columns become null.
    (repair_json,),
)
SCHEMA_VERSION = len(MIGRATIONS)
ROLES = ("", "tuning", "final", "selection", "search", "confirm", "inspect")
_COLS = "id, name, config_hash, config, seed, status, created, ended, env, summary, error"


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
    notes: list[str] = field(default_factory=list)  # what reading an old config changed

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

    def __init__(self, root: str | Path | None = None, stale_after: float = STALE_SECONDS) -> None:
        self.root = Path(root or os.environ.get("TRAINLAB_STORE") or DEFAULT_ROOT).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--store {str(self.root)!r} is a file, not a folder")
        self.db_path = self.root / "trainlab.db"
        self.stale_after = stale_after
        self.readonly = self.db_path.exists() and not os.access(self.root, os.W_OK)
        if not self.readonly:
            try:
                self._open_writable()
            except (sqlite3.OperationalError, OSError) as exc:
                if not (self.db_path.exists() and _is_readonly(exc)):
                    raise _store_error(exc, self.root) from None
                self.readonly = True
        if self.readonly:
            self._open_readonly()
        self._config_version = (
            "config_version" if "config_version" in self._columns("runs") else "0"
        )
        if not self.readonly:
            with contextlib.suppress(StoreError):  # a full disk: reads work, writes say why
                self.mark_dead_runs()

    def _open_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if self._version() < SCHEMA_VERSION:
            self._conn.executescript(_SCHEMA)
            self._migrate()
        self._check_version()

    def _open_readonly(self) -> None:
        """A store on read-only media: reads work, every write raises a one-line StoreError."""
        uri = self.db_path.as_uri()
        try:
            self._conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            self._version()
        except sqlite3.OperationalError:  # WAL without its -shm file: read it as immutable
            self._conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        self._check_version()

    def _check_version(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {str(self.root)!r} has schema version {version}, newer than this"
                f" trainlab's {SCHEMA_VERSION}: upgrade trainlab to read it"
            )

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")]

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION in one transaction (concurrent openers wait)."""
        if self._version() == SCHEMA_VERSION:
            return
        with self.transaction() as c:
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {str(self.root)!r} has schema version {version}, newer than this"
                    f" trainlab's {SCHEMA_VERSION}: upgrade trainlab to read it"
                )
            for steps in MIGRATIONS[version:]:
                for step in steps:
                    if isinstance(step, str):
                        c.execute(step)
                    else:
                        step(c)
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all of it is stored, or none of it. SQLite's
        own failures (a full disk, read-only media) become a one-line StoreError."""
        if self.readonly:
            raise StoreError(
                f"store {str(self.root)!r} is read-only: reading works, writing needs a writable"
                " folder (use --store or $TRAINLAB_STORE)"
            )
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise _store_error(exc, self.root) from None

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
            dumps(env),
            socket.gethostname(),
            pid,
            pid_start(pid),
            now,
            CONFIG_VERSION,
        )
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs (id, name, config_hash, config, seed, status, created, env, host,"
                " pid, pid_start, heartbeat, config_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        try:
            self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _store_error(exc, self.root) from None
        return self.get_run(run_id)

    def log_epoch(
        self, run_id: str, epoch: int, metrics: dict[str, float], owned: bool = False
    ) -> None:
        """Write one finished epoch in one transaction (a kill never leaves half an epoch). With
        `owned`, only while this process still holds the run (else StoreError: it was taken over)."""
        with self.transaction() as c:
            if owned and not self._holds(c, run_id):
                raise StoreError(f"run {run_id} is no longer held by this process: {_TAKEN}")
            c.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                (run_id, epoch, dumps(metrics)),
            )
            c.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def _holds(self, c: sqlite3.Connection, run_id: str) -> bool:
        pid = os.getpid()
        row = c.execute(
            "SELECT 1 FROM runs WHERE id=? AND status='running' AND host=? AND pid=?",
            (run_id, socket.gethostname(), pid),
        ).fetchone()
        return row is not None

    def truncate_epochs(self, run_id: str, after: int) -> None:
        """Drop epochs past `after` (a resumed run restarts from its last checkpoint)."""
        with self.transaction() as c:
            c.execute("DELETE FROM epochs WHERE run_id=? AND epoch>?", (run_id, after))

    def finish_run(
        self,
        run_id: str,
        status: str,
        summary: dict[str, Any],
        error: str | None = None,
        owned: bool = False,
    ) -> bool:
        """Store a run's end. With `owned`, only if this process still holds it; False if not."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} not in {STATUSES}")
        with self.transaction() as c:
            if owned and not self._holds(c, run_id):
                return False
            c.execute(
                "UPDATE runs SET status=?, summary=?, error=?, ended=? WHERE id=?",
                (status, dumps(summary), error, time.time(), run_id),
            )
        return True

    def claim_run(self, run_id: str, epochs: list[dict[str, float]]) -> bool:
        """Compare-and-set resume: turn an `interrupted` run into this process's `running` one and
        make its epoch rows exactly `epochs` (its checkpoint's), in one transaction. False when
        another process got there first (the row was no longer `interrupted`)."""
        pid = os.getpid()
        with self.transaction() as c:
            claimed = c.execute(
                "UPDATE runs SET status='running', ended=NULL, error=NULL, host=?, pid=?,"
                " pid_start=?, heartbeat=? WHERE id=? AND status='interrupted'",
                (socket.gethostname(), pid, pid_start(pid), time.time(), run_id),
            ).rowcount
            if claimed != 1:
                return False
            c.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            c.executemany(
                "INSERT INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                [(run_id, int(e["epoch"]), dumps(e)) for e in epochs],
            )
        return True

    def holder(self, run_id: str) -> tuple[str, str, int]:
        """(status, host, pid) of a run, read now (for a process waiting on another's run)."""
        row = self._conn.execute(
            "SELECT status, host, pid FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"run {run_id!r} not found in {self.db_path}")
        return str(row[0]), str(row[1]), int(row[2])

    def delete_run(self, run_id: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            c.execute("DELETE FROM study_runs WHERE run_id=?", (run_id,))
            c.execute("DELETE FROM runs WHERE id=?", (run_id,))

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id or unique id prefix (compared literally: `_` and `%` are characters)."""
        rows = self._conn.execute(
            f"SELECT {_COLS}, {self._config_version} FROM runs WHERE substr(id, 1, ?)=? LIMIT 3",
            (len(run_id), run_id),
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
        study: str | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by status, dotted config fields or summary metrics
        (`optim.name=adam`, `test_acc=0.9`) and the study (name or id) they belong to. A field
        that no run could have is an error naming the valid ones."""
        if status is not None and status not in STATUSES:
            raise StoreError(f"--status {status!r}: choose one of {', '.join(STATUSES)}")
        clauses, args = [], []
        if status:
            clauses.append("status=?")
            args.append(status)
        if study is not None:
            clauses.append("id IN (SELECT run_id FROM study_runs WHERE study_id=?)")
            args.append(self.get_study(study).id)
        sql = (
            f"SELECT {_COLS}, {self._config_version} FROM runs"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + " ORDER BY created DESC"
        )
        runs = [self._run(r) for r in self._conn.execute(sql, args)]
        for key, want in (where or {}).items():
            self._check_field(key)
            runs = [r for r in runs if _matches(r, key, want)]
        return runs[:limit] if limit else runs

    def _check_field(self, key: str) -> None:
        if key.startswith(_FREE) or key in _RUN_FIELDS or key in _CONFIG_FIELDS:
            return
        metrics = {
            str(r[0])
            for r in self._conn.execute(
                "SELECT DISTINCT j.key FROM runs, json_each(runs.summary) j"
            )
        }
        if key in metrics:
            return
        valid = [*_RUN_FIELDS, *_CONFIG_FIELDS, *sorted(metrics), *(f"{p}*" for p in _FREE)]
        raise StoreError(f"--where field {key!r} is unknown; valid fields: {', '.join(valid)}")

    def find_run(self, config_hash: str, statuses: tuple[str, ...]) -> RunRecord | None:
        """The newest run with this config hash in one of `statuses`, if any."""
        marks = ",".join("?" * len(statuses))
        row = self._conn.execute(
            f"SELECT {_COLS}, {self._config_version} FROM runs"
            f" WHERE config_hash=? AND status IN ({marks})"
            " ORDER BY created DESC LIMIT 1",
            (config_hash, *statuses),
        ).fetchone()
        return self._run(row) if row else None

    def epochs(self, run_id: str) -> list[dict[str, float]]:
        rows = self._conn.execute(
            "SELECT metrics FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)
        ).fetchall()
        # Metrics are numbers: a null stored for a non-finite one (a diverged loss) reads as NaN.
        return [
            {k: math.nan if v is None else v for k, v in json.loads(r[0]).items()} for r in rows
        ]

    def mark_dead_runs(self) -> int:
        """Mark `running` runs as `interrupted` when their process is gone (this host: pid and its
        start time) or their heartbeat is older than `stale_after` seconds (any host). The rule is
        applied to rows read inside the write transaction, so a run just resumed by a live
        process is never flipped. Returns the count."""
        if not self._dead_runs(self._conn):  # the common case: no write lock taken
            return 0
        with self.transaction() as c:
            dead = self._dead_runs(c)
            c.executemany(
                "UPDATE runs SET status='interrupted', error=? WHERE id=? AND status='running'",
                [(why, rid) for rid, why in dead],
            )
        return len(dead)

    def _dead_runs(self, c: sqlite3.Connection) -> list[tuple[str, str]]:
        return dead_runs(c, self.stale_after)

    def _run(self, row: tuple[Any, ...]) -> RunRecord:
        (rid, name, chash, config, seed, status, created, ended, env, summary, error, version) = row
        stored = load_stored(json.loads(config), int(version))
        return RunRecord(
            id=rid,
            name=name,
            status=status,
            config=stored.config,
            config_hash=chash,
            seed=seed,
            created=created,
            ended=ended,
            env=json.loads(env),
            summary=json.loads(summary),
            error=error,
            dir=self.run_dir(rid),
            notes=stored.notes,
        )

    # ---- studies ----------------------------------------------------------------------------
    def open_study(
        self,
        name: str,
        kind: str,
        config: dict[str, Any],
        conflict: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> StudyRecord:
        """Get the study with this name and kind, or create it (re-running a study resumes it).
        `conflict(old_config)` may refuse to reopen it (a message: ConfigError); it is asked in
        the same transaction as the creation, so two processes never both pass it."""
        with self.transaction() as c:
            row = c.execute(
                "SELECT id, config FROM studies WHERE name=? AND kind=?", (name, kind)
            ).fetchone()
            if row is not None and conflict is not None:
                said = conflict(json.loads(row[1]))
                if said:
                    raise ConfigError(said)
            if row is None:
                sid = uuid.uuid4().hex[:10]
                c.execute(
                    "INSERT INTO studies (id, name, kind, created, status, config) VALUES (?,?,?,?,?,?)",
                    (sid, name, kind, time.time(), "running", dumps(config, default=str)),
                )
            else:
                sid = row[0]
                c.execute(
                    "UPDATE studies SET status='running', config=? WHERE id=?",
                    (dumps(config, default=str), sid),
                )
        self.study_dir(sid).mkdir(parents=True, exist_ok=True)
        return self.get_study(sid)

    def link(self, study_id: str, run_id: str, variant: str, role: str = "") -> None:
        """Link a run to a study under a variant label (a run may serve several variants) and a
        role: `tuning` (chose a setting), `final` (a fresh-seed sample), `search`, `confirm`."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} not in {ROLES}")
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO study_runs (study_id, run_id, variant, role)"
                " VALUES (?,?,?,?)",
                (study_id, run_id, variant, role),
            )

    def finish_study(
        self, study_id: str, summary: dict[str, Any], status: str = "finished"
    ) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE studies SET status=?, summary=? WHERE id=?",
                (status, dumps(summary, default=str), study_id),
            )

    def get_study(self, ref: str) -> StudyRecord:
        """A study by id, id prefix or name (newest if several kinds share the name)."""
        row = (
            self._conn.execute(
                "SELECT * FROM studies WHERE id=? OR name=? ORDER BY created DESC LIMIT 1",
                (ref, ref),
            ).fetchone()
            or self._conn.execute(
                "SELECT * FROM studies WHERE substr(id, 1, ?)=? ORDER BY created DESC LIMIT 1",
                (len(ref), ref),
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
            f"SELECT l.variant, l.role, {_COLS}, {self._config_version}"
            " FROM study_runs l JOIN runs r ON r.id = l.run_id"
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


_RUN_FIELDS = ("status", "name", "seed", "config_hash")
_CONFIG_FIELDS = tuple(
    k for k in flatten(RunConfig().model_dump(mode="json")) if k not in ("name", "seed")
)
_FREE = ("data.options.", "model.options.", "schedule.options.")  # free-form option dicts


def needs_upgrade(root: str | Path) -> bool:
    """True if the store at `root` was written by an older schema and this process may upgrade
    it (a reader such as the dashboard opens `Store(root)` once first: it migrates)."""
    db = Path(root).resolve() / "trainlab.db"  # a file URI needs an absolute path
    if not db.exists() or not os.access(root, os.W_OK):
        return False
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def _matches(run: RunRecord, key: str, want: Any) -> bool:
    if key in ("status", "name", "seed", "config_hash"):
        got: Any = getattr(run, key)
    elif key in run.summary:
        got = run.summary[key]
    else:
        got = get_dotted(run.config, key)
    return got == want or str(got) == str(want)


_TAKEN = "its heartbeat went stale and another process resumed it"


def _is_readonly(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _store_error(exc: BaseException, root: Path) -> StoreError:
    """One line for what SQLite or the file system said (full disk, read-only media, ...)."""
    where = f"store {str(root)!r}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"{where}: no space left on the disk; nothing was written. Free space")
    if "full" in str(exc).lower():
        return StoreError(f"{where}: the disk is full; nothing was written. Free space and rerun")
    if _is_readonly(exc):
        return StoreError(f"{where} is read-only: reading works, writing needs a writable folder")
    return StoreError(f"{where}: {exc}")
