"""The warm local pool: worker processes started once per process and reused by every study
(of a suite, say), while this process runs units itself — so the first run starts at once and
the workers' start-up (importing torch) overlaps real work.

Slots = workers: this process plus `workers - 1` worker processes, each capped at
`threads_per_worker(workers)` threads, so threads x slots never exceeds the cores. With
`devices`, every slot is a worker process and worker i sees only `devices[i % len(devices)]`
(several workers may share a GPU) through CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TypeVar

from trainlab.errors import one_line
from trainlab.execute.jobs import Job
from trainlab.execute.unit import Answer, run_unit
from trainlab.execute.worker import PARENT_ENV
from trainlab.track.store import Store
from trainlab.train.seed import threads_per_worker, worker_env

Unit = list[Job]
T = TypeVar("T")  # one piece of work: a unit of jobs, or the index of a call
R = TypeVar("R")  # its answer
Call = tuple[str, dict[str, Any]]  # ("package.module:function", its keyword arguments)
Done = Callable[[Unit, list[Answer]], None]
MAX_RESTARTS = 2  # per worker slot and study: a worker that keeps dying is not started again


def worker_environment(index: int, threads: int, devices: Sequence[str]) -> dict[str, str]:
    """Worker `index`'s environment: thread caps, and its one GPU when devices are given."""
    env = worker_env(threads)
    if devices:
        env["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)].split(":", 1)[1]
    return env


class Pool:
    """`size` long-lived worker processes; each answers one unit at a time."""

    def __init__(self, size: int, threads: int, devices: Sequence[str], logs: Path) -> None:
        self.size, self.threads, self.devices, self.logs = size, threads, tuple(devices), logs
        self.events: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.log_paths: dict[int, Path] = {}
        self.started = 0
        for _ in range(size):
            self.start()

    def key(self) -> tuple[int, int, tuple[str, ...]]:
        return self.size, self.threads, self.devices

    def start(self) -> int:
        """Start one more worker (it imports torch while the parent already trains)."""
        i = self.started
        self.started += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        self.log_paths[i] = self.logs / f"worker-{i}.log"
        log = self.log_paths[i].open("w")
        env = {**worker_environment(i, self.threads, self.devices), PARENT_ENV: str(os.getpid())}
        args = [sys.executable, "-m", "trainlab.execute.worker"]
        proc = subprocess.Popen(
            args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        log.close()
        self.procs[i] = proc
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(i, proc.stdout, self.events), daemon=True).start()
        return i

    def send(self, i: int, root: Path, study_id: str, unit: Unit) -> bool:
        """Hand `unit` to worker i; False if it is gone (the unit never reached it)."""
        jobs = [{"variant": j.variant, "record": j.record, "role": j.role,
                 "config": j.config.model_dump(mode="json")} for j in unit]  # fmt: skip
        line = json.dumps({"root": str(root), "study_id": study_id, "jobs": jobs})
        stdin = self.procs[i].stdin
        assert stdin is not None
        try:
            stdin.write(line + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def call(self, i: int, call: Call) -> bool:
        """Hand worker i one function call; False if it is gone."""
        stdin = self.procs[i].stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"call": call[0], "kwargs": call[1]}) + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def close(self, sig: int = signal.SIGTERM) -> None:
        """End every worker: close its input (it exits when idle), then signal it. The feeder
        thread drops workers from `procs` as they end, so this walks a copy."""
        procs = list(self.procs.values())
        for proc in procs:
            if proc.stdin is not None and not proc.stdin.closed:
                with suppress(OSError):
                    proc.stdin.close()
            if proc.poll() is None and sig != signal.SIGTERM:
                proc.send_signal(sig)
        for proc in procs:
            try:
                proc.wait(timeout=5 if sig == signal.SIGTERM else 30)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()


_WARM: Pool | None = None


def warm_pool(size: int, threads: int, devices: Sequence[str], logs: Path) -> Pool:
    """This process's pool: reused when it has the same shape, else replaced."""
    global _WARM
    if _WARM is not None and _WARM.key() == (size, threads, tuple(devices)):
        return _WARM
    shutdown()
    _WARM = Pool(size, threads, devices, logs)
    return _WARM


def shutdown() -> None:
    """Stop the warm pool (at exit, or before one of another shape starts)."""
    global _WARM
    if _WARM is not None:
        _WARM.close()
        _WARM = None


atexit.register(shutdown)


def run_local(
    store: Store,
    study_id: str,
    units: Sequence[Unit],
    workers: int,
    devices: Sequence[str],
    done: Done,
) -> None:
    """Train every unit on this machine: here and in the warm pool; `done` once per unit."""
    threads = threads_per_worker(workers)
    here = not devices  # a GPU slot is always its own process: CUDA_VISIBLE_DEVICES is per process
    if here and (workers == 1 or len(units) == 1):
        with _threads(threads):
            for unit in units:
                done(unit, run_unit(store, study_id, unit))
        return
    pool = warm_pool(workers - here, threads, devices, store.study_dir(study_id))
    pending: deque[Unit] = deque(units)
    lock = threading.Lock()
    results: queue.Queue[tuple[Unit, list[Answer]]] = queue.Queue()
    feeder = threading.Thread(
        target=_feed,
        args=(pool, pending, lock, results, lambda i, u: pool.send(i, store.root, study_id, u),
              lambda msg: msg["answers"], _failed),
        daemon=True,
    )  # fmt: skip
    feeder.start()
    _share(
        pending, lock, results, feeder, threads, here, lambda u: run_unit(store, study_id, u), done
    )
    for unit in pending:  # every worker kept dying and nobody here could run them
        done(unit, _failed(unit, f"not run: workers kept exiting (logs in {pool.logs})"))


