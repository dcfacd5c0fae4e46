"""Runs as Ray tasks, for many machines (the optional extra: `pip install 'trainlab[ray]'`).

Each unit is one task. The task trains into a temporary store on its node and returns plain
records (config, status, summary, per-epoch metrics, environment, the run folder's small files);
the driver — this process — alone writes them to its SQLite store, so no shared filesystem is
needed and a task that dies mid-run leaves nothing behind. Ray retries a task whose worker
died (at most MAX_RETRIES times); a driver killed and rerun resumes by config hash. A search's
trials use the same pieces (`scratch`, `pack`, `write_back`, `task`, `next_done`): search/ray_trials.py.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from trainlab.config import validate
from trainlab.errors import ConfigError, one_line
from trainlab.execute.jobs import Job
from trainlab.execute.settings import ExecSettings
from trainlab.execute.unit import Answer, run_unit
from trainlab.track.store import Store

MAX_RETRIES = 2  # a task whose worker process or node died is run again at most this often
MAX_FILE = 64 * 2**20  # bytes: larger run files stay on the node (a note says so)
INSTALL = "pip install 'trainlab[ray]'"
REACH_SECONDS = 3.0  # how long `--ray-address HOST:PORT` may take to accept a connection

Key = TypeVar("Key")


def train_unit(jobs: list[dict[str, Any]], threads: int) -> list[dict[str, Any]]:
    """The task: train `jobs` into a temporary store here and return every run as records."""
    with scratch(threads) as (store, study_id):
        units = [Job(j["variant"], validate(j["config"]), j["record"], j["role"]) for j in jobs]
        return [pack(store, answer) for answer in run_unit(store, study_id, units)]


@contextmanager
def scratch(threads: int) -> Iterator[tuple[Store, str]]:
    """A temporary store on this node and the id of a study in it, deleted on exit: a task's runs
    live here until `pack` turns them into records."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by set_threads when each run starts
    with tempfile.TemporaryDirectory(prefix="trainlab-ray-") as tmp:
        store = Store(tmp)
        try:
            yield store, store.open_study("ray-task", "ray", {}).id
        finally:
            store.close()


def pack(store: Store, answer: Answer) -> dict[str, Any]:
    """The answer and, if a run was stored, that run as plain records (what `write_back` takes)."""
    record: dict[str, Any] = {"answer": answer}
    if answer.get("run_id"):
        run = store.get_run(answer["run_id"])
        record.update(
            config=run.config.model_dump(mode="json"),
            status=run.status,
            summary=run.summary,
            error=run.error,
            env=run.env,
            epochs=store.epochs(run.id),
            files=_files(run.dir),
        )
    return record


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.stat().st_size <= MAX_FILE
    }


def write_back(store: Store, study_id: str, job: Job, record: dict[str, Any]) -> Answer:
    """Store one returned run as a new row of the driver's store, linked to the study."""
    answer: Answer = dict(record["answer"])
    if "config" not in record:
        return {**answer, "run_id": None}
    run = store.create_run(validate(record["config"]), record["env"])
    for e in record["epochs"]:
        store.log_epoch(run.id, int(e["epoch"]), e)
    for name, data in record["files"].items():
        path = run.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    store.finish_run(run.id, record["status"], record["summary"], record["error"])
    store.link(study_id, run.id, job.variant, role=job.role)
    return {**answer, "run_id": run.id}


def task_failed(exc: BaseException) -> Answer:
    """The answer of a task that raised, or whose retries were spent: no run came back."""
    return {"run_id": None, "status": "failed", "error": f"ray task failed: {one_line(exc)}"}


def require() -> Any:
    """The `ray` module, or one line naming the install command (checked before a study opens)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; {INSTALL}") from None
    return ray


def check_address(address: str) -> None:
    """`--ray-address` HOST:PORT must accept a connection within REACH_SECONDS: else one line,
    where Ray itself would retry for a minute, logging as it goes. `auto` and `ray://` (Ray
    Client) addresses are Ray's to resolve."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--ray-address {address!r}: give the Ray head's HOST:PORT (e.g. 10.0.0.5:6379), "
            "auto, or ray://HOST:10001"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), REACH_SECONDS).close()
    except (OSError, OverflowError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"--ray-address {address!r}: no Ray head answers there ({why}); start one with "
            f"`ray start --head --port={port}`, or leave --ray-address out for a local Ray"
        ) from None


def connect(settings: ExecSettings) -> Any:
    """The `ray` module, connected to `--ray-address` or to a local Ray on 127.0.0.1."""
    ray = require()
    if not ray.is_initialized():
        if settings.ray_address:
            check_address(settings.ray_address)
            try:
                ray.init(address=settings.ray_address, log_to_driver=False)
            except Exception as exc:  # ConnectionError, RuntimeError, RpcError: all one line
                raise ConfigError(
                    f"--ray-address {settings.ray_address!r}: Ray could not join a cluster there "
                    f"({one_line(exc)})"
                ) from None
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    return ray


def task(ray: Any, fn: Callable[..., Any], settings: ExecSettings) -> tuple[Any, int]:
    """`fn` as a Ray task reserving the settings' CPUs and GPUs, retried at most MAX_RETRIES
    times, and the torch threads each task uses."""
    remote = ray.remote(fn).options(
        num_cpus=settings.run_cpus, num_gpus=settings.run_gpus, max_retries=MAX_RETRIES
    )
    return remote, max(1, int(settings.run_cpus))


def next_done(ray: Any, refs: dict[Any, Key]) -> tuple[Key, Any]:
    """Wait for the first of `refs` to end and pop it: its key and its result, or the exception
    that ended it (the task raised, or its retries were spent)."""
    ready, _ = ray.wait(list(refs), num_returns=1)
    key = refs.pop(ready[0])
    try:
        return key, ray.get(ready[0])
    except Exception as exc:
        return key, exc


def cancel(ray: Any, refs: dict[Any, Any]) -> None:
    """Stop every task still running (Ctrl-C): nothing of theirs reaches the store."""
    for ref in refs:
        ray.cancel(ref, force=True)


def run_ray(
    store: Store,
    study_id: str,
    units: Sequence[list[Job]],
    settings: ExecSettings,
    done: Callable[[list[Job], list[Answer]], None],
) -> None:
    """One Ray task per unit; results written here as they arrive; `done` once per unit."""
    ray = connect(settings)
    remote, threads = task(ray, train_unit, settings)
    refs = {}
    for unit in units:
        jobs = [{"variant": j.variant, "record": j.record, "role": j.role,
                 "config": j.config.model_dump(mode="json")} for j in unit]  # fmt: skip
        refs[remote.remote(jobs, threads)] = unit
    try:
        while refs:
            unit, records = next_done(ray, refs)
            if isinstance(records, BaseException):
                done(unit, [task_failed(records)] * len(unit))
                continue
            done(
                unit,
                [write_back(store, study_id, j, r) for j, r in zip(unit, records, strict=True)],
            )
    except KeyboardInterrupt:
        cancel(ray, refs)
        raise
