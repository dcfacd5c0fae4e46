"""The optimizers-and-schedules study, fair by construction (DeepOBS / Schmidt et al., scaled down):
every variant gets the same log-spaced learning-rate grid judged on validation accuracy, then runs
n seeds at its own best rate. Tuning curves, convergence vs epoch and wall time, time to a target
validation accuracy and stability (spread, divergences, loss spikes).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Job, Outcome, check_workers, execute
from trainlab.plots.comparisons import plot_dots, plot_tuning
from trainlab.plots.curves import plot_bands
from trainlab.studies import output as out
from trainlab.studies.grid import fingerprint
from trainlab.studies.stats import interval, stats_table
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"optim.name": "sgd"},
    "momentum": {"optim.name": "sgd", "optim.momentum": 0.9},
    "nesterov": {"optim.name": "sgd", "optim.momentum": 0.9, "optim.nesterov": True},
    "adam": {"optim.name": "adam"},
    "adamw": {"optim.name": "adamw", "optim.weight_decay": 0.01},  # torch's default decay
    "rmsprop": {"optim.name": "rmsprop"},
    "adagrad": {"optim.name": "adagrad"},
}
SCHEDULES = ("constant", "step", "cosine", "onecycle", "warmup_cosine")
BASE = {"data": {"name": "mnist1d"}, "model": {"name": "mlp"}, "train": {"batch_size": 100}}
SPIKE = 1.25  # a loss spike: an epoch's train loss above 1.25x the lowest one before it


@dataclass(frozen=True)
class OptimBudget:
    epochs: int
    lrs: tuple[float, ...]  # the tuning grid, the same for every variant
    seeds: int  # final comparison: seeds at each variant's chosen rate
    tuning_seeds: int  # seeds per grid point while tuning


BUDGETS = {
    "quick": OptimBudget(20, (1e-4, 1e-3, 1e-2, 1e-1, 1.0), seeds=3, tuning_seeds=1),
    "full": OptimBudget(40, tuple(10 ** (e / 2) for e in range(-8, 1)), seeds=5, tuning_seeds=2),
}


@dataclass
class Family:
    """Variants that differ in one thing only: the optimizer, or the schedule."""

    key: str  # optimizers | schedules
    title: str
    variants: dict[str, dict[str, Any]]
    chosen: dict[str, float] = field(default_factory=dict)


def families(
    optimizers: Sequence[str], schedules: Sequence[str], schedule: str, optimizer: str, epochs: int
) -> list[Family]:
    """The optimizer comparison (all on `schedule`) and the schedule comparison (all `optimizer`)."""
    for name, allowed, flag in ((optimizers, OPTIMIZERS, "--optimizers"), (schedules, SCHEDULES, "--schedules"),
                                ([optimizer], OPTIMIZERS, "--optimizer"), ([schedule], SCHEDULES, "--schedule")):  # fmt: skip
        for n in name:
            if n not in allowed:
                raise ConfigError(f"{flag} {n!r}: choose from {', '.join(allowed)}")
    if not optimizers and not schedules:
        raise ConfigError("--optimizers and --schedules are both empty; name at least one")
    out_ = []
    if optimizers:
        variants = {o: {**OPTIMIZERS[o], **_schedule(schedule, epochs)} for o in optimizers}
        out_.append(Family("optimizers", f"Optimizers ({schedule} schedule)", variants))
    if schedules:
        variants = {s: {**OPTIMIZERS[optimizer], **_schedule(s, epochs)} for s in schedules}
        out_.append(Family("schedules", f"Schedules ({optimizer})", variants))
    return out_


def _schedule(name: str, epochs: int) -> dict[str, Any]:
    extra = {"schedule.warmup": max(1, epochs // 10)} if name == "warmup_cosine" else {}
    return {"schedule.name": name, **extra}


def _jobs(
    base: RunConfig,
    fams: Sequence[Family],
    lrs: Mapping[str, Sequence[float]],
    seeds: Sequence[int],
) -> list[Job]:
    jobs = []
    for fam in fams:
        for v, over in fam.variants.items():
            for lr in lrs[v]:
                for seed in seeds:
                    cfg = base.with_overrides({**over, "optim.lr": lr, "seed": seed, "name": v})
                    jobs.append(Job(v, cfg))
    return jobs


def run_optimizers(
    budget: str | OptimBudget = "quick",
    seeds: int | None = None,
    optimizers: Sequence[str] = tuple(OPTIMIZERS),
    schedules: Sequence[str] = SCHEDULES,
    schedule: str = "constant",
    optimizer: str = "momentum",
    target: float | None = None,
    workers: int | None = None,
    store: Store | None = None,
    name: str | None = None,
    progress: bool = True,
    record: int | None = None,  # flight recorder every N steps in each run trained
    base: RunConfig | None = None,
) -> out.StudyResult:
    """Tune every variant on the same rate grid, then compare them over seeds at their best rate.

    `schedule` is what the optimizers share; `optimizer` is what the schedules share; `target` is
    the validation accuracy for time-to-target (default: 90% of the best variant's final mean).
    `base` replaces the MLP on mnist1d (its optimizer, rate and schedule are what gets varied).
    """
    check_workers(workers)
    b, label, n = out.resolve_budget(budget, BUDGETS, seeds)
    if target is not None and not 0 < target <= 1:
        raise ConfigError(f"--target {target}: must be a validation accuracy in (0, 1]")
    base = (base or RunConfig.model_validate(BASE)).with_overrides({"train.epochs": b.epochs})
    fams = families(list(optimizers), list(schedules), schedule, optimizer, b.epochs)
    store = store or Store()
    sel = {f.key: list(f.variants) for f in fams}
    name = name or f"optimizers-{label}-{fingerprint(sel, schedule, optimizer, n, base.hash(), b)}"
    config = {"budget": label, "seeds": n, "epochs": b.epochs, "lrs": list(b.lrs), "tuning_seeds": b.tuning_seeds,
              "schedule": schedule, "optimizer": optimizer, **sel, "base": base.model_dump(mode="json")}  # fmt: skip
    study = out.StudyOutput(store, "optimizers", name, config)
    grid = {v: b.lrs for f in fams for v in f.variants}
    tuning_jobs = _jobs(base, fams, grid, range(b.tuning_seeds))
    with out.live_progress(f"optimizers ({label}): tuning", progress) as bar:
        tuning = execute(store, study.id, tuning_jobs, workers, bar, record)
    scores = tuning_scores(tuning)
    for fam in fams:
        fam.chosen = {v: lr for v in fam.variants if (lr := choose(scores.get(v, {}))) is not None}
    best = {v: [lr] for f in fams for v, lr in f.chosen.items()}
    final_jobs = _jobs(base, [_only_chosen(f) for f in fams], best, range(n))
    with out.live_progress(f"optimizers ({label}): {n} seeds at the chosen rates", progress) as bar:
        final = execute(store, study.id, final_jobs, workers, bar, record)
    return summarize(store, study, fams, scores, tuning, final, target, b, n, base)


def _only_chosen(fam: Family) -> Family:
    return Family(
        fam.key, fam.title, {v: o for v, o in fam.variants.items() if v in fam.chosen}, fam.chosen
    )


def tuning_scores(outcomes: Sequence[Outcome]) -> dict[str, dict[float, float | None]]:
    """Per variant and rate: mean final val_acc over the tuning seeds; None if any seed did not
    finish (diverged or failed): an unstable rate is never chosen."""
    vals: dict[str, dict[float, list[float | None]]] = {}
    for o in outcomes:
        v = o.run.summary.get("val_acc") if o.status == "finished" and o.run else None
        vals.setdefault(o.job.variant, {}).setdefault(o.job.config.optim.lr, []).append(v)
    return {var: {lr: _mean_or_none(xs) for lr, xs in by_lr.items()} for var, by_lr in vals.items()}


def _mean_or_none(xs: Sequence[float | None]) -> float | None:
    ok = [x for x in xs if x is not None]
    return sum(ok) / len(ok) if ok and len(ok) == len(xs) else None


def choose(scores: Mapping[float, float | None]) -> float | None:
    """The rate with the best score; ties go to the smaller rate; None if none finished."""
    ok = [(lr, s) for lr, s in scores.items() if s is not None]
    if not ok:
        return None
    return min(ok, key=lambda p: (-p[1], p[0]))[0]


def to_target(
    epochs: Sequence[Mapping[str, float]], target: float
) -> tuple[int, int, float] | None:
    """(epoch, step, wall seconds) when val_acc first reached `target`; None if never."""
    seconds = 0.0
    for e in epochs:
        seconds += e["seconds"]
        if e["val_acc"] >= target:
            return int(e["epoch"]), int(e["step"]), seconds
    return None


def loss_spikes(train_loss: Sequence[float]) -> int:
    """Epochs whose train loss is above SPIKE x the lowest train loss of the epochs before."""
    spikes, low = 0, math.inf
    for loss in train_loss:
        if loss > SPIKE * low:
            spikes += 1
        low = min(low, loss)
    return spikes


def summarize(
    store: Store,
    study: out.StudyOutput,
    fams: Sequence[Family],
    scores: dict[str, dict[float, float | None]],
    tuning: Sequence[Outcome],
    final: Sequence[Outcome],
    target: float | None,
    b: OptimBudget,
    n: int,
    base: RunConfig,
) -> out.StudyResult:
    summary = Summary("optimizers", "Optimizers and learning-rate schedules")
    runs = {f.key: out.finished(final, list(f.chosen)) for f in fams}
    target = target if target is not None else default_target(runs.values())
    rates = ", ".join(f"{lr:g}" for lr in b.lrs)
    summary.text.append(
        f"Protocol: each variant tried the learning rates {rates} ({b.tuning_seeds} seed each, "
        f"{b.epochs} epochs, {base.model.name} on {base.data.name}), judged on final validation "
        f"accuracy; then {n} seeds ran at each one's best rate. Time-to-target uses validation "
        f"accuracy {target:.2f}."
    )
    summary.tables.append(_tuning_table(fams, scores, b.lrs))
    summary.data = {
        "target": target,
        "tuning": {v: {str(k): s for k, s in d.items()} for v, d in scores.items()},
    }
    for fam in fams:
        group = runs[fam.key]
        test = out.metric(group, "test_acc")
        title = f"{fam.title}: test accuracy at the chosen rate"
        table, verdicts = stats_table(title, "test_acc", test, out.seeds(group, "test_acc"))
        summary.tables += [table, _measures(store, fam, group, final, tuning, target)]
        summary.verdicts += verdicts
        if table.rows:
            top, mean, count = table.rows[0][0], table.rows[0][2], table.rows[0][1]
            summary.text.append(
                f"{fam.title}: best on test accuracy is {top} at lr {fam.chosen[top]:g} "
                f"(mean {mean:.3f} over {count} seeds)."
            )
        summary.data[fam.key] = {"chosen": fam.chosen, "test_acc": test}
        _figures(store, study, fam, group, test)
    curves = {
        f.title: {v: (list(b.lrs), [scores.get(v, {}).get(lr) for lr in b.lrs]) for v in f.variants}
        for f in fams
    }
    chosen = {v: lr for f in fams for v, lr in f.chosen.items()}
    fig = plot_tuning(
        curves, chosen, "final validation accuracy (fraction)", "Learning-rate tuning curves"
    )
    study.figure(fig, "tuning-curves", "Learning-rate tuning curves",
                 "Validation accuracy after the last epoch against the learning rate: how "
                 "sensitive each variant is to it.")  # fmt: skip
    return study.finish(summary, [*tuning, *final])


def default_target(groups: Iterable[Mapping[str, Sequence[RunRecord]]]) -> float:
    """90% of the best variant's mean final val_acc, rounded down to 0.01 (0.5 if none)."""
    means = [
        statistics.fmean(r.summary["val_acc"] for r in runs)
        for group in groups
        for runs in group.values()
        if runs
    ]
    return math.floor(0.9 * max(means, default=0.0) * 100) / 100 or 0.5


def _tuning_table(
    fams: Sequence[Family], scores: Mapping[str, Mapping[float, float | None]], lrs: Sequence[float]
) -> Table:
    rows = []
    for fam in fams:
        for v in fam.variants:
            vals = [scores.get(v, {}).get(lr) for lr in lrs]
            chosen = fam.chosen.get(v)
            rows.append(
                [
                    fam.key,
                    v,
                    *(None if x is None else round(x, 4) for x in vals),
                    "" if chosen is None else f"{chosen:g}",
                ]
            )
    cols = ["family", "variant", *(f"lr {lr:g}" for lr in lrs), "chosen lr"]
    return Table(
        "Tuning: final validation accuracy per learning rate",
        cols,
        rows,
        "empty cell: the run diverged or failed",
    )


def _measures(
    store: Store,
    fam: Family,
    group: dict[str, list[RunRecord]],
    final: Sequence[Outcome],
    tuning: Sequence[Outcome],
    target: float,
) -> Table:
    rows = []
    for v, rs in group.items():
        hits, spikes = [], []
        for r in rs:
            epochs = store.epochs(r.id)
            hit = to_target(epochs, target)
            if hit is not None:
                hits.append(hit)
            spikes.append(loss_spikes([e["train_loss"] for e in epochs]))
        mine = out.unique([o for o in final if o.job.variant == v])
        diverged = sum(o.status == "diverged" for o in mine)
        tuned = out.unique([o for o in tuning if o.job.variant == v])
        tuned_div = sum(o.status == "diverged" for o in tuned)
        val = [r.summary["val_acc"] for r in rs]
        best_val = [r.summary["best_val_acc"] for r in rs]
        test = [r.summary["test_acc"] for r in rs]
        rows.append([
            v, f"{fam.chosen[v]:g}", len(rs), _mean(val), _mean(best_val), _mean(test),
            round(statistics.stdev(test), 4) if len(test) > 1 else None,
            f"{len(hits)}/{len(rs)}", *_medians(hits),
            f"{diverged}/{len(mine)}", tuned_div, round(statistics.fmean(spikes), 2) if spikes else None,
        ])  # fmt: skip
    cols = ["variant", "lr", "n", "final val_acc", "best val_acc", "test_acc", "test_acc std"]
    cols += ["reached target", "epochs to target", "steps to target", "seconds to target"]
    cols += ["diverged (final)", "diverged lrs (tuning)", "loss spikes per run"]
    note = (f"target val_acc {target:.2f}; to-target columns are medians over the seeds that reached it; "
            f"wall seconds include evaluation and depend on the machine's load; a "
            f"loss spike is an epoch with train loss above {SPIKE}x the lowest before it")  # fmt: skip
    return Table(f"{fam.title}: speed and stability", cols, rows, note)


def _medians(hits: Sequence[tuple[int, int, float]]) -> list[float | None]:
    if not hits:
        return [None, None, None]
    return [round(statistics.median(h[i] for h in hits), 2) for i in range(3)]


def _mean(xs: Sequence[float]) -> float | None:
    return round(statistics.fmean(xs), 4) if xs else None


def _figures(
    store: Store,
    study: out.StudyOutput,
    fam: Family,
    group: dict[str, list[RunRecord]],
    test: dict[str, list[float]],
) -> None:
    shown = {v: vals for v, vals in test.items() if vals}
    if not shown:
        return
    labels = {v: f"{v} (lr {fam.chosen[v]:g})" for v in shown}
    fig = plot_dots({labels[v]: shown[v] for v in shown}, "test accuracy (fraction correct)", f"{fam.title}: test accuracy at the chosen rate",
                    {labels[v]: interval(shown[v]) for v in shown})  # fmt: skip
    study.figure(fig, f"test-acc-{fam.key}", f"{fam.title}: test accuracy")
    for x, xlabel in (("epoch", "epoch"), ("time", "wall time (s)")):
        panels = {
            "train loss (log scale)": out.series(store, group, "train_loss", x),
            "validation accuracy": out.series(store, group, "val_acc", x),
        }
        fig = plot_bands(
            panels,
            xlabel,
            "value",
            f"{fam.title}: convergence vs {xlabel}",
            logy=["train loss (log scale)"],
        )
        fig.axes[0].set_ylabel("train loss (cross-entropy)")
        fig.axes[1].set_ylabel("validation accuracy (fraction)")
        stem = f"convergence-{fam.key}-{'epoch' if x == 'epoch' else 'time'}"
        study.figure(fig, stem, f"{fam.title}: convergence vs {xlabel}")
