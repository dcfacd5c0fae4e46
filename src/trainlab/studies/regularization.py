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
from trainlab.studies import output as out
from trainlab.studies.grid import expand, fingerprint
from trainlab.studies.stats import compare, describe, interval, stats_table
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
) -> out.StudyResult:
    """Run (or resume) the regularization study; `methods` picks a subset (always with `none`);
    `base` replaces the wide MLP on mnist1d."""
    check_workers(workers)
    b, label, n = out.resolve_budget(budget, BUDGETS, seeds)
    table = {**METHODS, **MORE}
    chosen = list(dict.fromkeys(["none", *(methods or b.methods)]))
    for m in chosen:
        if m not in table:
            raise ConfigError(f"--methods {m!r}: choose from {', '.join(table)}")
    base = (base or RunConfig.model_validate(BASE)).with_overrides({"train.epochs": b.epochs})
    jobs = expand(base, {m: table[m] for m in chosen}, range(n))
    store = store or Store()
    name = name or f"regularization-{label}-{fingerprint(chosen, n, base.hash())}"
    config = {"budget": label, "seeds": n, "methods": {m: table[m] for m in chosen},
              "base": base.model_dump(mode="json")}  # fmt: skip
    study = out.StudyOutput(store, "regularization", name, config)
    with out.live_progress(f"regularization ({label})", progress) as bar:
        outcomes = execute(store, study.id, jobs, workers, bar, record)
    return summarize(store, study, outcomes, chosen)


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
    store: Store, study: out.StudyOutput, outcomes: Sequence[Outcome], methods: list[str]
) -> out.StudyResult:
    runs = out.finished(outcomes, methods)
    summary = Summary("regularization", "Regularization: gap, calibration and stability")
    values = {key: out.metric(runs, key) for key, _, _ in MEASURES}
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
        t, verdicts = stats_table(
            f"Regularization: {label}", key, values[key], out.seeds(runs, key), higher
        )
        summary.tables.append(t)
        summary.verdicts += verdicts
    vs_none = _against_none(values, methods)
    if vs_none is not None:
        summary.tables.append(vs_none)
    summary.text += _sentences(values, methods)
    _figures(store, study, runs, values)
    summary.data = {k: values[k] for k, _, _ in MEASURES}
    return study.finish(summary, outcomes)


def _against_none(values: dict[str, dict[str, list[float]]], methods: list[str]) -> Table | None:
    if not values["test_acc"].get("none"):
        return None
    rows = []
    for m in methods[1:]:
        if not values["test_acc"].get(m):
            continue
        row: list[Any] = [m]
        for key, _, higher in (("test_acc", "", True), ("gen_gap", "", False), ("ece", "", False)):
            c = compare(values[key][m], values[key]["none"], higher)
            row += [round(c.diff, 4), None if c.p is None else float(f"{c.p:.3g}"), c.verdict]
        rows.append(row)
    cols = ["method"]
    for key in ("test_acc", "gen_gap", "ece"):
        cols += [f"{key} diff", "p", "verdict"]
    note = "each method against no regularization; Welch's t-test, two-sided, alpha 0.05; lower gap and ECE are better"
    return Table("Regularization against none", cols, rows, note)


def _sentences(values: dict[str, dict[str, list[float]]], methods: list[str]) -> list[str]:
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
        acc = max(ranked, key=lambda m: _mean(values["test_acc"][m]) or 0.0)
        text.append(
            f"Smallest gap: {gap} ({_mean(values['gen_gap'][gap]):.3f}); best calibrated: {cal} "
            f"(ECE {_mean(values['ece'][cal]):.3f}); best test accuracy: {acc} ({_mean(values['test_acc'][acc]):.3f})."
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
        fig = plot_dots(groups, xlabel, title, {m: interval(v) for m, v in groups.items() if v})
        study.figure(fig, stem, title, "Dots are seeds; diamond is the mean with its 95% CI.")
    panels = {
        m: (
            out.series(store, {m: runs[m]}, "train_acc")[m],
            out.series(store, {m: runs[m]}, "val_acc")[m],
        )
        for m in shown
    }
    fig = plot_train_val(
        panels, "accuracy (fraction)", "Train vs validation accuracy", "train (with dropout on)"
    )
    study.figure(fig, "train-vs-val", "Train vs validation accuracy per epoch")
    fig = plot_bands(
        {"validation loss": out.series(store, runs, "val_loss")},
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
