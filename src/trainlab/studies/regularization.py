"""The regularization study: none, dropout, L1, L2, weight decay, label smoothing and combinations on
a setup that overfits and is over-confident by default (a wide MLP on MNIST-1D). Measures the
generalization gap, test loss, calibration (ECE, reliability diagrams), weight norm, spread and
time to target. On several workloads (`data`), each runs all of it against its own `none`, and
performance profiles score the methods over them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Outcome, check_workers, execute, load_reliability
from trainlab.plots.comparisons import plot_dots, plot_reliability, pool_bins
from trainlab.plots.curves import plot_bands, plot_train_val
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies.aggregates import add_aggregates
from trainlab.studies.budget import final_seeds, resolve_budget, tuning_seeds
from trainlab.studies.grid import check_effect, check_selection, expand, selection_scores
from trainlab.studies.inherit import from_none, inherited
from trainlab.studies.options import StudyOptions
from trainlab.studies.output import fingerprint
from trainlab.studies.profiles import add_profiles, workload_rows
from trainlab.studies.progress import live_progress
from trainlab.studies.stats import describe, interval, stats_table
from trainlab.studies.time_to_target import target_section
from trainlab.studies.verdicts import Metric, conclude
from trainlab.studies.workloads import check_data, label, on_workload
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
    *,
    base: RunConfig | None = None,
    data: Sequence[str] | None = None,
    target: float | None = None,
    selection_seeds: int = 1,
    options: StudyOptions | None = None,
) -> out.StudyResult:
    """Run (or resume) the regularization study; `methods` picks a subset (always with `none`,
    the declared reference); `base` replaces the wide MLP on mnist1d;
    `data` names the workloads (default: the base's dataset); `target` is the validation accuracy
    for time to target (default: the median final val_acc of `none` on each workload); the best
    on validation is chosen on `selection_seeds` seeds per method (1000+, never tested);
    `options`: how to run and store it (its `min_effect` adds TOST)."""
    opts = options or StudyOptions()
    min_effect = opts.min_effect
    check_workers(opts.workers)
    check_effect(min_effect, target)
    check_selection(selection_seeds)
    b, size, n = resolve_budget(budget, BUDGETS, seeds)
    table = {**METHODS, **MORE}
    chosen = list(dict.fromkeys(["none", *(methods or b.methods)]))
    for m in chosen:
        if m not in table:
            raise ConfigError(f"--methods {m!r}: choose from {', '.join(table)}")
    given = base is not None
    base, epochs_note = out.budget_epochs(base or RunConfig.model_validate(BASE), b.epochs, size)
    workloads = check_data(data, base)
    several = len(workloads) > 1
    base = base if several else on_workload(base, workloads[0])
    groups, jobs = {}, []  # family (a workload, or "regularization") -> its methods' labels
    for w in workloads:
        mine = {label(w, m, several): from_none(table[m]) for m in chosen}
        jobs += expand(on_workload(base, w), mine, final_seeds(base.seed, n))
        jobs += expand(on_workload(base, w), mine, tuning_seeds(base.seed, selection_seeds),
                       role="selection")  # fmt: skip
        groups[w if several else "regularization"] = list(mine)
    store = opts.store or Store()
    plan = [chosen, base.hash()] + ([workloads] if several else [])
    name = opts.name or f"regularization-{size}-{fingerprint(*plan)}"
    config = {"budget": size, "seeds": n, "methods": {m: table[m] for m in chosen},
              "base": base.model_dump(mode="json"), "min_effect": min_effect,
              "selection_seeds": selection_seeds,
              **({"data": workloads} if several else {})}  # fmt: skip
    study = out.StudyOutput(store, "regularization", name, config)
    if given and epochs_note:
        study.note(epochs_note)
    if given:
        own = {m: from_none(table[m]) for m in chosen}
        study.tables.append(inherited(base, own, "What each method takes from the base config"))
    study.warn_power(n, 2 * sum(len(ms) - 1 for ms in groups.values()))
    with live_progress(f"regularization ({size})", opts.progress) as bar:
        outcomes = execute(store, study.id, jobs, opts.workers, bar, opts.record)
    return summarize(store, study, outcomes, groups, min_effect, target)


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
    groups: Mapping[str, list[str]],
    min_effect: float | None = None,
    target: float | None = None,
) -> out.StudyResult:
    """`groups`: per family (each workload, or "regularization" with one) its methods' labels,
    the reference `none` first."""
    methods = [m for ms in groups.values() for m in ms]
    picked = selection_scores(outcomes, methods)
    everything, outcomes = outcomes, [o for o in outcomes if o.job.role == "final"]
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
    for key, what, higher in (("test_acc", "test accuracy", True), ("ece", "ECE", False)):
        t = stats_table(f"Regularization: {what}", key, values[key], oc.seeds(runs, key), higher)
        summary.tables.append(t)
    summary.data = {k: values[k] for k, _, _ in MEASURES}
    refs = {fam: ms[0] for fam, ms in groups.items()}
    arms = [a for fam, ms in groups.items()
            for a in oc.arms(outcomes, fam, ms, ["test_acc", "ece", "val_acc"])]  # fmt: skip
    chosen = {fam: {m: picked[m] for m in ms if m in picked} for fam, ms in groups.items()}
    comp = conclude(summary, arms, refs, [Metric("test_acc"), Metric("ece", higher=False)],
                    min_effect=min_effect, chosen={f: c for f, c in chosen.items() if c},
                    look=study.look(outcomes))  # fmt: skip
    several = len(groups) > 1
    for fam, ms in groups.items():
        best = [b["variant"] for b in comp["best"] if b["family"] == fam]
        said = _sentences(values, ms, best)
        summary.text += [f"{fam}: {t}" for t in said] if several else said
    _figures(store, study, runs, values)
    _time_to_target(summary, study, store, outcomes, groups, target)
    summary.data["selection"] = picked
    return study.finish(summary, everything)


def _time_to_target(
    summary: Summary,
    study: out.StudyOutput,
    store: Store,
    outcomes: Sequence[Outcome],
    groups: Mapping[str, list[str]],
    target: float | None,
) -> None:
    """Per family, time to the target of its `none`; over several workloads, their profiles."""
    targets = {}
    for fam, ms in groups.items():
        title = f"Regularization on {fam}: time to target" if len(groups) > 1 else "Regularization: time to target"  # fmt: skip
        reached = target_section(store, outcomes, ms, ms[0], target, title)
        if reached is not None:
            summary.tables.append(reached[0])
            targets[fam] = reached[1]
    summary.data["time_to_target"] = targets
    if len(groups) > 1:
        add_profiles(summary, study, {"Regularization": workload_rows(targets, {w: w for w in groups})})  # fmt: skip
        add_aggregates(summary, study, [("Regularization", w, {m: summary.data["test_acc"][m] for m in ms}, ms[0]) for w, ms in groups.items()])  # fmt: skip


def _sentences(
    values: dict[str, dict[str, list[float]]], methods: list[str], best: list[str]
) -> list[str]:
    """`methods`: one family's labels, its reference (`none`) first."""
    none = values["test_acc"].get(methods[0])
    if not none:
        return []
    g, e = values["gen_gap"][methods[0]], values["ece"][methods[0]]
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
                f"Best on validation accuracy of its selection seeds: {acc} (test accuracy {_mean(values['test_acc'][acc]):.3f})."
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
