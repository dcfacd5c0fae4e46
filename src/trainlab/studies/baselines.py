"""The baselines study: logreg, MLP, CNN and GRU on MNIST-1D (and digits) over seeds, beside the
MNIST-1D paper's published test accuracies, with learning curves, parameter counts, seconds and
time to the MLP's accuracy; over several datasets, performance profiles of the models on all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Job, Outcome, check_workers, execute
from trainlab.plots.comparisons import plot_dots
from trainlab.plots.curves import plot_bands
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies.aggregates import add_aggregates
from trainlab.studies.budget import final_seeds, resolve_budget
from trainlab.studies.grid import check_effect
from trainlab.studies.options import StudyOptions
from trainlab.studies.output import fingerprint
from trainlab.studies.profiles import add_profiles, workload_rows
from trainlab.studies.progress import live_progress
from trainlab.studies.stats import UNIT, describe, interval, stats_table
from trainlab.studies.time_to_target import target_section
from trainlab.studies.verdicts import Metric, conclude
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

# Greydanus (2020), "Scaling down deep learning", MNIST-1D test accuracy of each baseline.
PAPER = {"logreg": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}
# The GRU reads sequences, so it has no digits (8x8 image) baseline. Longest first: the pool
# finishes sooner when the slow runs start early.
MODELS = {"mnist1d": ("gru", "cnn", "mlp", "logreg"), "digits": ("cnn", "mlp", "logreg")}
REFERENCE = "mlp"  # declared before running: every model is compared with the MLP on its data


@dataclass(frozen=True)
class BaselineBudget:
    seeds: int
    epochs: int  # the measured defaults (adam 0.01, cosine, batch 100) are for 40 epochs


BUDGETS = {"quick": BaselineBudget(seeds=3, epochs=40), "full": BaselineBudget(seeds=10, epochs=40)}


def baseline_jobs(
    datasets: Sequence[str], seeds: int, epochs: int, base: RunConfig | None = None
) -> list[Job]:
    """Every model of every dataset at `seeds` seeds from the base config's (default: the default
    recipe at seed 0); the data and model names replace the base config's."""
    base = base or RunConfig()
    jobs = []
    for data in datasets:
        if data not in MODELS:
            raise ConfigError(f"--datasets {data!r}: choose from {', '.join(MODELS)}")
        for model in MODELS[data]:
            variant = f"{data}/{model}"
            for seed in final_seeds(base.seed, seeds):
                over = {"name": variant, "seed": seed, "data.name": data, "model.name": model,
                        "train.epochs": epochs}  # fmt: skip
                try:
                    cfg = base.with_overrides(over)
                except ConfigError as exc:
                    raise ConfigError(f"variant {variant!r}: {exc}") from None
                jobs.append(Job(variant, cfg, role="final"))
    return jobs


def run_baselines(
    budget: str | BaselineBudget = "quick",
    seeds: int | None = None,
    datasets: Sequence[str] = ("mnist1d", "digits"),
    *,
    base: RunConfig | None = None,
    options: StudyOptions | None = None,
) -> out.StudyResult:
    """Run (or resume) the baselines study; `seeds` overrides the budget's; `base` is the recipe
    (data and model names are the study's); every model is compared with the MLP (REFERENCE);
    `options`: how to run and store it."""
    opts = options or StudyOptions()
    min_effect = opts.min_effect
    check_workers(opts.workers)
    check_effect(min_effect, None)
    b, label, n = resolve_budget(budget, BUDGETS, seeds)
    jobs = baseline_jobs(datasets, n, b.epochs, base)
    store = opts.store or Store()
    plan = [list(datasets), b.epochs] + ([] if base is None else [base.hash()])
    name = opts.name or f"baselines-{label}-{fingerprint(*plan)}"
    config = {"budget": label, "seeds": n, "epochs": b.epochs, "datasets": list(datasets),
              "base": None if base is None else base.model_dump(mode="json"),
              "reference": REFERENCE, "min_effect": min_effect}  # fmt: skip
    study = out.StudyOutput(store, "baselines", name, config)
    study.warn_power(n, sum(len(MODELS[d]) - 1 for d in datasets))
    with live_progress(f"baselines ({label})", opts.progress) as bar:
        outcomes = execute(store, study.id, jobs, opts.workers, bar, opts.record)
    return summarize(store, study, outcomes, list(datasets), b.epochs, min_effect)


