"""Aggregates over workloads as rliable reports them (Agarwal et al. 2021, "Deep RL at the edge of
the statistical precipice"): per variant the interquartile mean (IQM) of its scores over every
(workload, seed), and its probability of improvement over the reference, each with a
stratified-bootstrap percentile interval. numpy only: rliable itself needs arch, pandas, seaborn."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from trainlab.plots.comparisons import plot_aggregates
from trainlab.studies.output import StudyOutput
from trainlab.track.summary import Summary, Table

RESAMPLES = 2000  # bootstrap resamples per interval
SEED = 0  # the bootstrap's; with the names of what it resamples, so each interval is reproducible
LEVEL = 0.95
Scores = Mapping[str, Sequence[float]]  # workload -> one variant's scores there, one per seed
# One workload of one family: its title, the workload, scores per variant label (`workload/name`
# or plain), and the reference's label.
Cell = tuple[str, str, Mapping[str, Sequence[float]], str]


def iqm_weights(n: int) -> np.ndarray:
    """Weights of n sorted scores in their interquartile mean: the share of each one's 1/n of the
    probability mass that lies between the quartiles, over 1/2; a score straddling a quartile
    counts in part (n = 6: 1/6, 1/3, 1/3, 1/6 on the middle four), so with n a multiple of 4 this
    is the 25% trimmed mean."""
    low = np.arange(n) / n
    inside = np.clip(np.minimum(low + 1 / n, 0.75) - np.maximum(low, 0.25), 0.0, None)
    return inside / 0.5


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """The interquartile mean: the mean of the middle half of the scores."""
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    return float(iqm_weights(x.size) @ x)


def improvement(x: Scores, y: Scores) -> float:
    """P(X > Y): over the workloads, the mean of P(x > y) + ½ P(x = y) over every pair of a seed
    of X and a seed of Y there (the Mann-Whitney U over n·m)."""
    return float(np.mean([_beats(np.asarray(x[w], float), np.asarray(y[w], float)) for w in x]))


def _beats(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) + ½ P(x = y) over the last axis of each: x (..., n), y (..., m) -> (...)."""
    xs, ys = x[..., :, None], y[..., None, :]
    return np.mean((xs > ys) + 0.5 * (xs == ys), axis=(-2, -1))


def rng_for(*names: str, seed: int = SEED) -> np.random.Generator:
    """A generator seeded by `seed` and the names of what it resamples: the same scores give
    the same interval whatever else the study holds."""
    digest = hashlib.sha256("\0".join(names).encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "big")])


def resample(scores: Scores, rng: np.random.Generator, resamples: int = RESAMPLES) -> list[np.ndarray]:  # fmt: skip
    """Stratified bootstrap: per workload (in order), `resamples` draws with replacement of as
    many of its seeds as it has, (resamples, n_w) each."""
    out = []
    for vals in scores.values():
        x = np.asarray(vals, dtype=float)
        out.append(x[rng.integers(0, x.size, size=(resamples, x.size))])
    return out


