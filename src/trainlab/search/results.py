"""A search's results, read from its Optuna study: trial records, the best config as a YAML that
`trainlab run` accepts, the trials table, importances (Optuna's fANOVA) and the figures.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from trainlab.config import RunConfig
from trainlab.errors import StoreError
from trainlab.plots.search import (
    plot_history,
    plot_importances,
    plot_parallel_coordinates,
    plot_slices,
)
from trainlab.plots.style import save_figure
from trainlab.search.confirm import (
    Confirmed,
    bounded_interval,
    confirm_table,
    describe_winner,
    winner,
)
from trainlab.search.space import SearchSpace
from trainlab.search.storage import open_storage
from trainlab.track.store import Store, StudyRecord
from trainlab.track.summary import Figure, Summary, Table

BEST_CONFIG = "best.yaml"


@dataclass
class TrialRecord:
    """One trial as plain data: what the table, the figures and `search show` need."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING
    value: float | None
    params: dict[str, Any]
    run_id: str | None = None
    seconds: float | None = None
    epochs: int | None = None
    pruned_epoch: int | None = None
    last_value: float | None = None  # last per-epoch value reported (where a pruned trial stopped)
    retry_of: int | None = None
    error: str | None = None
    test_acc: float | None = None  # shown for the best trial only, never used to choose

    @classmethod
    def from_trial(cls, t: FrozenTrial) -> TrialRecord:
        steps = t.intermediate_values
        attrs = t.user_attrs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry_of = RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
        return cls(
            number=t.number,
            state=t.state.name,
            value=t.value if t.state == TrialState.COMPLETE else None,
            params=dict(t.params),
            run_id=attrs.get("run_id"),
            seconds=t.duration.total_seconds() if t.duration is not None else None,
            epochs=attrs.get("epochs"),
            pruned_epoch=attrs.get("pruned_epoch"),
            last_value=steps[max(steps)] if steps else None,
            retry_of=retry_of,
            error=attrs.get("error") or attrs.get("skipped"),
            test_acc=attrs.get("test_acc"),
        )


@dataclass
class SearchResult:
    name: str
    study_id: str
    dir: Path
    metric: str
    maximize: bool
    trials: list[TrialRecord]
    best: TrialRecord | None
    best_config: RunConfig | None
    best_config_path: Path | None
    importances: dict[str, float] = field(default_factory=dict)
    summary: Summary | None = None
    confirmed: list[Confirmed] | None = None  # with --confirm: the re-run top trials
    winner: Confirmed | None = None  # the confirmed winner (chosen on mean validation)

    @property
    def test_interval(self) -> tuple[float, float, float] | None:
        """(mean, low, high) test_acc of the confirmed winner over its fresh seeds."""
        if self.winner is None or not self.winner.test_acc:
            return None
        return bounded_interval(self.winner.test_acc)

    @property
    def best_value(self) -> float | None:
        return None if self.best is None else self.best.value


