"""The study executor: runs a list of (variant, RunConfig) jobs in long-lived worker processes,
skipping every config whose hash already finished (or diverged) in the store, so a rerun resumes.

Each worker is `python -m trainlab.studies.worker STORE`, started with its thread caps in the
environment (set before it imports torch), reading one job per line on stdin and answering one
line on stdout. Runs are stored and linked by the worker as they finish; a failed run or a dead
worker is counted, never fatal. One worker runs in this process (no start-up cost).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.track.env import available_cores
from trainlab.track.store import RunRecord, Store
from trainlab.train.seed import threads_per_worker, worker_env

DONE = ("finished", "diverged")  # a rerun skips these: both are results (same config, same end)
RELIABILITY_FILE = "reliability.json"  # test-set reliability bins of a finished run


@dataclass(frozen=True)
class Job:
    variant: str
    config: RunConfig
    record: int | None = None  # flight recorder interval in steps (not part of the config hash)
    role: str = ""  # what the run is for in the study: tuning | final (Store.link roles)

    @cached_property
    def hash(self) -> str:
        return self.config.hash()


@dataclass
class Outcome:
    """What became of one job: its stored run (None if it failed before one was created)."""

    job: Job
    status: str  # finished | diverged | failed | interrupted
    run: RunRecord | None
    error: str = ""
    reused: bool = False  # found finished in the store: not run again


Progress = Callable[[Outcome | None, int, int], None]  # (outcome or None at the start, done, total)


def check_workers(workers: int | None) -> int:
    """The worker count: default the cores available; must be >= 1."""
    if workers is None:
        return available_cores()
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be 1 or more")
    return workers


def execute(
    store: Store,
    study_id: str,
    jobs: Sequence[Job],
    workers: int | None = None,
    progress: Progress | None = None,
    record: int | None = None,
) -> list[Outcome]:
    """Run `jobs` (skipping those already done), link each run to the study, one Outcome per job.
    With `record`, every run that trains here carries the flight recorder at that step interval.

    Jobs with the same config hash run once and share the run. Order of the result = order of jobs.
    """
    workers = check_workers(workers)
    if record is not None:
        if record < 1:
            raise ConfigError(f"--record {record}: must be a step interval >= 1")
        jobs = [replace(j, record=record) for j in jobs]
    by_hash: dict[str, Outcome] = {}
    todo: dict[str, Job] = {}
    total = len({j.hash for j in jobs})
    for job in jobs:
        if job.hash in by_hash or job.hash in todo:
            continue
        found = store.find_run(job.hash, DONE)
        if found is None:
            todo[job.hash] = job
            continue
        store.link(study_id, found.id, job.variant, job.role)
        by_hash[job.hash] = Outcome(job, found.status, found, reused=True)
    if progress:
        progress(None, len(by_hash), total)  # the total is known: the bar can show an ETA

    def done(job: Job, msg: dict[str, Any]) -> None:
        run = store.get_run(msg["run_id"]) if msg.get("run_id") else None
        by_hash[job.hash] = Outcome(job, msg["status"], run, msg.get("error", ""))
        if progress:
            progress(by_hash[job.hash], len(by_hash), total)

    if workers == 1 or len(todo) == 1:
        for job in todo.values():
            done(job, run_job(store, study_id, job))
    elif todo:
        Pool(store, study_id, min(workers, len(todo))).run(list(todo.values()), done)
    outcomes = [_for(job, by_hash[job.hash]) for job in jobs]
    for out in outcomes:  # a config shared by several variants is linked under every label
        if out.run is not None and (out.job is not by_hash[out.job.hash].job or out.job.role):
            store.link(study_id, out.run.id, out.job.variant, out.job.role)
    return outcomes


def _for(job: Job, shared: Outcome) -> Outcome:
    return (
        shared
        if shared.job == job
        else Outcome(job, shared.status, shared.run, shared.error, shared.reused)
    )


def run_job(store: Store, study_id: str, job: Job) -> dict[str, Any]:
    """Train one job into the store and link it; failures become a status, never an exception."""
    from trainlab.train.experiment import run

    started = time.time()
    callbacks = []
    if job.record is not None:
        from trainlab.inspect.recorder import Recorder

        callbacks.append(Recorder(every=job.record))
    try:
        result = run(job.config, store, callbacks)
    except Exception as exc:  # a failed run never stops the study; it is stored `failed`
        error = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
        twin = store.find_run(job.hash, ("failed",))
        run_id = twin.id if twin is not None and twin.created >= started - 1 else None
        if run_id:
            store.link(study_id, run_id, job.variant, job.role)
        return {"run_id": run_id, "status": "failed", "error": error}
    record = result.record
    assert record is not None
    if record.status == "finished":
        save_reliability(record.dir, result.model, result.dataset)
    for cb in callbacks:
        cb.save(record.dir)  # `trainlab inspect recorder --run ID` draws it
    store.link(study_id, record.id, job.variant, job.role)
    return {"run_id": record.id, "status": record.status, "error": record.summary.get("reason", "")}


def save_reliability(folder: Path, model: Any, dataset: Any) -> None:
    """Store the test-set reliability bins beside the run, so a report needs no model reload."""
    from trainlab.train.metrics import evaluate, reliability_bins

    bs = 1024
    ev = evaluate(model, dataset.x_test, dataset.y_test, bs, keep_probs=True)
    assert ev.probs is not None
    conf, acc, count = reliability_bins(ev.probs, ev.labels)
    payload = {"confidence": conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}
    (folder / RELIABILITY_FILE).write_text(json.dumps(payload))


def load_reliability(record: RunRecord) -> dict[str, list[float]]:
    """A finished run's reliability bins: the stored file, else rebuilt from its checkpoint."""
    path = record.dir / RELIABILITY_FILE
    if path.exists():
        data: dict[str, list[float]] = json.loads(path.read_text())
        return data
    from trainlab import data as data_registry
    from trainlab.train.experiment import load_model

    model = load_model(record)
    save_reliability(record.dir, model, data_registry.load(record.config.data, record.seed, "cpu"))
    data = json.loads(path.read_text())
    return data


