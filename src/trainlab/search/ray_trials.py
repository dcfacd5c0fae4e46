"""Searches on Ray: every trial is one Ray task, asked and told here, trained on some node.

The driver (this process) samples each trial (`study.ask`, one sampler, so `--seed` means what
it means locally), hands its config to a task and keeps `workers` tasks in flight. The task
trains into a temporary store on its node (execute/ray.py), reporting every epoch to the shared
Optuna storage and asking the pruner there, so pruning sees every other trial; it sends
heartbeats on a database storage. The driver alone writes the returned run into its SQLite
store, links it to the trial exactly as a local search does, then tells Optuna the result.

One task per trial, not one per worker looping over trials: Ray's retry of a task whose worker
died then re-runs that very trial (its trial is RUNNING until the driver tells it, never stuck:
the driver tells FAIL once the retries are spent), a task's records reach the store as soon as
its trial ends, and a COMPLETE trial always has its run in the store.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import get_heartbeat_thread  # what `study.optimize` runs
from optuna.trial import FrozenTrial, TrialState

from trainlab.config import RunConfig, validate
from trainlab.errors import ConfigError
from trainlab.execute.jobs import Job
from trainlab.execute.ray import (
    cancel,
    connect,
    next_done,
    pack,
    scratch,
    task,
    task_failed,
    write_back,
)
from trainlab.execute.settings import ExecSettings
from trainlab.execute.unit import run_job
from trainlab.search.objective import NotAGridPoint, Objective, Reporter, TrialError
from trainlab.search.storage import retried_numbers
from trainlab.search.trial_worker import TrialCallback, keep_going, load_study, make_objective
from trainlab.track.store import RunRecord, Store

REUSABLE = ("finished", "diverged", "pruned")  # a stored run of these is a trial's whole result


def check_storage(settings: ExecSettings, storage: str | None) -> None:
    """One-line ConfigError unless every Ray node can reach the search's Optuna storage: a local
    Ray shares this filesystem (the journal file works); a cluster needs a database server."""
    if settings.executor != "ray" or settings.ray_address is None:
        return
    if storage is None or storage.startswith("sqlite"):
        shown = "none (the journal file in the store)" if storage is None else storage
        raise ConfigError(
            f"--storage {shown} with --ray-address {settings.ray_address}: tasks on other "
            "machines cannot reach a file on this one; give --storage postgresql://USER@HOST/DB "
            "or mysql+pymysql://USER@HOST/DB, a database every node reaches (or drop "
            "--ray-address to search on a local Ray)"
        )


def train_trial(
    spec: dict[str, Any], trial_id: int, config: dict[str, Any], threads: int
) -> dict[str, Any]:
    """The task: train one trial's config into a temporary store here, reporting each epoch to
    the shared storage (the pruner decides here), and return the run as records."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(spec, sampler=optuna.samplers.RandomSampler())  # samples nothing here
    trial = optuna.Trial(study, trial_id)
    job = Job(f"trial-{trial.number}", validate(config), role="search")
    with get_heartbeat_thread(trial_id, trial.storage), scratch(threads) as (store, study_id):
        answer = run_job(store, study_id, job, [Reporter(trial, spec["metric"])])
        return pack(store, answer)


def run_on_ray(
    spec: dict[str, Any],
    settings: ExecSettings,
    slots: int,
    store: Store,
    callbacks: Sequence[TrialCallback] = (),
) -> None:
    """Run trials as Ray tasks, `slots` at a time, until budget, grid or wall time runs out."""
    ray = connect(settings)
    remote, threads = task(ray, train_trial, settings)
    spec = {**spec, "journal": str(Path(spec["journal"]).resolve())}  # tasks have their own cwd
    study = load_study(spec)
    objective = make_objective(spec, store)
    unclaimed = unclaimed_runs(store, spec["study_id"], study.get_trials(deepcopy=False))
    refs: dict[Any, tuple[optuna.Trial, RunConfig]] = {}
    try:
        while True:
            while len(refs) < slots and keep_going(study, spec):
                with warnings.catch_warnings():  # heartbeats want `optimize`: our tasks beat
                    warnings.filterwarnings("ignore", "Heartbeat", UserWarning)
                    trial = study.ask()
                try:
                    cfg = objective.start(trial)
                except NotAGridPoint:  # another driver took the last grid point
                    _tell(study, trial, None, TrialState.FAIL, callbacks)
                    break
                stored = unclaimed.pop(cfg.hash(), None)
                if stored is not None:  # trained before a driver died between store and tell
                    _finish(study, objective, trial, cfg, stored, "", callbacks)
                    continue
                trial_id = trial._trial_id  # what `optuna.Trial(study, id)` takes in the task
                ref = remote.remote(spec, trial_id, cfg.model_dump(mode="json"), threads)
                refs[ref] = (trial, cfg)
            if not refs:
                return
            (trial, cfg), got = next_done(ray, refs)
            record = {"answer": task_failed(got)} if isinstance(got, BaseException) else got
            job = Job(f"trial-{trial.number}", cfg, role="search")
            answer = write_back(store, spec["study_id"], job, record)
            run = store.get_run(answer["run_id"]) if answer.get("run_id") else None
            _finish(study, objective, trial, cfg, run, answer.get("error", ""), callbacks)
    except KeyboardInterrupt:
        cancel(ray, refs)
        for trial, _ in refs.values():
            trial.set_user_attr("interrupted", True)  # re-queued when the search resumes
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise


def unclaimed_runs(
    store: Store, study_id: str, trials: Sequence[FrozenTrial]
) -> dict[str, RunRecord]:
    """The search's stored runs that no finished trial names (the driver died after storing
    one, before telling Optuna), by config hash: a trial of that config takes the run."""
    retried = retried_numbers(trials)
    claimed = {
        t.user_attrs.get("run_id")
        for t in trials
        if t.state.is_finished() and t.number not in retried
    }
    return {
        run.config_hash: run
        for _, run in store.study_runs(study_id, "search")
        if run.id not in claimed and run.status in REUSABLE
    }


def _finish(
    study: optuna.Study,
    objective: Objective,
    trial: optuna.Trial,
    cfg: RunConfig,
    run: RunRecord | None,
    error: str,
    callbacks: Sequence[TrialCallback],
) -> None:
    """Link the trial to its run, as `Objective.__call__` does, and tell Optuna its result."""
    value, state = None, TrialState.FAIL
    try:
        if run is None or run.status == "failed":
            objective.fail(trial, None if run is None else run.id, error or "the run failed")
        else:
            reason = str(run.summary.get("reason", ""))
            epochs = objective.store.epochs(run.id)
            value = objective.settle(trial, cfg, run, epochs, run.status, reason)
            state = TrialState.COMPLETE
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except TrialError:
        pass
    except UpdateFinishedTrialError:  # failed meanwhile by a stale heartbeat, and re-queued
        return
    _tell(study, trial, value, state, callbacks)


def _tell(
    study: optuna.Study,
    trial: optuna.Trial,
    value: float | None,
    state: TrialState,
    callbacks: Sequence[TrialCallback],
) -> None:
    frozen = study.tell(trial, value, state=state, skip_if_finished=True)
    for callback in callbacks:
        callback(study, frozen)