def collect(study: optuna.Study) -> list[TrialRecord]:
    """Every trial that ran or runs, in number order (queued grid points and skipped ones left out)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state != TrialState.WAITING and not t.user_attrs.get("skipped"):
            out.append(TrialRecord.from_trial(t))
    return out


def best_of(trials: list[TrialRecord], maximize: bool) -> TrialRecord | None:
    """The complete trial with the best value (the earliest one on ties)."""
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not done:
        return None
    sign = -1.0 if maximize else 1.0
    return min(done, key=lambda t: (sign * float(t.value or 0.0), t.number))


def top_trials(
    trials: list[TrialRecord], maximize: bool, k: int
) -> list[tuple[int, dict[str, Any], float]]:
    """(number, params, value) of the k best complete trials, best first (earliest on ties)."""
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    sign = -1.0 if maximize else 1.0
    done.sort(key=lambda t: (sign * float(t.value or 0.0), t.number))
    return [(t.number, t.params, float(t.value or 0.0)) for t in done[:k]]


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importances over complete trials (fields every trial has); {} if too few."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 3 or len({t.value for t in done}) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return {k: float(v) for k, v in found.items()}
    except (RuntimeError, ValueError):
        return {}  # e.g. no parameter varied across the complete trials


def write_results(
    store: Store,
    study_id: str,
    study: optuna.Study,
    base: RunConfig,
    space: SearchSpace,
    info: dict[str, Any],
    confirmed: list[Confirmed] | None = None,
) -> SearchResult:
    """Write best.yaml, tables and figures into the study folder and store the Summary. With
    `confirmed`, the best configuration is the confirmed winner's, not the search's best trial."""
    name, metric, maximize = info["name"], info["metric"], info["direction"] == "maximize"
    folder = store.study_dir(study_id)
    trials = collect(study)
    best = best_of(trials, maximize)
    chosen = winner(confirmed, maximize) if confirmed else None
    if chosen is not None:
        best = next(t for t in trials if t.number == chosen.trial)
    best_cfg, best_path = None, None
    if best is not None:
        best_cfg = base.with_overrides({**best.params, "name": f"{name}-best"})
        best_path = folder / BEST_CONFIG
        best_path.write_text(yaml.safe_dump(best_cfg.model_dump(mode="json"), sort_keys=False))
    imps = importances(study)
    summary = Summary(
        kind="search",
        title=f"Hyperparameter search {name}",
        text=_text(info, trials, best, space, chosen),
        tables=[_trials_table(trials, space, metric)],
        figures=_figures(folder, trials, space, imps, metric, maximize),
        run_ids=[t.run_id for t in trials if t.run_id],
        data={
            "settings": info,
            "space": space.raw,
            "trials": [asdict(t) for t in trials],
            "best": asdict(best) if best else None,
            "importances": imps,
            "best_config": BEST_CONFIG if best else None,
            "confirm": [asdict(c) for c in confirmed] if confirmed else None,
            "winner": chosen.trial if chosen else None,
            "test_interval": bounded_interval(chosen.test_acc) if chosen else None,
        },
    )
    summary.answers = _answers(best, chosen, metric)
    if confirmed:
        summary.tables.insert(0, confirm_table(confirmed, metric, chosen))
        linked = [r for c in confirmed for r in c.run_ids]
        summary.run_ids.extend(r for r in linked if r not in summary.run_ids)
    if best is not None:
        rows = [[k, v] for k, v in best.params.items()]
        summary.tables.insert(0, Table("Best configuration", ["field", "value"], rows))
    summary.write_tables(folder)
    store.finish_study(study_id, summary.to_json())
    return SearchResult(
        name, study_id, folder, metric, maximize, trials, best, best_cfg, best_path, imps, summary,
        confirmed, chosen,
    )  # fmt: skip


def stored_winner(summary: dict[str, Any]) -> Confirmed | None:
    """The confirmed winner recorded in a search's stored summary (None: not confirmed)."""
    data = summary.get("data") or {}
    number = data.get("winner")
    for c in data.get("confirm") or []:
        if c.get("trial") == number:
            return Confirmed(**c)
    return None


def _trials_table(trials: list[TrialRecord], space: SearchSpace, metric: str) -> Table:
    cols = [
        "trial",
        "state",
        metric,
        *space.names,
        "epochs",
        "pruned at epoch",
        "seconds",
        "run_id",
    ]
    rows = []
    for t in trials:
        params = [t.params.get(k, "") for k in space.names]
        seconds = round(t.seconds, 2) if t.seconds is not None else ""
        rows.append(
            [t.number, t.state, t.value if t.value is not None else "", *params,
             t.epochs or "", t.pruned_epoch or "", seconds, t.run_id or ""]
        )  # fmt: skip
    note = (
        "value = the run's final-epoch value (the epoch whose weights are tested; with early "
        "stopping, the restored best epoch); a blank field was not active in that trial"
    )
    return Table("Trials", cols, rows, note)


