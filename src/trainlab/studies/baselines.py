"""The baselines study: logreg, MLP, CNN and GRU on MNIST-1D (and digits) over seeds, beside the
MNIST-1D paper's published test accuracies, with learning curves, parameter counts and seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Job, Outcome, check_workers, execute
from trainlab.plots.comparisons import plot_dots
from trainlab.plots.curves import plot_bands
from trainlab.studies import output as out
from trainlab.studies.grid import fingerprint
from trainlab.studies.stats import describe, interval, stats_table
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

# Greydanus (2020), "Scaling down deep learning", MNIST-1D test accuracy of each baseline.
PAPER = {"logreg": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}
# The GRU reads sequences, so it has no digits (8x8 image) baseline. Longest first: the pool
# finishes sooner when the slow runs start early.
MODELS = {"mnist1d": ("gru", "cnn", "mlp", "logreg"), "digits": ("cnn", "mlp", "logreg")}


@dataclass(frozen=True)
class BaselineBudget:
    seeds: int
    epochs: int  # the measured defaults (adam 0.01, cosine, batch 100) are for 40 epochs


BUDGETS = {"quick": BaselineBudget(seeds=3, epochs=40), "full": BaselineBudget(seeds=10, epochs=40)}


def baseline_jobs(datasets: Sequence[str], seeds: int, epochs: int) -> list[Job]:
    """Every model of every dataset at seeds 0..seeds-1, on the default recipe."""
    jobs = []
    for data in datasets:
        if data not in MODELS:
            raise ConfigError(f"--datasets {data!r}: choose from {', '.join(MODELS)}")
        for model in MODELS[data]:
            variant = f"{data}/{model}"
            for seed in range(seeds):
                cfg = RunConfig.model_validate(
                    {"name": variant, "seed": seed, "data": {"name": data},
                     "model": {"name": model}, "train": {"epochs": epochs}}
                )  # fmt: skip
                jobs.append(Job(variant, cfg))
    return jobs


def run_baselines(
    budget: str | BaselineBudget = "quick",
    seeds: int | None = None,
    datasets: Sequence[str] = ("mnist1d", "digits"),
    workers: int | None = None,
    store: Store | None = None,
    name: str | None = None,
    progress: bool = True,
    record: int | None = None,  # flight recorder every N steps in each run trained
) -> out.StudyResult:
    """Run (or resume) the baselines study; `seeds` overrides the budget's."""
    check_workers(workers)
    b, label, n = out.resolve_budget(budget, BUDGETS, seeds)
    jobs = baseline_jobs(datasets, n, b.epochs)
    store = store or Store()
    name = name or f"baselines-{label}-{fingerprint(list(datasets), n, b.epochs)}"
    config = {"budget": label, "seeds": n, "epochs": b.epochs, "datasets": list(datasets)}
    study = out.StudyOutput(store, "baselines", name, config)
    with out.live_progress(f"baselines ({label})", progress) as bar:
        outcomes = execute(store, study.id, jobs, workers, bar, record)
    return summarize(store, study, outcomes, list(datasets), b.epochs)


def summarize(
    store: Store,
    study: out.StudyOutput,
    outcomes: Sequence[Outcome],
    datasets: list[str],
    epochs: int,
) -> out.StudyResult:
    variants = [f"{d}/{m}" for d in datasets for m in reversed(MODELS[d])]
    runs = out.finished(outcomes, variants)
    test = out.metric(runs, "test_acc")
    summary = Summary("baselines", "Baselines: logreg, MLP, CNN, GRU", verdicts=[])
    rows = []
    for v in variants:
        if not test[v]:
            continue
        s = describe(test[v], [r.seed for r in runs[v]])
        data, model = v.split("/")
        paper = PAPER.get(model) if data == "mnist1d" else None
        secs = [r.seconds or 0.0 for r in runs[v]]
        rows.append(
            [data, model, s.n, round(s.mean, 4), _r(s.std), _r(s.ci_low), _r(s.ci_high), paper,
             None if paper is None else round(s.mean - paper, 4),
             runs[v][0].summary.get("params"), round(sum(secs) / len(secs), 2)]
        )  # fmt: skip
    cols = ["data", "model", "n", "test_acc mean", "std", "ci95 low", "ci95 high", "paper"]
    cols += ["mean - paper", "params", "seconds per run"]
    note = (f"{epochs} epochs, adam lr 0.01, cosine, batch 100; paper: Greydanus 2020 (MNIST-1D "
            "only); seconds are wall time per run and depend on the machine's load")  # fmt: skip
    summary.tables.append(Table("Baselines: test accuracy vs the MNIST-1D paper", cols, rows, note))
    for data in datasets:
        group = {v.split("/")[1]: test[v] for v in variants if v.startswith(f"{data}/")}
        seeds = {
            v.split("/")[1]: [r.seed for r in runs[v]] for v in variants if v.startswith(f"{data}/")
        }
        table, verdicts = stats_table(
            f"Baselines on {data}: test accuracy", "test_acc", group, seeds
        )
        summary.tables.append(table)
        summary.verdicts += [f"{data}: {v}" for v in verdicts]
    for row in rows:
        if row[7] is not None:
            summary.text.append(
                f"{row[0]} {row[1]}: test accuracy {row[3]:.3f}"
                + (f" ± {row[4]:.3f}" if row[4] is not None else "")
                + f" over {row[2]} seeds (paper {row[7]:.2f}; difference {row[8]:+.3f})."
            )
    _figures(store, study, runs, test, datasets)
    summary.data = {"test_acc": test, "paper": PAPER, "epochs": epochs}
    return study.finish(summary, outcomes)


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
        panels[data] = out.series(store, group, "val_acc")
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
