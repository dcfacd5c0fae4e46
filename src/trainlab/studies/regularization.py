"""The regularization study: none, dropout, L1, L2, weight decay, label smoothing and combinations on
a setup that overfits and is over-confident by default (a wide MLP on MNIST-1D). Measures the
generalization gap, test loss, calibration (ECE, reliability diagrams), weight norm and spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Outcome, check_workers, execute, load_reliability
from trainlab.plots.comparisons import plot_dots, plot_reliability, pool_bins
from trainlab.plots.curves import plot_bands, plot_train_val
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies.budget import final_seeds, resolve_budget
from trainlab.studies.grid import check_effect, expand
from trainlab.studies.output import fingerprint
from trainlab.studies.progress import live_progress
from trainlab.studies.stats import describe, interval, stats_table
from trainlab.studies.verdicts import Metric, conclude
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

# A 2x256 MLP on mnist1d with the default recipe: train accuracy 1.0, test ~0.68, ECE ~0.2.
BASE = {"data": {"name": "mnist1d"}, "model": {"name": "mlp", "options": {"width": 256}}}
METHODS: dict[str, dict[str, Any]] = {
    "none": {},
    "dropout 0.2": {"regularize.dropout": 0.2},
    "dropout 0.5": {"regularize.dropout": 0.5},
    "l1 1e-4": {"regularize.l1": 1e-4},
    "l2 1e-3": {"regularize.l2": 1e-3},
    "weight decay 0.1": {"optim.name": "adamw", "optim.weight_decay": 0.1},  # decoupled (AdamW)
    "label smoothing 0.1": {"regularize.label_smoothing": 0.1},
    "dropout 0.2 + l2 1e-3": {"regularize.dropout": 0.2, "regularize.l2": 1e-3},
    "dropout 0.2 + smoothing 0.1": {"regularize.dropout": 0.2, "regularize.label_smoothing": 0.1},
}
MORE: dict[str, dict[str, Any]] = {  # the full budget adds these
    "dropout 0.1": {"regularize.dropout": 0.1},
    "dropout 0.3": {"regularize.dropout": 0.3},
    "l1 1e-3": {"regularize.l1": 1e-3},
    "l2 1e-4": {"regularize.l2": 1e-4},
    "label smoothing 0.2": {"regularize.label_smoothing": 0.2},
    "dropout 0.2 + l2 1e-3 + smoothing 0.1": {
        "regularize.dropout": 0.2,
        "regularize.l2": 1e-3,
        "regularize.label_smoothing": 0.1,
    },
}


@dataclass(frozen=True)
class RegBudget:
    seeds: int
    epochs: int
    methods: tuple[str, ...]


BUDGETS = {
    "quick": RegBudget(seeds=3, epochs=40, methods=tuple(METHODS)),
    "full": RegBudget(seeds=8, epochs=40, methods=(*METHODS, *MORE)),
}


def run_regularization(
    budget: str | RegBudget = "quick",
    seeds: int | None = None,
    methods: Sequence[str] | None = None,
    workers: int | None = None,
    store: Store | None = None,
    name: str | None = None,
    progress: bool = True,
    record: int | None = None,  # flight recorder every N steps in each run trained
    base: RunConfig | None = None,
    min_effect: float | None = None,
) -> out.StudyResult:
    """Run (or resume) the regularization study; `methods` picks a subset (always with `none`,
    the declared reference); `base` replaces the wide MLP on mnist1d; `min_effect` adds TOST."""
    check_workers(workers)
    check_effect(min_effect, None)
    b, label, n = resolve_budget(budget, BUDGETS, seeds)
    table = {**METHODS, **MORE}
    chosen = list(dict.fromkeys(["none", *(methods or b.methods)]))
    for m in chosen:
        if m not in table:
            raise ConfigError(f"--methods {m!r}: choose from {', '.join(table)}")
    base = (base or RunConfig.model_validate(BASE)).with_overrides({"train.epochs": b.epochs})
    jobs = expand(base, {m: table[m] for m in chosen}, final_seeds(base.seed, n))
    store = store or Store()
    name = name or f"regularization-{label}-{fingerprint(chosen, n, base.hash())}"
    config = {"budget": label, "seeds": n, "methods": {m: table[m] for m in chosen},
              "base": base.model_dump(mode="json"), "min_effect": min_effect}  # fmt: skip
    study = out.StudyOutput(store, "regularization", name, config)
    with live_progress(f"regularization ({label})", progress) as bar:
        outcomes = execute(store, study.id, jobs, workers, bar, record)
    return summarize(store, study, outcomes, chosen, min_effect)


MEASURES = (  # summary key, column, higher is better
    ("train_eval_acc", "train acc", True),
    ("val_acc", "val acc", True),
    ("test_acc", "test acc", True),
    ("gen_gap", "gap (train - test)", False),
    ("test_loss", "test loss", False),
    ("ece", "ECE", False),
    ("weight_norm", "weight norm", False),
)


def summarize(
    store: Store,
    study: out.StudyOutput,
    outcomes: Sequence[Outcome],
    methods: list[str],
    min_effect: float | None = None,
) -> out.StudyResult:
    runs = oc.finished(outcomes, methods)
    summary = Summary("regularization", "Regularization: gap, calibration and stability")
    values = {key: oc.metric(runs, key) for key, _, _ in MEASURES}
    rows = []
    for m in methods:
        if not runs[m]:
            continue
        s = describe(values["test_acc"][m])
        rows.append(
            [
                m,
                s.n,
                *(_mean(values[k][m]) for k, _, _ in MEASURES),
                None if s.std is None else round(s.std, 4),
            ]
        )
    cols = ["method", "n", *(c for _, c, _ in MEASURES), "test acc std"]
    note = "means over seeds; train acc in eval mode (no dropout); ECE on the test set, 15 bins"
    summary.tables.append(Table("Regularization: measures per method", cols, rows, note))
    for key, label, higher in (("test_acc", "test accuracy", True), ("ece", "ECE", False)):
        t = stats_table(f"Regularization: {label}", key, values[key], oc.seeds(runs, key), higher)
        summary.tables.append(t)
    summary.data = {k: values[k] for k, _, _ in MEASURES}
    arms = oc.arms(outcomes, "regularization", methods, ["test_acc", "ece", "val_acc"])
    comp = conclude(summary, arms, {"regularization": "none"},
                    [Metric("test_acc"), Metric("ece", higher=False)], min_effect=min_effect)  # fmt: skip
    summary.text += _sentences(values, methods, [b["variant"] for b in comp["best"]])
    _figures(store, study, runs, values)
    return study.finish(summary, outcomes)


def _sentences(
    values: dict[str, dict[str, list[float]]], methods: list[str], best: list[str]
) -> list[str]:
    none = values["test_acc"].get("none")
    if not none:
        return []
    g, e = values["gen_gap"]["none"], values["ece"]["none"]
    text = [
        f"Without regularization: test accuracy {_mean(none):.3f}, gap {_mean(g):.3f}, ECE {_mean(e):.3f}."
    ]
    ranked = [m for m in methods if values["gen_gap"].get(m)]
    if ranked:
        gap = min(ranked, key=lambda m: _mean(values["gen_gap"][m]) or 0.0)
        cal = min(ranked, key=lambda m: _mean(values["ece"][m]) or 0.0)
        text.append(
            f"Smallest mean gap: {gap} ({_mean(values['gen_gap'][gap]):.3f}); smallest mean ECE: "
            f"{cal} ({_mean(values['ece'][cal]):.3f}) (descriptive; the verdicts are below)."
        )
    for acc in best:
        if values["test_acc"].get(acc):
            text.append(
                f"Best on validation accuracy: {acc} (test accuracy {_mean(values['test_acc'][acc]):.3f})."
            )
    return text


def _figures(
    store: Store,
    study: out.StudyOutput,
    runs: dict[str, list[RunRecord]],
    values: dict[str, dict[str, list[float]]],
) -> None:
    shown = [m for m, rs in runs.items() if rs]
    if not shown:
        return
    for key, stem, xlabel, title in (
        (
            "gen_gap",
            "gap",
            "generalization gap (train acc - test acc)",
            "Generalization gap per method",
        ),
        ("test_acc", "test-acc", "test accuracy (fraction correct)", "Test accuracy per method"),
        (
            "ece",
            "ece",
            "expected calibration error (test, 15 bins)",
            "Calibration error per method",
        ),
    ):
        groups = {m: values[key][m] for m in shown}
        bounds = None if key == "gen_gap" else (0.0, 1.0)
        iv = {m: interval(v, bounds) for m, v in groups.items() if v}
        fig = plot_dots(groups, xlabel, title, iv)
        study.figure(fig, stem, title, "Dots are seeds; diamond is the mean with its 95% CI.")
    panels = {
        m: (
            oc.series(store, {m: runs[m]}, "train_acc")[m],
            oc.series(store, {m: runs[m]}, "val_acc")[m],
        )
        for m in shown
    }
    fig = plot_train_val(
        panels, "accuracy (fraction)", "Train vs validation accuracy", "train (with dropout on)"
    )
    study.figure(fig, "train-vs-val", "Train vs validation accuracy per epoch")
    fig = plot_bands(
        {"validation loss": oc.series(store, runs, "val_loss")},
        "epoch",
        "validation loss (cross-entropy)",
        "Validation loss per epoch",
    )
    study.figure(
        fig,
        "val-loss",
        "Validation loss per epoch",
        "A rising validation loss while accuracy holds is growing over-confidence.",
    )
    bins = {m: pool_bins([load_reliability(r) for r in runs[m]]) for m in shown}
    ece = {m: _mean(values["ece"][m]) or 0.0 for m in shown}
    fig = plot_reliability(bins, ece, "Reliability diagrams")
    study.figure(
        fig,
        "reliability",
        "Reliability diagrams",
        "Bars below the diagonal: the model is more confident than accurate.",
    )


def _mean(xs: Sequence[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None