class Pool:
    """Worker processes fed one job at a time; a dead worker's job is counted failed."""

    def __init__(self, store: Store, study_id: str, size: int) -> None:
        self.store, self.study_id, self.size = store, study_id, size
        self.env = worker_env(threads_per_worker(size))
        self.events: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.logs = store.study_dir(study_id)
        self.started = 0

    def _start(self) -> int:
        i = self.started
        self.started += 1
        log = (self.logs / f"worker-{i}.log").open("w")
        args = [sys.executable, "-m", "trainlab.studies.worker", str(self.store.root)]
        proc = subprocess.Popen(
            args, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        log.close()
        self.procs[i] = proc
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(i, proc.stdout, self.events), daemon=True).start()
        return i

    def run(self, jobs: Sequence[Job], done: Callable[[Job, dict[str, Any]], None]) -> None:
        pending = list(reversed(jobs))  # pop() from the end keeps the given order
        inflight: dict[int, Job] = {}
        restarts = 0

        def feed(i: int) -> None:
            proc = self.procs[i]
            assert proc.stdin is not None
            while pending:
                job = pending.pop()
                line = json.dumps({"study_id": self.study_id, "variant": job.variant, "record": job.record,
                                   "config": job.config.model_dump(mode="json")})  # fmt: skip
                try:
                    proc.stdin.write(line + "\n")
                    proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    pending.append(job)  # never reached the worker: give it to another
                    return
                inflight[i] = job
                return
            proc.stdin.close()  # no work left: the worker exits at end of input

        try:
            for _ in range(self.size):
                feed(self._start())
            while inflight:
                try:
                    i, line = self.events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if line is not None:
                    job = inflight.pop(i)
                    done(job, json.loads(line))
                    feed(i)
                    continue
                code = self.procs[i].wait()
                lost = inflight.pop(i, None)
                if lost is not None:
                    log = self.logs / f"worker-{i}.log"
                    error = f"worker exited with code {code} (log: {log})"
                    done(lost, {"status": "failed", "error": error})
                if pending and restarts < 2 * self.size:  # it died with work left: replace it
                    restarts += 1
                    feed(self._start())
            for job in reversed(pending):  # workers kept dying: count the rest, never hang
                error = f"not run: workers kept exiting (logs in {self.logs})"
                done(job, {"status": "failed", "error": error})
        except KeyboardInterrupt:
            self._stop(signal.SIGINT)
            raise
        finally:
            self._stop(signal.SIGTERM)

    def _stop(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(sig)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _pump(index: int, stream: IO[str], events: queue.Queue[tuple[int, str | None]]) -> None:
    """Forward each answer line of worker `index`; None when its output closes (it ended)."""
    for line in iter(stream.readline, ""):
        if line.strip():
            events.put((index, line))
    events.put((index, None))


def serve(root: str) -> int:
    """A worker's loop: one JSON job per stdin line, one JSON answer per stdout line."""
    from trainlab.config import validate

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to the log, never into the answers
    sys.stdout = sys.stderr
    _exit_with_parent()
    store = Store(root)
    try:
        for line in iter(sys.stdin.readline, ""):
            msg = json.loads(line)
            job = Job(msg["variant"], validate(msg["config"]), msg.get("record"))
            answers.write(json.dumps(run_job(store, msg["study_id"], job)) + "\n")
    except KeyboardInterrupt:
        return 130
    return 0


def _exit_with_parent() -> None:
    """SIGTERM this worker when its parent dies (its run is then stored `interrupted`)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