def _failed(unit: Unit, error: str) -> list[Answer]:
    """The answers for a unit none of whose jobs ran: each failed with `error`."""
    return [{"run_id": None, "status": "failed", "error": error}] * len(unit)


def run_calls(
    calls: Sequence[Call], workers: int, logs: Path, done: Callable[[int, dict[str, Any]], None]
) -> None:
    """Run independent function calls here and in the warm pool, in the given order (longest
    first finishes soonest), one at a time per slot; `done(index, answer)` in this thread as each
    ends. An answer is the function's JSON result, or {"error": one line} when it raised or its
    worker died. Used for the suite's inspections: they train little and draw a lot, so the
    second core would otherwise sit idle."""
    threads = threads_per_worker(workers)
    pending: deque[int] = deque(range(len(calls)))
    lock = threading.Lock()
    results: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    feeder = None
    if workers > 1 and len(calls) > 1:
        pool = warm_pool(workers - 1, threads, (), logs)
        feeder = threading.Thread(
            target=_feed,
            args=(pool, pending, lock, results, lambda i, k: pool.call(i, calls[k]),
                  lambda msg: msg["result"], lambda _, error: {"error": error}),
            daemon=True,
        )  # fmt: skip
        feeder.start()
    _share(pending, lock, results, feeder, threads, True, lambda i: call_here(calls[i]), done)


def call_here(call: Call) -> dict[str, Any]:
    """Run one call in this process: its result, or {"error": its one-line message}."""
    import importlib

    module, _, name = call[0].partition(":")
    try:
        result: dict[str, Any] = getattr(importlib.import_module(module), name)(**call[1])
    except Exception as exc:  # one call's crash must not lose the others' work
        return {"error": one_line(exc)}
    return result


def shutdown_with(sig: int) -> None:
    global _WARM
    if _WARM is not None:
        _WARM.close(sig)
        _WARM = None


def _share(
    pending: deque[T],
    lock: threading.Lock,
    results: queue.Queue[tuple[T, R]],
    feeder: threading.Thread | None,
    threads: int,
    here: bool,
    run_here: Callable[[T], R],
    done: Callable[[T, R], None],
) -> None:
    """This process takes pending work too (when `here`) while the feeder keeps the workers busy;
    `done` in this thread for every answer, then wait for the feeder's last ones. Ctrl-C: nothing
    more is started, the workers get SIGINT (their runs are stored interrupted)."""
    try:
        with _threads(threads):
            while here:
                with lock:
                    mine = pending.popleft() if pending else None
                if mine is None:
                    break
                done(mine, run_here(mine))
                _drain(results, done)
        while (feeder is not None and feeder.is_alive()) or not results.empty():
            try:
                done(*results.get(timeout=0.2))
            except queue.Empty:
                continue
    except KeyboardInterrupt:
        with lock:
            pending.clear()
        with _no_second_interrupt():  # a second Ctrl-C must not cut the workers' last writes
            shutdown_with(signal.SIGINT)
        raise


def _drain(results: queue.Queue[tuple[T, R]], done: Callable[[T, R], None]) -> None:
    while True:
        try:
            done(*results.get_nowait())
        except queue.Empty:
            return


def _feed(
    pool: Pool,
    pending: deque[T],
    lock: threading.Lock,
    results: queue.Queue[tuple[T, R]],
    send: Callable[[int, T], bool],
    answer: Callable[[dict[str, Any]], R],
    lost: Callable[[T, str], R],
) -> None:
    """Keep every worker busy until nothing is pending or in flight: `send` hands worker i a
    piece of work, `answer` reads its reply, `lost` answers for work whose worker died. A worker
    that dies with work left is replaced, at most MAX_RESTARTS times per slot."""
    inflight: dict[int, T] = {}
    restarts = 0
    for i in [i for i, p in pool.procs.items() if p.poll() is not None]:
        pool.procs.pop(i).wait()  # died while idle (between studies): start a fresh one
        pool.start()
    idle = list(pool.procs)

    def give(i: int) -> None:
        with lock:
            item = pending.popleft() if pending else None
        if item is None:
            return
        if send(i, item):
            inflight[i] = item
        else:
            with lock:
                pending.appendleft(item)

    for i in idle:
        give(i)
    while inflight:
        try:
            i, line = pool.events.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is not None:
            item = inflight.pop(i, None)
            if item is not None:
                results.put((item, answer(json.loads(line))))
            give(i)
            continue
        proc = pool.procs.pop(i, None)
        if proc is None:
            continue  # the end of a worker already replaced
        code = proc.wait()
        gone = inflight.pop(i, None)
        if gone is not None:  # not retried: a rerun resumes from what was stored
            results.put(
                (gone, lost(gone, f"worker exited with code {code} (log: {pool.log_paths[i]})"))
            )
        with lock:
            more = bool(pending)
        if more and restarts < MAX_RESTARTS * pool.size:  # it died with work left: replace it
            restarts += 1
            give(pool.start())


def _pump(index: int, stream: IO[str], events: queue.Queue[tuple[int, str | None]]) -> None:
    """Forward each answer line of worker `index`; None when its output closes (it ended)."""
    for line in iter(stream.readline, ""):
        if line.strip():
            events.put((index, line))
    events.put((index, None))


@contextmanager
def _no_second_interrupt() -> Iterator[None]:
    """Ignore SIGINT while the workers store their interrupted runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _threads(threads: int) -> Iterator[None]:
    """Cap this process's runs at `threads` (read by `set_threads` when a run starts)."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