def summarize(
    store: Store,
    study: out.StudyOutput,
    outcomes: Sequence[Outcome],
    datasets: list[str],
    epochs: int,
    min_effect: float | None = None,
) -> out.StudyResult:
    variants = [f"{d}/{m}" for d in datasets for m in reversed(MODELS[d])]
    runs = oc.finished(outcomes, variants)
    test = oc.metric(runs, "test_acc")
    summary = Summary("baselines", "Baselines: logreg, MLP, CNN, GRU", verdicts=[])
    rows = []
    for v in variants:
        if not test[v]:
            continue
        s = describe(test[v], [r.seed for r in runs[v]], bounds=UNIT)
        data, model = v.split("/")
        paper = PAPER.get(model) if data == "mnist1d" else None
        secs = [oc.run_seconds(store, r) for r in runs[v]]
        rows.append(
            [data, model, s.n, round(s.mean, 4), _r(s.std), _r(s.ci_low), _r(s.ci_high), paper,
             None if paper is None else round(s.mean - paper, 4),
             runs[v][0].summary.get("params"), round(sum(secs) / len(secs), 2)]
        )  # fmt: skip
    cols = ["data", "model", "n", "test_acc mean", "std", "ci95 low", "ci95 high", "paper"]
    cols += ["mean - paper", "params", "seconds per run"]
    note = (f"{epochs} epochs, adam lr 0.01, cosine, batch 100; paper: Greydanus 2020 (MNIST-1D "
            "only); CI by t over seeds, clipped to [0, 1]; seconds: training + evaluation of the run's "
            "epochs (no worker start-up), they depend on the machine's load")  # fmt: skip
    summary.tables.append(Table("Baselines: test accuracy vs the MNIST-1D paper", cols, rows, note))
    for data in datasets:
        mine = [v for v in variants if v.startswith(f"{data}/")]
        group = {v.split("/")[1]: test[v] for v in mine}
        seeds = {v.split("/")[1]: [r.seed for r in runs[v]] for v in mine}
        summary.tables.append(
            stats_table(f"Baselines on {data}: test accuracy", "test_acc", group, seeds)
        )
    arms = [a for d in datasets for a in oc.arms(
        outcomes, d, [v for v in variants if v.startswith(f"{d}/")], ["test_acc", "val_acc"])]  # fmt: skip
    refs = {d: f"{d}/{REFERENCE}" for d in datasets}
    conclude(summary, arms, refs, [Metric("test_acc")], min_effect=min_effect,
             look=study.look(outcomes))  # fmt: skip
    for row in rows:
        if row[7] is not None:
            summary.text.append(
                f"{row[0]} {row[1]}: test accuracy {row[3]:.3f}"
                + (f" ± {row[4]:.3f}" if row[4] is not None else "")
                + f" over {row[2]} seeds (paper {row[7]:.2f}; difference {row[8]:+.3f})."
            )
    _figures(store, study, runs, test, datasets)
    _time_to_target(summary, study, store, outcomes, datasets, refs)
    summary.data.update({"test_acc": test, "paper": PAPER, "epochs": epochs})
    if len(datasets) > 1:
        add_aggregates(summary, study, [("Baselines", d, {v: xs for v, xs in test.items() if v.startswith(f"{d}/")}, refs[d]) for d in datasets])  # fmt: skip
    return study.finish(summary, outcomes)


def _time_to_target(
    summary: Summary,
    study: out.StudyOutput,
    store: Store,
    outcomes: Sequence[Outcome],
    datasets: list[str],
    refs: dict[str, str],
) -> None:
    """Per dataset, time to its MLP's median final val_acc; over several datasets, the profiles
    of the models that run on every one (the GRU has no digits baseline)."""
    targets = {}
    for data in datasets:
        models = [f"{data}/{m}" for m in reversed(MODELS[data])]
        title = f"Baselines on {data}: time to target"
        reached = target_section(store, outcomes, models, refs[data], None, title)
        if reached is not None:
            summary.tables.append(reached[0])
            targets[data] = reached[1]
    summary.data["time_to_target"] = targets
    if len(datasets) > 1:
        common = [m for m in reversed(MODELS[datasets[0]]) if all(m in MODELS[d] for d in datasets)]
        rows = workload_rows(targets, {d: d for d in datasets})
        left = sorted({m for d in datasets for m in MODELS[d]} - set(common))
        cost = ("the models share the batch size but not the cost of a step, so this counts "
                "updates, not compute" + (f"; left out: {', '.join(left)}, not on every dataset" if left else ""))  # fmt: skip
        kept = {w: {m: r for m, r in mine.items() if m in common} for w, mine in rows.items()}
        add_profiles(summary, study, {"Baselines": kept}, cost)


def _figures(
    store: Store,
    study: out.StudyOutput,
    runs: dict[str, list[RunRecord]],
    test: dict[str, list[float]],
    datasets: list[str],
) -> None:
    panels = {}
    for data in datasets:
        group = {v.split("/")[1]: rs for v, rs in runs.items() if v.startswith(f"{data}/") and rs}
        panels[data] = oc.series(store, group, "val_acc")
    if any(panels.values()):
        fig = plot_bands(panels, "epoch", "validation accuracy (fraction)", "Learning curves")
        study.figure(fig, "learning-curves", "Learning curves", "Validation accuracy per epoch.")
    shown = {v: vals for v, vals in test.items() if vals}
    if shown:
        iv = {v: interval(vals) for v, vals in shown.items()}
        ref = {v: PAPER[v.split("/")[1]] for v in shown if v.startswith("mnist1d/")}
        fig = plot_dots(
            shown,
            "test accuracy (fraction correct)",
            "Test accuracy per model",
            iv,
            ref,
            "MNIST-1D paper",
        )
        study.figure(
            fig,
            "test-acc",
            "Test accuracy per model",
            "Dots are seeds; crosses are the paper's numbers.",
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
