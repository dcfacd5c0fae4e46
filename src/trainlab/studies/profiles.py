"""Performance profiles (Dolan & Moré 2002, as AlgoPerf scores training algorithms): per variant,
the share of workloads it reaches within τ times the best variant's time there, τ in [1, τ_max],
and that curve's integral scaled to [0, 1]. Times are plain numbers; ∞ is "never reached"."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.plots.comparisons import plot_profiles
from trainlab.studies.output import StudyOutput
from trainlab.studies.workloads import by_workload
from trainlab.track.summary import Summary, Table

TAU_MAX = 4.0  # AlgoPerf's: a variant 4x slower than the best on a workload earns nothing there
MEASURE = "steps"  # optimizer steps: the same on any machine and load, unlike seconds
Times = Mapping[
    str, Mapping[str, float]
]  # workload -> variant -> time to target (inf: not reached)
SAME_COST = "these variants share model and batch size, so a step costs about the same in each"


def ratios(times: Times) -> dict[str, list[float]]:
    """Per variant, its time over the best variant's time on each workload (in order); ∞ where
    it did not reach, or is missing there. Times must be > 0."""
    variants = list(dict.fromkeys(v for row in times.values() for v in row))
    out: dict[str, list[float]] = {v: [] for v in variants}
    for w, row in times.items():
        if any(not t > 0 for t in row.values()):
            raise ValueError(f"workload {w!r}: times must be > 0 (inf for not reached): {row}")
        best = min(row.values(), default=math.inf)
        for v in variants:
            t = row.get(v, math.inf)
            out[v].append(t / best if math.isfinite(t) else math.inf)
    return out


def rho(r: Sequence[float], tau: float) -> float:
    """ρ(τ): the share of workloads where the ratio to the best is at most τ."""
    return sum(x <= tau for x in r) / len(r)


def score(r: Sequence[float], tau_max: float = TAU_MAX) -> float:
    """(1/(τ_max − 1)) ∫_1^τ_max ρ(τ) dτ, exactly: ρ is a step function rising by 1/W at each
    ratio, so the integral is the mean over workloads of max(0, τ_max − ratio)."""
    return sum(max(0.0, tau_max - x) for x in r) / (len(r) * (tau_max - 1))


def corners(r: Sequence[float], tau_max: float = TAU_MAX) -> tuple[list[float], list[float]]:
    """τ = 1, every ratio up to τ_max, and τ_max, with ρ at each: the whole step function (drawn
    as a step plot with where="post", ρ being right-continuous)."""
    taus = sorted({1.0, tau_max, *(x for x in r if x <= tau_max)})
    return taus, [rho(r, t) for t in taus]


def profile(times: Times, tau_max: float = TAU_MAX) -> dict[str, dict[str, Any]]:
    """Per variant: its integrated score, the workloads it reached, and ρ's corners."""
    out = {}
    for v, r in ratios(times).items():
        tau, rhos = corners(r, tau_max)
        reached = sum(math.isfinite(x) for x in r)
        out[v] = {"score": score(r, tau_max), "reached": reached, "tau": tau, "rho": rhos}
    return out


def median_time(row: Mapping[str, Any], measure: str = MEASURE) -> float:
    """The lower median of `measure` over every planned run of a time-to-target row (target.py),
    ∞ for each run that did not reach: finite when at least half its runs reached, so the
    reference always reaches its own median."""
    xs = sorted(row[measure]["values"]) + [math.inf] * (row["n"] - row["reached"])
    return statistics.median_low(xs) if xs else math.inf


Rows = Mapping[str, Mapping[str, Mapping[str, Any]]]  # workload -> variant -> time-to-target row


def workload_rows(
    targets: Mapping[str, Mapping[str, Any]], families: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per workload, its time-to-target rows by plain variant name, from `targets` (family ->
    {"variants": rows by `workload/variant`}, as in data["time_to_target"]) and `families`
    (family -> its workload); a workload without a target (no reference run finished) has none."""
    return {w: by_workload(targets.get(f, {}).get("variants", {})).get(w, {}) for f, w in families.items()}  # fmt: skip


def add_profiles(
    summary: Summary, study: StudyOutput, families: Mapping[str, Rows], cost: str = SAME_COST
) -> None:
    """Per family (its title -> per workload the time-to-target rows of its variants, by a name
    shared across workloads): a table of scores, `data["performance_profile"]` and one figure
    with a panel per family. Needs 2 or more workloads; `cost` says how a step's cost compares
    between the variants."""
    variants: dict[str, dict[str, Any]] = {}
    panels, tables = {}, []
    for title, rows in families.items():
        times = {w: {v: median_time(row) for v, row in mine.items()} for w, mine in rows.items()}
        prof = profile(times)
        for v, p in prof.items():
            shown = {w: times[w].get(v, math.inf) for w in rows}
            variants[v] = {"family": title, **p,
                           "times": {w: t if math.isfinite(t) else None for w, t in shown.items()}}  # fmt: skip
        if prof:
            panels[title] = {v: (p["tau"], p["rho"], p["score"]) for v, p in prof.items()}
            tables.append(_table(title, {v: variants[v] for v in prof}, list(rows), cost))
    if not variants:  # no workload had a target: nothing to profile
        return
    summary.tables += tables
    workloads = list(dict.fromkeys(w for rows in families.values() for w in rows))
    summary.data["performance_profile"] = {
        "tau_max": TAU_MAX, "measure": MEASURE, "workloads": workloads, "variants": variants,
        "statistic": "lower median over the planned final runs, a run not reaching counting as infinite",
        "integration": "exact integral of the step function over linear tau",
    }  # fmt: skip
    xlabel = f"τ: {MEASURE} to target / the best variant's {MEASURE} on that workload"
    fig = plot_profiles(panels, TAU_MAX, xlabel, f"Performance profiles over {len(workloads)} workloads")  # fmt: skip
    study.figure(fig, "performance_profile", "Performance profiles",
                 f"Share of the workloads ({', '.join(workloads)}) on which a variant reaches the "
                 f"target within τ times the best variant's {MEASURE}; the legend gives each "
                 "variant's integrated score (1 = fastest everywhere).")  # fmt: skip


def _table(
    title: str, variants: Mapping[str, Mapping[str, Any]], workloads: list[str], cost: str
) -> Table:
    rows = [[v, f"{p['reached']} of {len(workloads)}", round(p["score"], 4),
             *(p["times"][w] for w in workloads)] for v, p in variants.items()]  # fmt: skip
    cols = ["variant", "workloads reached", "score", *(f"{MEASURE} on {w}" for w in workloads)]
    note = (f"time on a workload: the lower median of optimizer {MEASURE} to the target over the "
            "planned final runs, a run that does not reach (or diverges, or fails) counting as "
            "infinite, so a variant reaches when at least half its runs do; steps, not seconds, "
            f"because steps are the same on any machine and load ({cost}); checked once per epoch. "
            f"score = (1/(τ_max−1)) ∫_1^τ_max ρ(τ) dτ with τ_max {TAU_MAX:g} (AlgoPerf), ρ(τ) the "
            "share of workloads within τ times the best variant's time, integrated exactly (ρ is a "
            "step function); 1 = fastest on every workload, 0 = never within τ_max of the best")  # fmt: skip
    return Table(f"{title}: performance profile: integrated score", cols, rows, note)
