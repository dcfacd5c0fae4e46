"""`run_search`: check the space and settings, open (or resume) the Optuna study that sits beside a
trainlab study, queue the grid, run the trials here and on the warm pool's workers, and write the results.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from trainlab.config import RunConfig
from trainlab.errors import ConfigError, TrainlabError
from trainlab.execute.ray import connect, require
from trainlab.execute.settings import ExecSettings
from trainlab.search.confirm import confirm_seeds, run_confirm
from trainlab.search.objective import epoch_metrics
from trainlab.search.ray_trials import check_storage, run_on_ray
from trainlab.search.results import SearchResult, TrialRecord, collect, top_trials, write_results
from trainlab.search.samplers import PRUNERS, check_method
from trainlab.search.space import SearchSpace
from trainlab.search.storage import (
    HEARTBEAT_INTERVAL,
    JOURNAL_FILE,
    count_done,
    has_heartbeat,
    open_storage,
    recover_trials,
    redact,
)
from trainlab.search.trial_worker import run_worker
from trainlab.track.store import Store
from trainlab.track.summary import slug
from trainlab.train.selection import higher_is_better

Progress = Callable[[TrialRecord], None]


@dataclass
class SearchSettings:
    """How to search. `trials` is the total budget over every (resumed) invocation."""

    method: str = "tpe"  # grid | random | tpe | gp | cmaes
    trials: int | None = None  # grid: at most the grid size (the default)
    timeout: float | None = None  # seconds of wall time for this invocation
    prune: str = "none"  # none | median | hyperband, on the per-epoch metric
    workers: int = 1  # processes on this machine (the thread rule splits the cores); Ray: tasks
    seed: int = 0  # sampler seed (worker i uses seed + i * 10007)
    metric: str = "val_acc"  # a per-epoch validation metric; test metrics never choose
    direction: str | None = None  # default: minimize losses and errors (rmse, mae), else maximize
    name: str | None = None  # default: derived from base config, space and method (resumable)
    storage: str | None = None  # database URL; default: a journal file in the trainlab store
    stop_at: float | None = None  # end early once the best value reaches this
    heartbeat: int = HEARTBEAT_INTERVAL  # seconds; database storages retry a trial silent 3x this
    confirm: int = 0  # re-run the top K trials on fresh seeds and choose among them (0: don't)
    confirm_seeds: int = 3  # fresh seeds per confirmed trial
    executor: str = "local"  # local: worker processes here | ray: one Ray task per trial
    ray_address: str | None = None  # None: a local Ray on 127.0.0.1; else needs a database storage
    run_cpus: float = 1.0  # CPUs each Ray task reserves
    run_gpus: float = 0.0  # GPUs each Ray task reserves (fractional: trials share a GPU)

    @property
    def maximize(self) -> bool:
        return self.resolved_direction() == "maximize"

    def resolved_direction(self) -> str:
        if self.direction is not None:
            return self.direction
        return "maximize" if higher_is_better(self.metric) else "minimize"

    def execution(self) -> ExecSettings:
        """Where trials and confirmation runs execute (validated: one line per bad field)."""
        return ExecSettings(
            self.executor, ray_address=self.ray_address, run_cpus=self.run_cpus,
            run_gpus=self.run_gpus,
        )  # fmt: skip


def check_settings(s: SearchSettings, space: SearchSpace, base: RunConfig) -> None:
    """One-line ConfigError for anything wrong before a single thing is written."""
    allowed = epoch_metrics(base)
    if s.metric not in allowed:
        hint = " test metrics are never used to choose;" if s.metric.startswith("test") else ""
        raise ConfigError(f"--metric {s.metric!r}:{hint} use one of {', '.join(allowed)}")
    if s.direction not in (None, "maximize", "minimize"):
        raise ConfigError(f"--direction {s.direction!r}: use maximize or minimize")
    if s.prune not in PRUNERS:
        raise ConfigError(f"--prune {s.prune!r}: choose one of {', '.join(PRUNERS)}")
    positive = (
        ("--trials", s.trials),
        ("--workers", s.workers),
        ("--timeout", s.timeout),
        ("--heartbeat", s.heartbeat),
        ("--confirm-seeds", s.confirm_seeds),
    )
    for flag, value in positive:
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value!r}: must be positive")
    if s.confirm < 0:
        raise ConfigError(f"--confirm {s.confirm!r}: must be 0 (no confirmation) or positive")
    if s.trials is None and s.timeout is None and s.method != "grid":
        raise ConfigError(f"--method {s.method}: give a budget with --trials and/or --timeout")
    if s.storage is not None and s.storage.startswith("sqlite") and s.workers > 1:
        raise ConfigError(
            f"--storage {s.storage} with --workers {s.workers}: SQLite locks under parallel "
            "writers; use the default journal storage or PostgreSQL"
        )
    execution = s.execution()
    if execution.executor == "ray":
        require()  # installed, before anything is written
        check_storage(execution, s.storage)
        if execution.ray_address:
            connect(execution)  # and the cluster joined: a bad address is one line
    check_method(s.method, space)
    space.check(base)


def fingerprint(base: RunConfig, space: SearchSpace, s: SearchSettings) -> str:
    """What may not change when a search resumes: base config, space, method, metric, direction."""
    payload = [base.canonical_json(), space.raw, s.method, s.metric, s.resolved_direction()]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :12
    ]


def default_name(base: RunConfig, space: SearchSpace, s: SearchSettings) -> str:
    return f"{base.name}-{s.method}-{fingerprint(base, space, s)[:8]}"


def run_search(
    base: RunConfig,
    space: SearchSpace,
    settings: SearchSettings | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
    notes: Callable[[str], None] | None = None,
) -> SearchResult:
    """Run (or resume) a search and return its results; every trial is a stored trainlab run.
    With `settings.confirm`, the top trials are re-run on fresh seeds (`notes` hears each)."""
    s = settings or SearchSettings()
    check_settings(s, space, base)
    grid = space.grid_points(base, s.seed) if s.method == "grid" else None
    budget = s.trials if grid is None else min(s.trials or len(grid), len(grid))
    _dry_run(base, space, grid)
    store = store or Store()
    name = s.name or default_name(base, space, s)
    fp = fingerprint(base, space, s)
    for old in store.list_studies("search"):
        if old.name == name and old.config.get("fingerprint") not in (None, fp):
            raise ConfigError(_clash(name))
    journal = store.root / "optuna" / f"{slug(name)}.{JOURNAL_FILE}"
    storage = open_storage(s.storage, journal, s.heartbeat)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trainlab reports trials itself
    direction = (
        optuna.study.StudyDirection.MAXIMIZE if s.maximize else optuna.study.StudyDirection.MINIMIZE
    )
    study = optuna.create_study(
        storage=storage, study_name=name, direction=direction, load_if_exists=True
    )
    if study.user_attrs.setdefault("fingerprint", fp) != fp:
        raise ConfigError(_clash(name))
    study.set_user_attr("fingerprint", fp)
    where = redact(s.storage) if s.storage else str(journal)
    info = {**asdict(s), "name": name, "budget": budget, "storage": where, "fingerprint": fp}
    info.update(direction=s.resolved_direction(), remote=s.storage is not None)
    record = store.open_study(name, "search", {**info, "base": base.model_dump(mode="json")})
    recover_trials(study, has_heartbeat(storage))
    if grid is not None and not study.user_attrs.get("grid_queued"):
        for i, point in enumerate(grid):
            study.enqueue_trial(point, user_attrs={"grid_point": i}, skip_if_exists=True)
        study.set_user_attr("grid_queued", len(grid))
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    remaining = None if budget is None else budget - count_done(trials) - running
    spec = {
        **info,
        "storage": s.storage,
        "remote": s.storage is not None,
        "journal": str(journal),
        "store": str(store.root),
        "study_id": record.id,
        "base": base.model_dump(mode="json"),
        "space": space.raw,
        "epochs": base.train.epochs,
        "deadline": None if s.timeout is None else time.time() + s.timeout,
    }
    callbacks = [] if progress is None else [_reporter(progress)]
    if (remaining is None or remaining > 0) and s.executor == "ray":
        run_on_ray(spec, s.execution(), s.workers, store, callbacks)
    elif remaining is None or remaining > 0:
        shares = _shares(remaining, s.workers)
        if len(shares) == 1:
            run_worker(spec, 0, shares[0], callbacks)
        else:
            _run_shares(spec, shares, store.study_dir(record.id), study, progress)
    confirmed = None
    if s.confirm:
        top = top_trials(collect(study), s.maximize, s.confirm)
        seeds = confirm_seeds(base.seed, s.confirm_seeds)
        confirmed = run_confirm(
            base, top, seeds, store, record.id, name, s.metric, notes, s.workers, s.execution()
        )
    return write_results(store, record.id, study, base, space, info, confirmed)


def _shares(remaining: int | None, workers: int) -> list[int | None]:
    if remaining is None:
        return [None] * workers
    n = min(workers, remaining)
    return [remaining // n + (i < remaining % n) for i in range(n)]


def _run_shares(
    spec: dict[str, Any],
    shares: list[int | None],
    logs: Path,
    study: optuna.Study,
    progress: Progress | None,
) -> None:
    """Share 0 here, the others on the warm pool's workers (started once per process, so a search
    in a suite reuses the studies' workers and its first trial starts at once); a thread reports
    trials as they end, wherever they ran."""
    from trainlab.execute.pool import run_calls

    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            _report_new(study, seen, progress)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    calls = [("trainlab.search.trial_worker:run_share", {"spec": spec, "index": i, "share": share})
             for i, share in enumerate(shares)]  # fmt: skip
    errors: list[str] = []

    def done(i: int, answer: dict[str, Any]) -> None:
        if "error" in answer:
            errors.append(f"search worker {i}: {answer['error']}")

    try:
        run_calls(calls, len(shares), logs, done)
    finally:
        stop.set()
        watcher.join()
    _report_new(study, seen, progress)
    if errors:
        raise TrainlabError(f"{errors[0]}; rerun the same command to resume")


def _report_new(study: optuna.Study, seen: set[int], progress: Progress | None) -> None:
    """Report each finished trial not in `seen` (which it adds to) once."""
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and t.number not in seen:
            seen.add(t.number)
            if progress is not None and not t.user_attrs.get("skipped"):
                progress(TrialRecord.from_trial(t))


def _reporter(progress: Progress) -> Callable[[optuna.Study, FrozenTrial], None]:
    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if not trial.user_attrs.get("skipped"):
            progress(TrialRecord.from_trial(trial))

    return callback


def _dry_run(base: RunConfig, space: SearchSpace, grid: list[dict[str, Any]] | None) -> None:
    """Load the data and build the model of one point, so a bad model option fails before writing."""
    from trainlab.train.experiment import prepare

    point = dict(grid[0]) if grid else space.point(base)
    try:
        prepare(base.with_overrides(point))
    except ConfigError as exc:
        raise ConfigError(f"search space point {point}: {exc}") from None


def _clash(name: str) -> str:
    return (
        f"search {name!r} exists with a different base config, space, method or metric; "
        "give a new --name to start another search"
    )
