"""The optimizers-and-schedules study, fair by construction (DeepOBS / Schmidt et al., AlgoPerf,
scaled down): every variant is tuned the same way on validation — a shared learning-rate grid,
bracketed at its edges, or the same quasi-random trials per optimizer — on tuning seeds (1000+),
then runs fresh seeds at its chosen setting. Verdicts against the declared reference (the default
optimizer adam, the default schedule cosine), Holm-corrected; time to the reference's median
validation accuracy; tuning curves; stability (spread, divergences, loss spikes).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.plots.comparisons import plot_dots, plot_tuning
from trainlab.plots.curves import plot_bands
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies import tuning as tn
from trainlab.studies.budget import final_seeds, resolve_budget, tuning_seeds
from trainlab.studies.executor import Job, Outcome, check_workers, execute
from trainlab.studies.grid import check_effect
from trainlab.studies.output import fingerprint
from trainlab.studies.progress import live_progress
from trainlab.studies.stats import interval, stats_table
from trainlab.studies.target import reference_target, target_table, time_to_target, to_target
from trainlab.studies.verdicts import Metric, conclude
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

__all__ = [
    "BUDGETS",
    "OPTIMIZERS",
    "SCHEDULES",
    "OptimBudget",
    "choose",
    "run_optimizers",
    "to_target",
]

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
REFERENCES = {"optimizers": "adam", "schedules": "cosine"}  # the config's defaults, declared first
BASE = {"data": {"name": "mnist1d"}, "model": {"name": "mlp"}, "train": {"batch_size": 100}}
SPIKE = 1.25  # a loss spike: an epoch's train loss above 1.25x the lowest one before it


@dataclass(frozen=True)
class OptimBudget:
    epochs: int
    lrs: tuple[float, ...]  # the tuning grid, the same for every variant
    seeds: int  # final comparison: fresh seeds at each variant's chosen setting
    tuning_seeds: int  # seeds per grid point while tuning (offset by 1000 from the final ones)
    extend: int = (
        1  # bracketing: grid steps added at most, per variant, when the best is at an edge
    )
    trials: int = 0  # quasi-random tuning: trials per variant (0: as many as grid points)


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
    chosen: dict[str, tn.Point] = field(default_factory=dict)  # variant -> chosen point


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
    points: Mapping[str, Sequence[tn.Point]],
    seeds: Sequence[int],
    role: str,
) -> tuple[list[Job], list[tuple[str, int]]]:
    """Every variant at each of its points and seeds, and the (variant, point index) of each."""
    jobs, tags = [], []
    for fam in fams:
        for v, over in fam.variants.items():
            for i, point in enumerate(points.get(v, [])):
                for seed in seeds:
                    extra = {**over, **tn.apply(point, base.train.epochs), "seed": seed, "name": v}
                    jobs.append(Job(v, base.with_overrides(extra), role=role))
                    tags.append((v, i))
    return jobs, tags


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
    tuning: str = "grid",
    min_effect: float | None = None,
) -> out.StudyResult:
    """Tune every variant the same way on validation, then compare them over fresh seeds.

    `schedule` is what the optimizers share; `optimizer` is what the schedules share; `target` is
    the validation accuracy for time-to-target (default: the reference's median final val_acc);
    `tuning` is `grid` (the budget's rates, bracketed) or `quasirandom` (AlgoPerf-style);
    `base` replaces the MLP on mnist1d (its optimizer, rate and schedule are what gets varied).
    """
    check_workers(workers)
    b, label, n = resolve_budget(budget, BUDGETS, seeds)
    check_effect(min_effect, target)
    if tuning not in tn.TUNINGS:
        raise ConfigError(f"--tuning {tuning!r}: choose one of {', '.join(tn.TUNINGS)}")
    base = (base or RunConfig.model_validate(BASE)).with_overrides({"train.epochs": b.epochs})
    fams = families(list(optimizers), list(schedules), schedule, optimizer, b.epochs)
    store = store or Store()
    sel = {f.key: list(f.variants) for f in fams}
    plan = [sel, schedule, optimizer, n, base.hash(), b] + ([tuning] if tuning != "grid" else [])
    name = name or f"optimizers-{label}-{fingerprint(*plan)}"
    config = {"budget": label, "seeds": n, "epochs": b.epochs, "lrs": list(b.lrs), "tuning_seeds": b.tuning_seeds,
              "schedule": schedule, "optimizer": optimizer, **sel, "base": base.model_dump(mode="json"),
              "tuning": tuning, "trials": b.trials, "extend": b.extend, "min_effect": min_effect}  # fmt: skip
    study = out.StudyOutput(store, "optimizers", name, config)
    variants = {v: over for f in fams for v, over in f.variants.items()}
    if tuning == "grid":
        points = {v: tn.grid_points(b.lrs) for v in variants}
    else:
        trials = b.trials or len(b.lrs)
        lr_range = (min(b.lrs), max(b.lrs))
        points = {v: tn.quasirandom_points(over, trials, lr_range, base.seed) for v, over in variants.items()}  # fmt: skip
    t_seeds = tuning_seeds(base.seed, b.tuning_seeds)
    tuning_out, tags = _tune(
        store, study, base, fams, points, t_seeds, workers, record, label, progress
    )
    notes: list[str] = []
    for _ in range(b.extend if tuning == "grid" else 0):  # bracketing, within the budget
        more = _extensions(fams, tn.scores(tuning_out, tags, points), points, b.lrs, notes)
        if not more:
            break
        start = {v: len(points[v]) for v in more}
        for v, p in more.items():
            points[v].append(p)
        extra = {v: points[v][start[v] :] for v in more}
        o2, t2 = _tune(store, study, base, fams, extra, t_seeds, workers, record, label, progress)
        tuning_out += o2
        tags += [(v, i + start[v]) for v, i in t2]
    scores = tn.scores(tuning_out, tags, points)
    for fam in fams:
        fam.chosen = {
            v: pt for v in fam.variants if (pt := tn.choose_point(scores.get(v, []))) is not None
        }
    best = {v: [p] for f in fams for v, p in f.chosen.items()}
    final_jobs, _ = _jobs(
        base, [_only_chosen(f) for f in fams], best, final_seeds(base.seed, n), "final"
    )
    with live_progress(
        f"optimizers ({label}): {n} fresh seeds at the chosen settings", progress
    ) as bar:
        final = execute(store, study.id, final_jobs, workers, bar, record)
    return summarize(
        store, study, fams, scores, tuning_out, final, target, b, n, base, tuning, notes, min_effect
    )


def _tune(
    store: Store, study: out.StudyOutput, base: RunConfig, fams: Sequence[Family],
    points: Mapping[str, Sequence[tn.Point]], seeds: Sequence[int], workers: int | None,
    record: int | None, label: str, progress: bool,
) -> tuple[list[Outcome], list[tuple[str, int]]]:  # fmt: skip
    jobs, tags = _jobs(base, fams, points, seeds, "tuning")
    with live_progress(f"optimizers ({label}): tuning", progress) as bar:
        return execute(store, study.id, jobs, workers, bar, record), tags


def _extensions(
    fams: Sequence[Family],
    scores: Mapping[str, Sequence[tuple[tn.Point, float | None]]],
    points: Mapping[str, Sequence[tn.Point]],
    lrs: Sequence[float],
    notes: list[str],
) -> dict[str, tn.Point]:
    """Variants whose best rate sits on an edge of what they tried: the next rate beyond it."""
    more = {}
    for v in (v for f in fams for v in f.variants):
        best = tn.choose_point(scores.get(v, []))
        if best is None:
            continue
        tried = [p["optim.lr"] for p in points[v]]
        nxt = tn.bracket(best["optim.lr"], tried, tn.step(lrs))
        if nxt is not None and nxt not in tried:
            more[v] = {"optim.lr": float(f"{nxt:.6g}")}
            edge = "top" if nxt > best["optim.lr"] else "bottom"
            notes.append(
                f"{v}: best rate {best['optim.lr']:g} was at the {edge} edge of its grid; tried {nxt:.6g} too"
            )
    return more


def _only_chosen(fam: Family) -> Family:
    return Family(
        fam.key, fam.title, {v: o for v, o in fam.variants.items() if v in fam.chosen}, fam.chosen
    )


def choose(scores: Mapping[float, float | None]) -> float | None:
    """The rate with the best validation score; ties go to the smaller rate; None if none finished."""
    p = tn.choose_point([({"optim.lr": lr}, s) for lr, s in scores.items()])
    return None if p is None else float(p["optim.lr"])


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
    scores: Mapping[str, Sequence[tuple[tn.Point, float | None]]],
    tuning: Sequence[Outcome],
    final: Sequence[Outcome],
    target: float | None,
    b: OptimBudget,
    n: int,
    base: RunConfig,
    how: str = "grid",
    notes: Sequence[str] = (),
    min_effect: float | None = None,
) -> out.StudyResult:
    summary = Summary("optimizers", "Optimizers and learning-rate schedules")
    refs = {f.key: _reference(f) for f in fams}
    if how == "grid":
        rates = ", ".join(f"{lr:g}" for lr in b.lrs)
        ruleset = f"each variant tried the learning rates {rates}, bracketed (up to {b.extend} more step(s) beyond an edge)"
    else:
        ruleset = (f"external tuning (AlgoPerf-style): the same {b.trials or len(b.lrs)} quasi-random trials "
                   "(scrambled Halton, seeded) per variant over log lr, momentum/beta1, weight decay and warm-up where they apply")  # fmt: skip
    summary.text.append(
        f"Protocol: {ruleset} ({b.tuning_seeds} tuning seed(s) from 1000, {b.epochs} epochs, "
        f"{base.model.name} on {base.data.name}), chosen on final validation accuracy; then {n} "
        f"fresh seeds at each one's chosen setting."
    )
    summary.text += [f"Bracketing: {t}." for t in notes]
    summary.tables.append(_tuning_table(fams, scores))
    summary.data = {
        "tuning": {v: {tn.key(p): s for p, s in rows} for v, rows in scores.items()},
        "tuning_rule": how,
        "bracketing": list(notes),
    }
    arms, titles, targets = [], {}, {}
    for fam in fams:
        group = oc.finished(final, list(fam.chosen))
        test = oc.metric(group, "test_acc")
        val = oc.metric(group, "val_acc")
        summary.tables.append(stats_table(f"{fam.title}: final validation accuracy at the chosen setting", "val_acc", val, oc.seeds(group, "val_acc")))  # fmt: skip
        summary.tables.append(stats_table(f"{fam.title}: test accuracy at the chosen setting", "test_acc", test, oc.seeds(group, "test_acc")))  # fmt: skip
        summary.tables.append(_measures(store, fam, group, final, tuning))
        said = (
            "given"
            if target is not None
            else f"median final val_acc of the reference {refs[fam.key]}"
        )
        goal = target if target is not None else reference_target(final, refs[fam.key])
        if goal is not None:
            ttt = time_to_target(store, final, list(fam.chosen), goal)
            summary.tables.append(target_table(f"{fam.title}: time to target", ttt, goal, said))
            targets[fam.key] = {"target": goal, "how": said, "variants": ttt}
        arms += oc.arms(final, fam.key, list(fam.chosen), ["test_acc", "val_acc"])
        titles[fam.key] = fam.title
        summary.data[fam.key] = {"chosen": {v: p["optim.lr"] for v, p in fam.chosen.items()},
                                 "chosen_point": fam.chosen, "test_acc": test, "val_acc": val}  # fmt: skip
        _figures(store, study, fam, group, test)
    summary.data["time_to_target"] = targets
    comp = conclude(summary, arms, refs, [Metric("test_acc")], titles, min_effect)
    for bst in comp["best"]:
        fam = next(f for f in fams if f.key == bst["family"])
        summary.text.append(f"{fam.title}: best on validation accuracy is {bst['variant']} at {tn.key(fam.chosen[bst['variant']])}.")  # fmt: skip
    curves = {f.title: {v: _curve(scores.get(v, [])) for v in f.variants} for f in fams}
    chosen = {v: float(p["optim.lr"]) for f in fams for v, p in f.chosen.items()}
    extended = {v: [p["optim.lr"] for p, _ in rows if p["optim.lr"] not in b.lrs] for v, rows in scores.items()} if how == "grid" else {}  # fmt: skip
    fig = plot_tuning(
        curves,
        chosen,
        "final validation accuracy (fraction)",
        "Learning-rate tuning curves",
        extended,
    )
    study.figure(fig, "tuning-curves", "Learning-rate tuning curves",
                 "Validation accuracy after the last epoch against the learning rate (tuning seeds); "
                 "squares: rates tried beyond the grid to bracket the best.")  # fmt: skip
    return study.finish(summary, [*tuning, *final])


def _reference(fam: Family) -> str:
    """The declared reference of a family: the default (adam, cosine) if present, else the first."""
    want = REFERENCES[fam.key]
    return want if want in fam.variants else next(iter(fam.variants))


def _curve(rows: Sequence[tuple[tn.Point, float | None]]) -> tuple[list[float], list[float | None]]:
    pairs = sorted((float(p["optim.lr"]), s) for p, s in rows)
    return [lr for lr, _ in pairs], [s for _, s in pairs]


def _tuning_table(
    fams: Sequence[Family], scores: Mapping[str, Sequence[tuple[tn.Point, float | None]]]
) -> Table:
    rows = []
    for fam in fams:
        for v in fam.variants:
            chosen = fam.chosen.get(v)
            for p, s in scores.get(v, []):
                mark = "chosen" if chosen is not None and p == chosen else ""
                rows.append(
                    [
                        fam.key,
                        v,
                        tn.key(p),
                        "diverged or failed" if s is None else round(s, 4),
                        mark,
                    ]
                )
    return Table("Tuning: final validation accuracy per setting (tuning seeds)",
                 ["family", "variant", "setting", "val_acc", "chosen"], rows,
                 "mean over the tuning seeds (1000+), never the final ones; a setting where any seed "
                 "diverged or failed is never chosen")  # fmt: skip


def _measures(
    store: Store,
    fam: Family,
    group: dict[str, list[RunRecord]],
    final: Sequence[Outcome],
    tuning: Sequence[Outcome],
) -> Table:
    rows = []
    for v, rs in group.items():
        spikes = [loss_spikes([e["train_loss"] for e in store.epochs(r.id)]) for r in rs]
        mine = oc.unique([o for o in final if o.job.variant == v])
        tuned = oc.unique([o for o in tuning if o.job.variant == v])
        val = [r.summary["val_acc"] for r in rs]
        test = [r.summary["test_acc"] for r in rs]
        rows.append([
            v, tn.key(fam.chosen[v]), f"{len(rs)} of {len(mine)}", _mean(val), _mean(test),
            round(statistics.stdev(test), 4) if len(test) > 1 else None,
            sum(o.status == "diverged" for o in mine), sum(o.status == "diverged" for o in tuned),
            round(statistics.fmean(spikes), 2) if spikes else None,
        ])  # fmt: skip
    cols = ["variant", "setting", "finished", "final val_acc", "test_acc", "test_acc std"]
    cols += ["diverged (final)", "diverged (tuning)", "loss spikes per run"]
    note = f"a loss spike is an epoch with train loss above {SPIKE}x the lowest before it; a variant with fewer finished than planned is unstable"
    return Table(f"{fam.title}: stability", cols, rows, note)


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
    labels = {v: f"{v} ({tn.key(fam.chosen[v])})" for v in shown}
    fig = plot_dots({labels[v]: shown[v] for v in shown}, "test accuracy (fraction correct)", f"{fam.title}: test accuracy at the chosen setting",
                    {labels[v]: interval(shown[v]) for v in shown})  # fmt: skip
    study.figure(fig, f"test-acc-{fam.key}", f"{fam.title}: test accuracy")
    for x, xlabel in (("epoch", "epoch"), ("time", "wall time (s)")):
        panels = {
            "train loss (log scale)": oc.series(store, group, "train_loss", x),
            "validation accuracy": oc.series(store, group, "val_acc", x),
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
