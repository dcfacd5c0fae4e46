"""Runs as Ray tasks, for many machines (the optional extra: `pip install 'trainlab[ray]'`).

Each unit is one task. The task trains into a temporary store on its node and returns plain
records (config, status, summary, per-epoch metrics, environment, the run folder's small files);
the driver — this process — alone writes them to its SQLite store, so no shared filesystem is
needed and a task that dies mid-run leaves nothing behind. Ray retries a task whose worker
died (at most MAX_RETRIES times); a driver killed and rerun resumes by config hash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainlab.config import validate
from trainlab.errors import ConfigError
from trainlab.execute.jobs import Job
from trainlab.execute.settings import ExecSettings
from trainlab.execute.unit import Answer, one_line, run_unit
from trainlab.track.store import Store

MAX_RETRIES = 2  # a task whose worker process or node died is run again at most this often
MAX_FILE = 64 * 2**20  # bytes: larger run files stay on the node (a note says so)
INSTALL = "pip install 'trainlab[ray]'"


def train_unit(jobs: list[dict[str, Any]], threads: int) -> list[dict[str, Any]]:
    """The task: train `jobs` into a temporary store here and return every run as records."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by set_threads when each run starts
    with tempfile.TemporaryDirectory(prefix="trainlab-ray-") as tmp:
        store = Store(tmp)
        study = store.open_study("ray-task", "ray", {})
        units = [Job(j["variant"], validate(j["config"]), j["record"], j["role"]) for j in jobs]
        out = []
        for answer in run_unit(store, study.id, units):
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
            out.append(record)
        store.close()
        return out


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


def require() -> Any:
    """The `ray` module, or one line naming the install command (checked before a study opens)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; {INSTALL}") from None
    return ray


def connect(settings: ExecSettings) -> Any:
    """The `ray` module, connected to `--ray-address` or to a local Ray on 127.0.0.1."""
    ray = require()
    if not ray.is_initialized():
        if settings.ray_address:
            ray.init(address=settings.ray_address, log_to_driver=False)
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    return ray


def run_ray(
    store: Store,
    study_id: str,
    units: Sequence[list[Job]],
    settings: ExecSettings,
    done: Callable[[list[Job], list[Answer]], None],
) -> None:
    """One Ray task per unit; results written here as they arrive; `done` once per unit."""
    ray = connect(settings)
    task = ray.remote(train_unit).options(
        num_cpus=settings.run_cpus, num_gpus=settings.run_gpus, max_retries=MAX_RETRIES
    )
    threads = max(1, int(settings.run_cpus))
    refs = {}
    for unit in units:
        jobs = [{"variant": j.variant, "record": j.record, "role": j.role,
                 "config": j.config.model_dump(mode="json")} for j in unit]  # fmt: skip
        refs[task.remote(jobs, threads)] = unit
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                unit = refs.pop(ref)
                try:
                    records = ray.get(ref)
                except Exception as exc:  # retries spent, or the task raised: the runs failed
                    error = f"ray task failed: {one_line(exc)}"
                    done(unit, [{"run_id": None, "status": "failed", "error": error}] * len(unit))
                    continue
                done(
                    unit,
                    [write_back(store, study_id, j, r) for j, r in zip(unit, records, strict=True)],
                )
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
