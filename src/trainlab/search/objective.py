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
from trainlab.search.space import SearchSpace
from trainlab.search.storage import worker_tag
from trainlab.track.store import Store
from trainlab.train.experiment import run
from trainlab.train.loop import Callback, StopTraining

EPOCH_METRICS = ("val_acc", "val_loss", "train_acc", "train_loss")
RESET_ATTRS = (
    "run_id", "epochs", "pruned_epoch", "status", "error", "interrupted", "test_acc", "scored_epoch",
)  # fmt: skip


def scored_epoch(epochs: Sequence[dict[str, Any]], restored_best: bool) -> dict[str, Any]:
    """The epoch whose weights a run keeps: the last one, or with early stopping's restore the
    first epoch of highest val_acc (the loop keeps a copy only on a strict improvement)."""
    return max(epochs, key=lambda e: e["val_acc"]) if restored_best else epochs[-1]


def restores_best(cfg: RunConfig, status: str) -> bool:
    """Whether the run's final weights are its best-validation epoch's (early stopping, finished)."""
    return bool(cfg.train.early_stopping) and status == "finished"


class TrialError(Exception):
    """A trial that cannot give a value: its run diverged or failed, so no weights were evaluated."""


class NotAGridPoint(Exception):
    """A grid-search worker was handed a fresh trial after the grid ran out: it is skipped."""


class _Reporter(Callback):
    """Links the trial to its run after the first epoch, reports the metric after every epoch,
    and stops the run when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str, link: Callable[[], bool]) -> None:
        self.trial, self.metric, self.link = trial, metric, link
        self.linked = False

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        if not self.linked:  # early, so a killed trial still names its (interrupted) run
            self.linked = self.link()
        value = metrics[self.metric]
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise StopTraining("pruned", f"pruned after epoch {epoch} ({self.metric}={value:.4f})")


class Objective:
    """Callable for `study.optimize`: runs one trial as a trainlab run linked to the study."""

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
        trial.set_user_attr("worker", worker_tag(trial.number))
        for key in RESET_ATTRS:  # a re-queued trial inherits its predecessor's attributes
            if key in trial.user_attrs:
                trial.set_user_attr(key, None)
        if self.grid and "grid_point" not in trial.user_attrs:
            trial.set_user_attr("skipped", "the grid was already exhausted")
            trial.study.stop()
            raise NotAGridPoint(f"trial {trial.number}: no grid point left")
        cfg = self.config(trial)
        reporter = _Reporter(trial, self.metric, lambda: self._link_running(trial, cfg))
        try:
            result = run(cfg, self.store, [reporter])
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # re-queued when the search resumes
            raise
        except Exception as exc:
            failed = self.store.find_run(cfg.hash(), ("failed",))
            if failed is not None and not reporter.linked:
                self._link(trial, failed.id)
            trial.set_user_attr("error", str(exc).splitlines()[0] if str(exc) else repr(exc))
            raise
        record, history = result.record, result.history
        assert record is not None
        self._link(trial, record.id)
        trial.set_user_attr("epochs", len(history.epochs))
        trial.set_user_attr("status", history.status)
        if history.status == "pruned":
            trial.set_user_attr("pruned_epoch", len(history.epochs))
            raise optuna.TrialPruned(history.reason)
        if not history.epochs or history.status != "finished":
            trial.set_user_attr("error", history.reason or history.status)
            raise TrialError(f"run {record.id} {history.status}: {history.reason}")
        if "test_acc" in record.summary:
            trial.set_user_attr("test_acc", record.summary["test_acc"])
        scored = scored_epoch(history.epochs, restores_best(cfg, history.status))
        trial.set_user_attr("scored_epoch", int(scored["epoch"]))
        return float(scored[self.metric])

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
