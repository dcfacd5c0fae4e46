"""The optimizers study's Summary: protocol, tuning table and curves, per-family tables of
validation and test accuracy, stability and time to target, the verdicts against the
reference, and over several workloads the performance profiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trainlab.config import RunConfig
from trainlab.execute import Outcome
from trainlab.plots.comparisons import plot_dots, plot_tuning
from trainlab.plots.curves import plot_bands
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies import tuning as tn
from trainlab.studies.aggregates import add_aggregates
from trainlab.studies.profiles import add_profiles, workload_rows
from trainlab.studies.stats import interval, stats_table
from trainlab.studies.time_to_target import target_section
from trainlab.studies.verdicts import Metric, conclude
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

if TYPE_CHECKING:
    from trainlab.studies.optimizers import Family, OptimBudget

REFERENCES = {"optimizers": "adam", "schedules": "cosine"}  # the config's defaults, declared first
SPIKE = 1.25  # a loss spike: an epoch's train loss above 1.25x the lowest one before it


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
    workloads: Sequence[str] = (),
) -> out.StudyResult:
    summary = Summary("optimizers", "Optimizers and learning-rate schedules")
    refs = {f.key: _reference(f) for f in fams}
    if how == "grid":
        rates = ", ".join(f"{lr:g}" for lr in b.lrs)
        ruleset = f"each variant tried the learning rates {rates}, bracketed (up to {b.extend} more step(s) beyond an edge)"
    else:
        ruleset = (f"external tuning (AlgoPerf-style): the same {b.trials or len(b.lrs)} quasi-random trials "
                   "(scrambled Halton, seeded) per variant over log lr, momentum/beta1, weight decay and warm-up where they apply")  # fmt: skip
    on = base.data.name if len(workloads) < 2 else f"each of {', '.join(workloads)}"
    summary.text.append(
        f"Protocol: {ruleset} ({b.tuning_seeds} tuning seed(s) from 1000, {b.epochs} epochs, "
        f"{base.model.name} on {on}), chosen on final validation accuracy; then {n} "
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
        title = f"{fam.title}: time to target"
        reached = target_section(store, final, list(fam.chosen), refs[fam.key], target, title)
        if reached is not None:
            summary.tables.append(reached[0])
            targets[fam.key] = reached[1]
        arms += oc.arms(final, fam.key, list(fam.chosen), ["test_acc", "val_acc"])
        titles[fam.key] = fam.title
        summary.data[fam.key] = {"chosen": {v: p["optim.lr"] for v, p in fam.chosen.items()},
                                 "chosen_point": fam.chosen, "test_acc": test, "val_acc": val}  # fmt: skip
        _figures(store, study, fam, group, test)
    summary.data["time_to_target"] = targets
    picked = {f.key: {v: sc for v, p in f.chosen.items()
                      for q, sc in scores.get(v, []) if q == p and sc is not None} for f in fams}  # fmt: skip
    comp = conclude(summary, arms, refs, [Metric("test_acc")], titles, min_effect,
                    chosen=picked, look=study.look(final))  # fmt: skip
    for bst in comp["best"]:
        fam = next(f for f in fams if f.key == bst["family"])
        summary.text.append(f"{fam.title}: best on validation accuracy (its tuning seeds) is {bst['variant']} at {tn.key(fam.chosen[bst['variant']])}.")  # fmt: skip
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
    if len(workloads) > 1:
        add_profiles(summary, study, _profile_rows(fams, targets))
        add_aggregates(summary, study, [(f.title.removeprefix(f"{f.workload}: "), f.workload, summary.data[f.key]["test_acc"], refs[f.key]) for f in fams])  # fmt: skip
    return study.finish(summary, [*tuning, *final])


def _profile_rows(
    fams: Sequence[Family], targets: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per kind of family, by its title without the workload: per workload the time-to-target
    rows by plain variant name."""
    titles = {f.kind: f.title.removeprefix(f"{f.workload}: ") for f in fams}
    return {title: workload_rows(targets, {f.key: f.workload for f in fams if f.kind == kind})
            for kind, title in titles.items()}  # fmt: skip


def _reference(fam: Family) -> str:
    """The declared reference of a family: the default (adam, cosine) if present, else the first."""
    want = f"{fam.workload}/{REFERENCES[fam.kind]}" if fam.workload else REFERENCES[fam.kind]
    return want if want in fam.variants else next(iter(fam.variants))


def _curve(rows: Sequence[tuple[tn.Point, float | None]]) -> tuple[list[float], list[float | None]]:
    pairs = sorted((float(p["optim.lr"]), s) for p, s in rows)
    return [lr for lr, _ in pairs], [s for _, s in pairs]


def _score(value: float | None, none: str = "diverged") -> float | str:
    return none if value is None else round(value, 4)


def _tuning_table(
    fams: Sequence[Family], scores: Mapping[str, Sequence[tuple[tn.Point, float | None]]]
) -> Table:
    """Tuning scores per variant and setting. Learning-rate grids read as one row per variant,
    one column per rate (how sensitive each is to its rate, at a glance); other points (quasi-
    random trials over several fields) one row per trial."""
    title = "Tuning: final validation accuracy per setting (tuning seeds)"
    why = ("mean over the tuning seeds (1000+), never the final ones; a setting where any seed "
           "diverged or failed is never chosen")  # fmt: skip
    variants = [(fam, v) for fam in fams for v in fam.variants]
    points = [p for _, v in variants for p, _ in scores.get(v, [])]
    if points and all(set(p) == {"optim.lr"} for p in points):
        lrs = sorted({float(p["optim.lr"]) for p in points})
        rows = []
        for fam, v in variants:
            got = {float(p["optim.lr"]): s for p, s in scores.get(v, [])}
            cells = [_score(got[lr]) if lr in got else None for lr in lrs]
            chosen = fam.chosen.get(v)
            rows.append([fam.key, v, *cells, None if chosen is None else chosen["optim.lr"]])
        cols = ["family", "variant", *[f"lr={lr:g}" for lr in lrs], "chosen lr"]
        note = f"one column per learning rate tried (blank: not tried for that variant); {why}"
        return Table(title, cols, rows, note)
    rows = []
    for fam, v in variants:
        chosen = fam.chosen.get(v)
        for p, s in scores.get(v, []):
            mark = "chosen" if chosen is not None and p == chosen else ""
            rows.append([fam.key, v, tn.key(p), _score(s, "diverged or failed"), mark])
    return Table(title, ["family", "variant", "setting", "val_acc", "chosen"], rows, why)


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
    study.figure(fig, f"test-acc-{fam.stem}", f"{fam.title}: test accuracy")
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
        stem = f"convergence-{fam.stem}-{'epoch' if x == 'epoch' else 'time'}"
        study.figure(fig, stem, f"{fam.title}: convergence vs {xlabel}")
