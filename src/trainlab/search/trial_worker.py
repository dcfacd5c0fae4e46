"""One search worker: loads the shared Optuna study and runs trials until its share, the budget,
the grid or the wall time runs out; `run_search` runs one here and the others on the warm pool.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState

from trainlab.config import validate
from trainlab.search.objective import Objective
from trainlab.search.samplers import make_pruner, make_sampler
from trainlab.search.space import parse_space
from trainlab.search.storage import count_done, open_storage
from trainlab.track.store import Store

SEED_STRIDE = 10_007  # worker i samples with seed + i * stride: workers never draw alike

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


def load_study(
    spec: dict[str, Any], index: int = 0, sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    """The shared study with this worker's sampler (or `sampler`) and the search's pruner."""
    url = None
    if spec["remote"]:
        url = spec.get("storage")  # reaches pool workers through their pipe, never on disk
    storage = open_storage(url, Path(spec["journal"]), spec["heartbeat"])
    seed = (spec["seed"] + index * SEED_STRIDE) % 2**31
    return optuna.load_study(
        study_name=spec["name"],
        storage=storage,
        sampler=sampler or make_sampler(spec["method"], seed, spec["budget"]),
        pruner=make_pruner(spec["prune"], spec["epochs"]),
    )


def make_objective(spec: dict[str, Any], store: Store | None = None) -> Objective:
    """The search's objective, writing to `store` (default: the store the spec names)."""
    return Objective(
        base=validate(spec["base"]),
        space=parse_space(spec["space"]),
        store=store or Store(spec["store"]),
        study_id=spec["study_id"],
        name=spec["name"],
        metric=spec["metric"],
        maximize=spec["direction"] == "maximize",
        grid=spec["method"] == "grid",
    )


def keep_going(study: optuna.Study, spec: dict[str, Any]) -> bool:
    """Whether another trial may start: budget, grid, target value and wall time all allow it."""
    if spec["deadline"] is not None and time.time() >= spec["deadline"]:
        return False
    # A dead machine's trial is failed and re-queued, so it no longer counts as running
    # (a no-op without heartbeats, i.e. on the journal).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    if spec["budget"] is not None and count_done(trials) + running >= spec["budget"]:
        return False  # several machines on one database: the others used the budget up
    if spec["method"] == "grid" and not any(t.state == TrialState.WAITING for t in trials):
        return False
    return not _reached(trials, spec.get("stop_at"), spec["direction"] == "maximize")


def run_worker(
    spec: dict[str, Any],
    index: int,
    share: int | None,
    callbacks: Sequence[TrialCallback] = (),
) -> int:
    """Run up to `share` trials (None: until budget or deadline); return how many ran."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our table; Ctrl-C: one line
    study = load_study(spec, index)
    objective = make_objective(spec)
    ran = 0
    while (share is None or ran < share) and keep_going(study, spec):
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=list(callbacks))
        ran += 1
    return ran


def _reached(trials: Sequence[FrozenTrial], target: float | None, maximize: bool) -> bool:
    values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if target is None or not values:
        return False
    return max(values) >= target if maximize else min(values) <= target


def run_share(spec: dict[str, Any], index: int, share: int | None) -> dict[str, Any]:
    """A pool call (`execute.pool.run_calls`): worker `index` runs its share of the trials."""
    return {"ran": run_worker(spec, index, share)}