def percentile(boot: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def iqm_interval(
    scores: Scores, rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The percentile interval of the IQM over stratified resamples of the seeds."""
    pooled = np.sort(np.concatenate(resample(scores, rng, resamples), axis=1), axis=1)
    return percentile(pooled @ iqm_weights(pooled.shape[1]))


def improvement_interval(
    x: Scores, y: Scores, rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The percentile interval of P(X > Y), X's and Y's seeds resampled independently within
    each workload."""
    xb, yb = resample(x, rng, resamples), resample({w: y[w] for w in x}, rng, resamples)
    return percentile(np.mean([_beats(a, b) for a, b in zip(xb, yb, strict=True)], axis=0))


def aggregate(
    family: str,
    variants: Mapping[str, Scores],
    reference: str,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, dict[str, Any]]:
    """Per variant (each with scores on the same workloads): its scores per workload, IQM and
    interval, and (if the reference is among them) P(> reference) and interval."""
    out = {}
    ref = variants.get(reference)
    for v, scores in variants.items():
        row: dict[str, Any] = {"n": {w: len(s) for w, s in scores.items()}, "iqm": iqm(np.concatenate([np.asarray(s, float) for s in scores.values()]))}  # fmt: skip
        row["iqm_ci"] = list(iqm_interval(scores, rng_for(family, v, seed=seed), resamples))
        row["p_improvement"] = row["p_ci"] = None
        if ref is not None and v != reference:
            row["p_improvement"] = improvement(scores, ref)
            rng = rng_for(family, v, "over", reference, seed=seed)
            row["p_ci"] = list(improvement_interval(scores, ref, rng, resamples))
        out[v] = row
    return out


def gather(
    cells: Iterable[Cell],
) -> tuple[dict[str, dict[str, dict[str, list[float]]]], dict[str, str], dict[str, dict[str, str]]]:
    """Per family: scores per variant (plain name) per workload, its reference, and the variants
    left out (with why): those without a score on every one of the family's workloads (the
    stratified bootstrap resamples within each)."""
    raw: dict[str, dict[str, dict[str, list[float]]]] = {}
    refs: dict[str, str] = {}
    workloads: dict[str, list[str]] = {}
    for title, w, scores, ref in cells:
        workloads.setdefault(title, []).append(w)
        refs[title] = ref.removeprefix(f"{w}/")
        for name, vals in scores.items():
            raw.setdefault(title, {}).setdefault(name.removeprefix(f"{w}/"), {})[w] = list(vals)
    kept: dict[str, dict[str, dict[str, list[float]]]] = {}
    left: dict[str, dict[str, str]] = {}
    for title, variants in raw.items():
        for v, by in variants.items():
            absent = [w for w in workloads[title] if w not in by]
            failed = [w for w in workloads[title] if w in by and not by[w]]
            why = [f"not run on {', '.join(absent)}"] * bool(absent)
            why += [f"no finished run on {', '.join(failed)}"] * bool(failed)
            if why:
                left.setdefault(title, {})[v] = "; ".join(why)
            else:
                kept.setdefault(title, {})[v] = {w: by[w] for w in workloads[title]}
    return kept, refs, left


def add_aggregates(
    summary: Summary,
    study: StudyOutput,
    cells: Iterable[Cell],
    metric: str = "test_acc",
    resamples: int = RESAMPLES,
) -> None:
    """Over the workloads of each family (`cells`: one per family and workload): a table per
    family, `data["aggregates"]` and one figure (IQM and P(improvement), with intervals)."""
    families, refs, left = gather(cells)
    results = {t: aggregate(t, vs, refs[t], resamples) for t, vs in families.items()}
    if not results:
        return
    workloads = list(dict.fromkeys(w for vs in families.values() for s in vs.values() for w in s))
    summary.data["aggregates"] = {
        "metric": metric, "workloads": workloads, "resamples": resamples, "seed": SEED,
        "confidence": LEVEL, "interval": "percentile",
        "statistic": "interquartile mean over every (workload, seed) score, fractional weights at the quartiles",
        "scores": "raw, not normalized per workload",
        "improvement": "mean over workloads of P(x > y) + 0.5 P(x = y) over pairs of seeds",
        "bootstrap": "stratified: seeds resampled with replacement within each workload, independently per workload and per variant",
        "families": {t: {"reference": refs[t], "variants": rs, "left_out": left.get(t, {})}
                     for t, rs in results.items()},
    }  # fmt: skip
    for t, rs in results.items():
        summary.tables.append(_table(t, metric, rs, refs[t], left.get(t, {}), resamples))
    panels = {t: (refs[t], {v: (r["iqm"], *r["iqm_ci"]) for v, r in rs.items()},
                  {v: (r["p_improvement"], *r["p_ci"]) for v, r in rs.items() if r["p_ci"]})
              for t, rs in results.items()}  # fmt: skip
    fig = plot_aggregates(panels, metric, f"Aggregates over {len(workloads)} workloads ({', '.join(workloads)})", LEVEL)  # fmt: skip
    study.figure(fig, "aggregates", "Aggregates over workloads",
                 f"Left: the interquartile mean of {metric} over every (workload, seed) score; right: "
                 "the probability that a variant's seed beats the reference's seed on the same "
                 f"workload (0.5: no better nor worse); bars: {LEVEL:.0%} stratified-bootstrap "
                 f"percentile intervals, {resamples} resamples.")  # fmt: skip


def _table(
    title: str,
    metric: str,
    rows: Mapping[str, Mapping[str, Any]],
    reference: str,
    left: Mapping[str, str],
    resamples: int,
) -> Table:
    cells = []
    for v, r in rows.items():
        p, ci = r["p_improvement"], r["p_ci"] or [None, None]
        cells.append([v, "+".join(str(n) for n in r["n"].values()), _r(r["iqm"]), _r(r["iqm_ci"][0]),
                      _r(r["iqm_ci"][1]), _r(p), _r(ci[0]), _r(ci[1])])  # fmt: skip
    cols = ["variant", "scores (seeds per workload)", f"IQM {metric}", "IQM ci95 low",
            "IQM ci95 high", f"P(> {reference})", "P ci95 low", "P ci95 high"]  # fmt: skip
    note = (f"IQM: the mean of the middle half of the variant's {metric} over every (workload, seed) "
            "of finished runs (a score straddling a quartile counts in part); P(> ref): the mean over "
            "workloads of P(x > y) + ½ P(x = y) over every pair of a seed of the variant and one of "
            f"the reference (Mann-Whitney U / nm; blank for the reference itself); {LEVEL:.0%} percentile intervals from {resamples} "
            "stratified-bootstrap resamples (seeds drawn with replacement within each workload, "
            f"independently per workload and per variant; RNG seeded ({SEED}) with the variant's "
            "name, so the report is reproducible), as rliable (Agarwal et al. 2021); scores are raw, "
            "not normalized per workload, so the IQM pools workloads of different difficulty; descriptive, "
            "no multiplicity correction: the verdicts are per workload")  # fmt: skip
    if left:
        note += "; left out: " + "; ".join(f"{v} ({why})" for v, why in left.items())
    return Table(f"{title}: IQM and probability of improvement over workloads", cols, cells, note)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
