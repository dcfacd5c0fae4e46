"""Comparison figures from plain numbers: per-variant seed values with mean and CI, learning-rate
tuning curves, reliability diagrams, performance profiles and rliable-style aggregates (IQM,
probability of improvement).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from trainlab.plots.style import color, new_figure, wrap_lines

Interval = tuple[float, float, float]  # (mean, low, high)
DASHES = ("-", "--", ":", "-.")  # with the colours, so equal profiles stay told apart


def plot_dots(
    groups: Mapping[str, Sequence[float]],
    xlabel: str,
    title: str,
    intervals: Mapping[str, Interval] | None = None,
    reference: Mapping[str, float] | None = None,
    reference_label: str = "reference",
) -> Figure:
    """One row per variant (top to bottom in the order given): each seed as a dot, the mean as a
    diamond with its interval as a bar, and an optional reference value as a cross."""
    names = list(groups)
    fig = new_figure(6.4, 1.2 + 0.42 * max(1, len(names)))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # the jitter only separates equal dots; fixed for stable files
    for i, name in enumerate(names):
        y = len(names) - 1 - i
        vals = np.asarray(groups[name], dtype=float)
        if vals.size:
            jitter = rng.uniform(-0.12, 0.12, vals.size)
            ax.plot(vals, y + jitter, "o", color=color(0), alpha=0.55, ms=4, lw=0)
            mean, lo, hi = (intervals or {}).get(name, (float(vals.mean()),) * 3)
            ax.errorbar(
                mean, y, xerr=[[mean - lo], [hi - mean]], fmt="D", color="black", ms=5, capsize=3
            )
        if reference and name in reference:
            ax.plot(reference[name], y, "x", color=color(3), ms=9, mew=2)
    ax.set_yticks(range(len(names)), list(reversed(names)))
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0)
    handles = [
        ax.plot([], [], "o", color=color(0), alpha=0.55, ms=4)[0],
        ax.plot([], [], "D", color="black", ms=5)[0],
    ]
    labels = ["one seed", "mean, bar = 95% CI"]
    if reference:
        handles.append(ax.plot([], [], "x", color=color(3), ms=9, mew=2)[0])
        labels.append(reference_label)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    ax.set_title(title)
    return fig


def plot_tuning(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float | None]]]],
    chosen: Mapping[str, float],
    ylabel: str,
    title: str,
    extended: Mapping[str, Sequence[float]] | None = None,
) -> Figure:
    """Per panel, one line per variant of the metric against the learning rate (log axis).

    A None value (the run diverged or failed) is drawn as a cross on the bottom edge; the chosen
    learning rate of each variant is ringed; rates in `extended` (tried beyond the grid to
    bracket the best) are squares. Panels wrap onto rows of two, so the figure stays readable at
    a page's width however many workloads and panels a study has.
    """
    n = len(panels)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = new_figure(5.2 * cols, 4.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax, (name, variants) in zip(axes, panels.items(), strict=False):
        floor = _floor(variants)
        for i, (label, (lrs, values)) in enumerate(variants.items()):
            c = color(i)
            ok = [
                (lr, v)
                for lr, v in zip(lrs, values, strict=True)
                if v is not None and math.isfinite(v)
            ]
            bad = [
                lr for lr, v in zip(lrs, values, strict=True) if v is None or not math.isfinite(v)
            ]
            if ok:
                ax.plot(*zip(*ok, strict=True), "o-", color=c, ms=4, lw=1.4, label=label)
            if bad:
                ax.plot(bad, [floor] * len(bad), "x", color=c, ms=7, mew=2)
            beyond = [(lr, v) for lr, v in ok if lr in set((extended or {}).get(label, ()))]
            if beyond:
                ax.plot(*zip(*beyond, strict=True), "s", color=c, ms=7, mfc="none", mew=1.5)
            if label in chosen:
                pick = dict(ok).get(chosen[label])
                if pick is not None:
                    ax.plot(chosen[label], pick, "o", ms=11, mfc="none", mec=c, mew=1.5)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        if ax.lines:
            ncols = min(len(variants), 4)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=ncols, frameon=False)
    key = "ring: chosen rate; square: beyond the grid (bracketing); x on the bottom edge: diverged or failed"  # fmt: skip
    fig.suptitle(wrap_lines((title, key), 5.2 * cols, 10), fontsize=10)
    return fig


def _floor(variants: Mapping[str, tuple[Sequence[float], Sequence[float | None]]]) -> float:
    vals = [v for _, vs in variants.values() for v in vs if v is not None and math.isfinite(v)]
    return min(vals) if vals else 0.0


def plot_reliability(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    ece: Mapping[str, float],
    title: str,
) -> Figure:
    """Reliability diagrams, one per variant: accuracy per confidence bin against the diagonal.

    Each panel takes `confidence`, `accuracy` and `count` per equal-width bin (bins with no
    sample are not drawn); bars below the diagonal mean over-confidence.
    """
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(3.2 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax, (name, b) in zip(axes, panels.items(), strict=False):
        count = np.asarray(b["count"], dtype=float)
        edges = np.linspace(0, 1, len(count) + 1)
        centers = (edges[:-1] + edges[1:]) / 2
        keep = count > 0
        acc = np.asarray(b["accuracy"], dtype=float)
        conf = np.asarray(b["confidence"], dtype=float)
        width = 1 / len(count)
        # The gap bar spans accuracy..confidence behind the accuracy bar: above the accuracy it
        # shows over-confidence; under-confidence shows as an accuracy bar over the diagonal.
        gap = (conf - acc)[keep]
        ax.bar(centers[keep], gap, bottom=acc[keep], width=width, color=color(3), alpha=0.35,
               edgecolor="none", label="gap to confidence", zorder=1)  # fmt: skip
        ax.bar(centers[keep], acc[keep], width=width, color=color(0), edgecolor="white",
               label="accuracy", zorder=2)  # fmt: skip
        ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}\nECE {ece.get(name, float('nan')):.3f}")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    fig.suptitle(f"{title}\ntest set, seeds pooled; dashed: perfect calibration", fontsize=10)
    return fig


def pool_bins(runs: Sequence[Mapping[str, Sequence[float]]]) -> dict[str, list[float]]:
    """Reliability bins of several runs as one: counts add, confidence and accuracy by count."""
    count = np.sum([np.asarray(r["count"], dtype=float) for r in runs], axis=0)
    safe = np.maximum(count, 1)
    conf = (
        np.sum([np.asarray(r["confidence"]) * np.asarray(r["count"]) for r in runs], axis=0) / safe
    )
    acc = np.sum([np.asarray(r["accuracy"]) * np.asarray(r["count"]) for r in runs], axis=0) / safe
    return {"confidence": conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}


def plot_profiles(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float], float]]],
    tau_max: float,
    xlabel: str,
    title: str,
) -> Figure:
    """Performance profiles, one panel per family: per variant its step function ρ(τ) from the
    corners (τ, ρ) up to `tau_max` (log x), the legend giving its integrated score. Lines that
    coincide stay visible: the earlier ones are drawn wider, and each has its own dash."""
    cols = len(panels)
    longest = max((len(v) for v in panels.values()), default=1)
    fig = new_figure(5.6 * cols, 3.6 + 0.22 * math.ceil(longest / 2))
    axes = fig.subplots(1, cols, squeeze=False, sharey=True)[0]
    for ax, (name, variants) in zip(axes, panels.items(), strict=True):
        n = len(variants)
        for i, (label, (tau, rho, score)) in enumerate(variants.items()):
            ax.step(tau, rho, where="post", color=color(i), ls=DASHES[i % len(DASHES)], alpha=0.85,
                    lw=1.5 + 2.5 * (n - 1 - i) / max(1, n - 1), label=f"{label} (score {score:.2f})")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlim(1, tau_max)
        ticks = [t for t in (1, 1.5, 2, 3, 4, 6, 8) if t <= tau_max]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-0.04, 1.08)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)
    axes[0].set_ylabel("share of workloads within τ of the best")
    fig.suptitle(
        f"{title}\nscore: the area under ρ from 1 to {tau_max:g}, scaled to [0, 1]", fontsize=10
    )
    return fig


def plot_aggregates(
    panels: Mapping[str, tuple[str, Mapping[str, Interval], Mapping[str, Interval]]],
    metric: str,
    title: str,
    level: float = 0.95,
) -> Figure:
    """rliable-style aggregates, a row of two panels per family (its reference, then per variant
    (point, low, high)): the IQM of `metric` with its interval, and P(variant > reference) with
    its interval beside a dashed line at 0.5. Variants read top to bottom in the order given, in
    the same rows on both panels; the reference's row on the right is labelled, not drawn."""
    rows = [max(1, len(iqms)) for _, iqms, _ in panels.values()]
    fig = new_figure(10.0, 0.9 + sum(1.1 + 0.34 * n for n in rows))
    axes = fig.subplots(len(panels), 2, squeeze=False, gridspec_kw={"height_ratios": [n + 2 for n in rows]})  # fmt: skip
    for (left, right), (name, (ref, iqms, probs)) in zip(axes, panels.items(), strict=True):
        names = list(iqms)
        for ax, values in ((left, iqms), (right, probs)):
            for i, v in enumerate(names):
                if v in values:
                    point, low, high = values[v]
                    ax.errorbar(point, len(names) - 1 - i, xerr=[[point - low], [high - point]],
                                fmt="D", color=color(i), ms=5, capsize=3, lw=2)  # fmt: skip
            ax.set_yticks(range(len(names)), list(reversed(names)))
            ax.set_ylim(-0.7, len(names) - 0.3)
            ax.grid(axis="y", alpha=0)
        left.set_xlabel(f"interquartile mean of {metric}")
        left.set_title(f"{name}: IQM")
        right.axvline(0.5, color="gray", ls="--", lw=1)
        right.set_xlim(-0.03, 1.03)  # a little room so a point at 0 or 1 shows whole
        right.set_xlabel(f"P({metric} of the variant > {metric} of {ref})")
        right.set_title(f"P(improvement over {ref})")
        if ref in names:
            right.text(0.52, len(names) - 1 - names.index(ref), "(reference)", va="center",
                       fontsize=8, color="gray")  # fmt: skip
    fig.suptitle(
        f"{title}\nbars: {level:.0%} stratified-bootstrap percentile intervals", fontsize=10
    )
    return fig
