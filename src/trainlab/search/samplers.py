"""Method and pruner names -> Optuna samplers and pruners, with the settings trainlab uses.

Grid search enqueues every grid point as a fixed trial (see `runner.py`), so its sampler never
proposes a point of its own; the others are Optuna's samplers, seeded per worker.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.exceptions import ExperimentalWarning

from trainlab.errors import ConfigError
from trainlab.search.space import SearchSpace

METHODS = ("grid", "random", "tpe", "gp", "cmaes")
PRUNERS = ("none", "median", "hyperband")
MEDIAN_STARTUP = 5  # trials that finish before the median pruner may prune anything
MEDIAN_WARMUP = 2  # epochs: the earliest a trial can be pruned is after epoch 2


def check_method(method: str, space: SearchSpace) -> None:
    """Raise a one-line ConfigError if `method` is unknown or cannot search this space."""
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "cmaes":
        for p in space.params:
            if p.kind == "choice" or p.when:
                what = "a choice" if p.kind == "choice" else "a conditional field"
                raise ConfigError(
                    f"--method cmaes: space field {p.field!r} is {what}; CMA-ES searches only "
                    "unconditional uniform, log_uniform and int fields (use tpe or gp)"
                )


def startup_trials(budget: int | None) -> int:
    """Random trials before a model-based sampler starts: Optuna's 10, fewer for small budgets."""
    return 10 if budget is None else max(3, min(10, budget // 4))


def make_sampler(method: str, seed: int, budget: int | None) -> optuna.samplers.BaseSampler:
    """The sampler of one worker; `seed` already differs per worker so workers never draw alike."""
    startup = startup_trials(budget)
    if method in ("grid", "random"):
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        # constant_liar: running trials count as bad guesses, so parallel workers spread out;
        # group: conditional fields are modelled jointly within each branch (SGD's momentum).
        with warnings.catch_warnings():  # `group` is marked experimental since Optuna 2.8
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=startup,
                multivariate=True,
                group=True,
                constant_liar=True,
            )
    if method == "gp":
        # The GP models the fields every trial has; conditional ones are drawn at random (known,
        # documented: no warning per trial).
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=startup, warn_independent_sampling=False
        )
    if method == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=startup)
    raise ConfigError(f"--method {method!r}: choose one of {', '.join(METHODS)}")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Pruner on the per-epoch metric; steps are epochs (1-based), so resources are epochs too."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP, n_warmup_steps=min(MEDIAN_WARMUP, epochs)
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(epochs, 2), reduction_factor=3
        )
    raise ConfigError(f"--prune {name!r}: choose one of {', '.join(PRUNERS)}")
