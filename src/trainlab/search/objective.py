"""The objective of a search: trial -> RunConfig -> one stored trainlab run -> objective value.

The value is the metric of the weights the run is evaluated with: its final epoch's value (the
run's `val_acc`), or, when early stopping restored the best-validation weights, that epoch's value.
So a trial's test_acc belongs to the weights its value scored. Per-epoch values are reported for
pruning only. Test metrics are stored on the trial for the table, never used to choose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from torch import nn

from trainlab.config import RunConfig
from trainlab.data.catalog import task_of
from trainlab.search.space import SearchSpace
from trainlab.search.storage import worker_tag
from trainlab.track.store import RunRecord, Store
from trainlab.train.experiment import failed_run, run
from trainlab.train.loop import Callback, StopTraining, best_epoch
from trainlab.train.selection import metric_name

EPOCH_METRICS = ("val_acc", "val_loss", "train_acc", "train_loss")  # a classifier's, always
REGRESSION_EPOCH_METRICS = ("val_rmse", "val_mae", "val_r2", "val_loss", "train_loss")
RESET_ATTRS = (
    "run_id", "epochs", "pruned_epoch", "status", "error", "interrupted", "test_acc", "scored_epoch",
)  # fmt: skip


def epoch_metrics(cfg: RunConfig) -> tuple[str, ...]:
    """The per-epoch metrics a run of `cfg` stores, so a search may optimise any of them: its
    task's, plus val_<name> of each of `train.metrics`."""
    regression = task_of(cfg.data.name, cfg.data.options) == "regression"
    own = tuple(f"val_{metric_name(n)}" for n in cfg.train.metrics)
    return (REGRESSION_EPOCH_METRICS if regression else EPOCH_METRICS) + own


def scored_epoch(epochs: Sequence[dict[str, Any]], restored_best: bool) -> dict[str, Any]:
    """The epoch whose weights a run keeps: the last one, or with early stopping's restore the
    first epoch of the best val_acc (regression: val_rmse; the loop keeps a copy only on a
    strict improvement)."""
    return best_epoch(epochs) if restored_best else epochs[-1]


def restores_best(cfg: RunConfig, status: str) -> bool:
    """Whether the run's final weights are its best-validation epoch's (early stopping, finished)."""
    return bool(cfg.train.early_stopping) and status == "finished"


class TrialError(Exception):
    """A trial that cannot give a value: its run diverged or failed, so no weights were evaluated."""


class NotAGridPoint(Exception):
    """A grid-search worker was handed a fresh trial after the grid ran out: it is skipped."""


class Reporter(Callback):
    """Links the trial to its run after the first epoch (`link`; None: whoever stores the run
    links it), reports the metric after every epoch, and stops the run when the pruner says so."""

    def __init__(
        self, trial: optuna.Trial, metric: str, link: Callable[[], bool] | None = None
    ) -> None:
        self.trial, self.metric, self.link = trial, metric, link
        self.linked = link is None

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        if not self.linked and self.link is not None:  # early: a killed trial names its run
            self.linked = self.link()
        value = metrics[self.metric]
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise StopTraining("pruned", f"pruned after epoch {epoch} ({self.metric}={value:.4f})")


class Objective:
    """Callable for `study.optimize`: runs one trial as a trainlab run linked to the study.

    Its parts serve a trial asked and told elsewhere (search/ray_trials.py): `start` before the run,
    `settle` (a stored run) or `fail` (none, or a failed one) after it."""

    def __init__(
        self,
        base: RunConfig,
        space: SearchSpace,
        store: Store,
        study_id: str,
        name: str,
        metric: str = "val_acc",
        maximize: bool = True,
        grid: bool = False,
    ) -> None:
        self.base, self.space, self.store, self.study_id = base, space, store, study_id
        self.name, self.metric, self.maximize, self.grid = name, metric, maximize, grid

    def config(self, trial: optuna.Trial) -> RunConfig:
        overrides: dict[str, Any] = self.space.suggest(trial, self.base)
        return self.base.with_overrides({**overrides, "name": f"{self.name}-trial-{trial.number}"})

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            cfg = self.start(trial)
        except NotAGridPoint:
            trial.study.stop()
            raise
        reporter = Reporter(trial, self.metric, lambda: self._link_running(trial, cfg))
        try:
            result = run(cfg, self.store, [reporter])
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # re-queued when the search resumes
            raise
        except Exception as exc:
            failed = failed_run(exc)  # this trial's run, not another worker's failed twin
            error = str(exc).splitlines()[0] if str(exc) else repr(exc)
            self.fail(trial, failed if not reporter.linked else None, error)
            raise
        record, history = result.record, result.history
        assert record is not None
        return self.settle(trial, cfg, record, history.epochs, history.status, history.reason)

    def start(self, trial: optuna.Trial) -> RunConfig:
        """Claim the trial for this process and sample its config (NotAGridPoint: none left)."""
        trial.set_user_attr("worker", worker_tag(trial.number))
        for key in RESET_ATTRS:  # a re-queued trial inherits its predecessor's attributes
            if key in trial.user_attrs:
                trial.set_user_attr(key, None)
        if self.grid and "grid_point" not in trial.user_attrs:
            trial.set_user_attr("skipped", "the grid was already exhausted")
            raise NotAGridPoint(f"trial {trial.number}: no grid point left")
        return self.config(trial)

    def settle(
        self,
        trial: optuna.Trial,
        cfg: RunConfig,
        record: RunRecord,
        epochs: Sequence[dict[str, Any]],
        status: str,
        reason: str,
    ) -> float:
        """Link the trial to its stored run and return its value; optuna.TrialPruned for a pruned
        run, TrialError for one that diverged or did not finish."""
        self._link(trial, record.id)
        trial.set_user_attr("epochs", len(epochs))
        trial.set_user_attr("status", status)
        if status == "pruned":
            trial.set_user_attr("pruned_epoch", len(epochs))
            raise optuna.TrialPruned(reason)
        if not epochs or status != "finished":
            trial.set_user_attr("error", reason or status)
            raise TrialError(f"run {record.id} {status}: {reason}")
        if "test_acc" in record.summary:
            trial.set_user_attr("test_acc", record.summary["test_acc"])
        scored = scored_epoch(epochs, restores_best(cfg, status))
        trial.set_user_attr("scored_epoch", int(scored["epoch"]))
        return float(scored[self.metric])

    def fail(self, trial: optuna.Trial, run_id: str | None, error: str) -> None:
        """Record why the trial gives no value, linked to its failed run if there is one."""
        if run_id is not None:
            self._link(trial, run_id)
        trial.set_user_attr("error", error)

    def _link_running(self, trial: optuna.Trial, cfg: RunConfig) -> bool:
        """Link the one running run of this config (none or several: link when it ends)."""
        running = self.store.list_runs("running", {"config_hash": cfg.hash()})
        if len(running) != 1:
            return False
        self._link(trial, running[0].id)
        return True

    def _link(self, trial: optuna.Trial, run_id: str) -> None:
        trial.set_user_attr("run_id", run_id)
        self.store.link(self.study_id, run_id, f"trial-{trial.number}", role="search")
