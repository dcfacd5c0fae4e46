"""Where a search's trials live, and what happens to trials whose worker died.

Default: an Optuna journal file inside the trainlab store (safe for several local processes).
`--storage URL`: any database Optuna supports, with heartbeats so a dead machine's trial is retried.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from trainlab.errors import ConfigError
from trainlab.track.store import pid_start, process_alive

JOURNAL_FILE = "optuna.journal"
HEARTBEAT_INTERVAL = 60  # seconds between heartbeats of a running trial (database storages)
GRACE_FACTOR = 3  # a trial without a heartbeat for 3 intervals is dead (Optuna's grace_period)
GRACE_PERIOD = 180  # seconds a journal trial that never recorded its worker counts as alive
MAX_RETRY = 3  # a trial whose worker died is re-queued at most this many times
DRIVERS = {  # SQLAlchemy's module for a URL scheme -> the pip package that provides it
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
}


class FlockLock(JournalFileOpenLock):
    """Journal lock by `flock` on `<journal>.flock`: the kernel drops it when its process dies.

    Optuna's file locks outlive a worker killed while writing (SIGKILL, OOM), and every other
    process then waits 30 s before breaking them. Local files only (the journal lives in the
    trainlab store); off POSIX (no `fcntl`), Optuna's own lock is used. Subclasses Optuna's public
    lock class only for its type: both methods are replaced.
    """

    def __init__(self, journal: str) -> None:  # no super().__init__(): its lock file is not used
        self._path = journal + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def open_storage(
    url: str | None, journal: Path, heartbeat_interval: int = HEARTBEAT_INTERVAL
) -> BaseStorage:
    """The journal file at `journal`, or the database at `url` with heartbeats and retries.

    A database trial whose worker sends no heartbeat for `GRACE_FACTOR * heartbeat_interval`
    seconds is failed and re-queued (Optuna's `RetryHeartbeatStaleTrialCallback`, the new name of
    `RetryFailedTrialCallback`).
    """
    if url is None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        lock = FlockLock(str(journal)) if os.name == "posix" else None
        return optuna.storages.JournalStorage(JournalFileBackend(str(journal), lock_obj=lock))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=heartbeat_interval,
                grace_period=GRACE_FACTOR * heartbeat_interval,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(MAX_RETRY),
            )
        except ImportError as exc:  # Optuna wraps SQLAlchemy's ModuleNotFoundError
            names = [getattr(e, "name", None) for e in (exc, exc.__cause__)]
            module = next((str(n) for n in names if n), "")
            package = DRIVERS.get(module.split(".")[0], module)
            hint = f"run `pip install '{package}'`" if package else "install its driver"
            raise ConfigError(
                f"--storage {redact(url)}: its database driver ({module or '?'}) is not "
                f"installed; {hint}"
            ) from None
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"--storage {redact(url)}: cannot open it: {reason}") from None


def redact(url: str) -> str:
    """The URL with its password hidden (safe to print and to store)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def has_heartbeat(storage: BaseStorage) -> bool:
    if not isinstance(storage, optuna.storages.RDBStorage):
        return False
    return storage.get_heartbeat_interval() is not None


def worker_tag(number: int) -> str:
    """Who runs trial `number`: host, pid and the pid's start time (a recycled pid is not us)."""
    pid = os.getpid()
    return f"{socket.gethostname()}|{pid}|{pid_start(pid) or ''}|{number}"


def recover_trials(study: optuna.Study, heartbeat: bool, grace: float = GRACE_PERIOD) -> list[int]:
    """Fail the trials whose worker is gone and re-queue them (and interrupted ones) once each.

    A running trial is dead when its worker process on this host is gone. Database storages also
    find dead workers elsewhere by heartbeat (Optuna's `fail_stale_trials`); the journal has no
    heartbeat, so there a trial that never recorded its worker is dead after `grace` seconds.
    Returns the numbers of the trials re-queued.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(MAX_RETRY)
        before = retried_numbers(study.get_trials(deepcopy=False))
        dead: set[int] = set()
        if heartbeat:
            optuna.storages.fail_stale_trials(study)  # runs the retry callback itself
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if _is_dead(t, None if heartbeat else grace):  # a local dead worker needs no wait
                try:
                    study.tell(t.number, state=TrialState.FAIL)
                except (ValueError, RuntimeError):
                    continue  # another process finished or failed it a moment ago
                dead.add(t.number)
        trials = study.get_trials(deepcopy=True)
        done = retried_numbers(trials)
        for t in trials:
            gone = t.number in dead or bool(t.user_attrs.get("interrupted"))
            if t.state == TrialState.FAIL and gone and t.number not in done:
                retry(study, t)
        return sorted(retried_numbers(study.get_trials(deepcopy=False)) - before)


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of trials that have been re-queued (they do not count against the budget)."""
    out: set[int] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        for t in trials:
            out.update(RetryHeartbeatStaleTrialCallback.retry_history(t))
    return out


def count_done(trials: Sequence[FrozenTrial]) -> int:
    """Trials that used up budget: complete, pruned, or failed for good (not re-queued)."""
    retried = retried_numbers(trials)
    n = 0
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL and t.number not in retried:
            n += not t.user_attrs.get("skipped") and not t.user_attrs.get("interrupted")
    return n


def _is_dead(t: FrozenTrial, grace: float | None) -> bool:
    """Its worker on this host is gone; or it has no worker yet and is older than `grace`."""
    tag = t.user_attrs.get("worker")
    parts = tag.split("|") if isinstance(tag, str) else []
    if len(parts) == 4 and parts[3] == str(t.number):
        host, pid, start, _ = parts
        return host == socket.gethostname() and not process_alive(int(pid), start or None)
    if grace is None:
        return False
    started = t.datetime_start or datetime.now()
    return (datetime.now() - started).total_seconds() > grace