def _text(
    info: dict[str, Any],
    trials: list[TrialRecord],
    best: TrialRecord | None,
    space: SearchSpace,
    chosen: Confirmed | None = None,
) -> list[str]:
    states = {s: sum(t.state == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    text = [
        f"{info['method']} search over {len(space.params)} fields ({'; '.join(space.describe())}), "
        f"budget {info.get('budget') or 'open'} trials, pruning {info['prune']}, "
        f"{info['workers']} worker(s), sampler seed {info['seed']}.",
        f"{len(trials)} trials: {states['COMPLETE']} complete, {states['PRUNED']} pruned, "
        f"{states['FAIL']} failed. Objective: {info['metric']} of the weights each run is tested "
        f"with, i.e. its final epoch (the restored best epoch under early stopping), "
        f"{info['direction']}d; per-epoch values only prune. Test metrics never choose.",
    ]
    if chosen is not None:
        text.append(describe_winner(chosen, info["metric"]))
        text.append(f"Its config is {BEST_CONFIG}: `trainlab run {BEST_CONFIG}`.")
    elif best is not None:
        test = f"; its test_acc (reported only) is {best.test_acc:.4f}" if best.test_acc else ""
        text.append(
            f"Best: trial {best.number} (run {best.run_id}) with {info['metric']} = "
            f"{best.value:.4f}{test}. Its config is {BEST_CONFIG}: `trainlab run {BEST_CONFIG}`."
        )
    return text


def _answers(best: TrialRecord | None, chosen: Confirmed | None, metric: str) -> list[str]:
    """The search's answer for the report's Findings: what won on validation, its test_acc."""
    if best is None:
        return []
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in best.params.items())  # fmt: skip
    if chosen is not None:
        mean, lo, hi = bounded_interval(chosen.test_acc)
        return [
            f"best on validation (mean {metric} over {len(chosen.values)} fresh seeds, among the "
            f"top trials): trial {chosen.trial} ({params}); test_acc {mean:.4f}, 95% CI "
            f"[{lo:.4f}, {hi:.4f}]"
        ]
    test = f"; test_acc {best.test_acc:.4f} (one seed, not confirmed)" if best.test_acc else ""
    return [f"best on validation ({metric}): trial {best.number} ({params}){test}"]


def _figures(
    folder: Path,
    trials: list[TrialRecord],
    space: SearchSpace,
    imps: dict[str, float],
    metric: str,
    maximize: bool,
) -> list[Figure]:
    figures: list[Figure] = []
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not trials:
        return figures
    fig = plot_history(
        [t.value for t in trials], [t.state for t in trials], metric, maximize,
        pruned_values=[t.last_value for t in trials],
    )  # fmt: skip
    figures.append(
        _save(
            fig,
            folder,
            "history",
            "Optimisation history",
            "Dots: complete trials; x: pruned trials at their last epoch; line: best so far.",
        )
    )
    if len(done) >= 2:
        params = {k: [t.params.get(k) for t in done] for k in space.names}
        logs = [p.field for p in space.params if p.log]
        values = [float(t.value) for t in done if t.value is not None]
        fig = plot_parallel_coordinates(params, values, metric, logs, maximize)
        figures.append(
            _save(
                fig, folder, "parallel", "Parallel coordinates", "Brighter lines are better trials."
            )
        )
        fig = plot_slices(params, values, metric, logs, [t.number for t in done])
        figures.append(
            _save(
                fig,
                folder,
                "slices",
                "Slice plots",
                "Each complete trial's value against one hyperparameter; colour = trial number.",
            )
        )
    if imps:
        fig = plot_importances(imps)
        figures.append(
            _save(
                fig,
                folder,
                "importances",
                "Hyperparameter importances",
                "Optuna's fANOVA evaluator over complete trials; conditional fields are left out.",
            )
        )
    return figures


def _save(fig: Any, folder: Path, stem: str, title: str, caption: str) -> Figure:
    png = save_figure(fig, folder / stem)
    return Figure(title, png.name, caption)


def load_trials(
    store: Store, name: str, storage: str | None = None
) -> tuple[StudyRecord, list[TrialRecord]]:
    """A stored search and its trials, live from its Optuna storage (or the stored summary when
    the search used a database and no `storage` URL is given: the URL is not kept on disk)."""
    record = store.get_study(name)
    if record.kind != "search":
        raise StoreError(f"study {name!r} is a {record.kind} study, not a search")
    cfg = record.config
    if cfg.get("remote") and storage is None:
        saved = record.summary.get("data", {}).get("trials", [])
        return record, [TrialRecord(**t) for t in saved]
    backend = open_storage(storage, Path(cfg["storage"]))
    try:
        study = optuna.load_study(study_name=record.name, storage=backend)
    except KeyError:
        raise StoreError(f"search {name!r} has no Optuna study in {cfg['storage']}") from None
    return record, collect(study)
