"""Figures of a hyperparameter search from plain trial arrays: history with best-so-far, parallel
coordinates, importances, slices, and the method comparison. Pure helpers first, drawing after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainlab.plots.style import color, new_figure

LINESTYLES = ("-", "--", ":", "-.")
OFF = -0.22  # parallel coordinates: where a conditional field that was off sits, below its axis

# ---- numbers behind the figures -------------------------------------------------------------


def best_so_far(values: Sequence[float | None], maximize: bool = True) -> np.ndarray:
    """Running best of `values` in trial order; NaN until the first trial with a value."""
    out = np.full(len(values), np.nan)
    best = math.nan
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v) and (math.isnan(best) or (v > best) == maximize):
            best = v
        out[i] = best
    return out


def trials_to_reach(
    values: Sequence[float | None], target: float, maximize: bool = True
) -> int | None:
    """How many trials it took until the best so far reached `target` (None: never)."""
    curve = best_so_far(values, maximize)
    hit = curve >= target if maximize else curve <= target
    idx = np.flatnonzero(np.nan_to_num(hit, nan=0.0).astype(bool))
    return int(idx[0]) + 1 if len(idx) else None


def spread(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and interquartile range over repeats (rows) at each trial (column), NaN-aware."""
    with np.errstate(all="ignore"):
        filled = np.where(np.isnan(curves).all(axis=0, keepdims=True), 0.0, curves)
        med, lo, hi = (np.nanpercentile(filled, q, axis=0) for q in (50, 25, 75))
    empty = np.isnan(curves).all(axis=0)
    return np.where(empty, np.nan, med), np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def axis_positions(values: Sequence[Any], log: bool = False) -> tuple[np.ndarray, list[str], bool]:
    """Map one parameter's values to [0, 1] for a shared axis: positions, labels, is-categorical.

    Numbers scale linearly (or by log; labels are min and max); strings and booleans are spread
    evenly in sorted order (labels are the categories). Missing values (a conditional field that
    was off) become NaN.
    """
    present = [v for v in values if v is not None]
    if not present:
        return np.full(len(values), np.nan), [], False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        cats = sorted(set(map(str, present)))
        pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
        return np.array([pos[str(v)] if v is not None else np.nan for v in values]), cats, True
    x = np.array([np.nan if v is None else float(v) for v in values])
    t = np.log10(x) if log else x
    lo, hi = np.nanmin(t), np.nanmax(t)
    scaled = (t - lo) / (hi - lo) if hi > lo else np.where(np.isnan(t), np.nan, 0.5)
    return scaled, [f"{np.nanmin(x):.3g}", f"{np.nanmax(x):.3g}"], False


# ---- drawing ----------------------------------------------------------------------------------


def plot_history(
    values: Sequence[float | None],
    states: Sequence[str],
    metric: str = "val_acc",
    maximize: bool = True,
    pruned_values: Sequence[float | None] | None = None,
) -> Figure:
    """Each trial's value by trial number, pruned trials at their last reported value, best so far."""
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    y = np.array([np.nan if v is None else v for v in values], dtype=float)
    last = np.array([np.nan if v is None else v for v in pruned_values or values], dtype=float)
    n = np.arange(len(values))
    done = np.array([s == "COMPLETE" for s in states]) & ~np.isnan(y)
    ax.scatter(n[done], y[done], s=22, color=color(0), label="complete", zorder=3)
    pruned = np.array([s == "PRUNED" for s in states]) & ~np.isnan(last)
    if pruned.any():
        ax.scatter(
            n[pruned], last[pruned], marker="x", s=22, color="0.55", label="pruned (last epoch)"
        )
    ax.step(
        n, best_so_far(values, maximize), where="post", color=color(3), lw=2, label="best so far"
    )
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({'max' if maximize else 'min'}imise {metric})")
    fig.legend(loc="outside lower center", ncols=3)  # below the axes: never covers a trial
    return fig


def plot_parallel_coordinates(
    params: Mapping[str, Sequence[Any]],
    values: Sequence[float],
    metric: str = "val_acc",
    log_params: Sequence[str] = (),
    maximize: bool = True,
) -> Figure:
    """One line per complete trial across every parameter axis and the metric, coloured by value."""
    names = [*params, metric]
    columns = [axis_positions(params[k], k in log_params) for k in params]
    columns.append(axis_positions(list(values)))
    fig = new_figure(max(6.4, 1.6 * len(names) + 1.5), 4.2)
    ax = fig.add_subplot()
    v = np.asarray(values, dtype=float)
    span = (np.nanmax(v) - np.nanmin(v)) or 1.0
    norm = (v - np.nanmin(v)) / span
    cm = mpl.colormaps["viridis" if maximize else "viridis_r"]
    order = np.argsort(norm if maximize else -norm)  # best lines drawn last, on top
    xs = [float(x) for x in range(len(names))]
    off = any(np.isnan(col[0]).any() for col in columns)
    for i in order:
        ys = [OFF if np.isnan(col[0][i]) else col[0][i] for col in columns]
        ax.plot(xs, ys, color=cm(norm[i]), alpha=0.75, lw=1.2)
    for x, (pos, labels, categorical) in zip(xs, columns, strict=True):
        ax.axvline(x, color="0.3", lw=0.8, zorder=1)
        if np.isnan(pos).any():
            _label(ax, x + 0.04, OFF, "(off)", "left", "center", color="0.4")
        if not categorical and len(labels) == 2 and labels[0] == labels[1]:
            _label(ax, x, 0.5, labels[0], "left", "bottom")  # one value: it sits at the middle
        elif not categorical and labels:
            _label(ax, x, -0.04, labels[0], "center", "top")
            _label(ax, x, 1.04, labels[1], "center", "bottom")
        else:
            for j, lab in enumerate(labels):
                y = j / (len(labels) - 1) if len(labels) > 1 else 0.5
                _label(ax, x + 0.04, y, lab, "left", "center")
    ticks = [_short(k) + (" (log)" if k in log_params else "") for k in names]
    ax.set_xticks(xs, ticks, rotation=15)
    ax.set_yticks([])
    ax.set_ylim(OFF - 0.08 if off else -0.15, 1.15)
    ax.grid(False)
    sm = mpl.cm.ScalarMappable(cmap=cm, norm=mpl.colors.Normalize(np.nanmin(v), np.nanmax(v)))
    fig.colorbar(sm, ax=ax, label=metric, pad=0.01)
    ax.set_title(f"Parallel coordinates of {len(v)} complete trials (low at bottom, high at top)")
    return fig


def plot_importances(importances: Mapping[str, float], evaluator: str = "fANOVA") -> Figure:
    """Horizontal bars: each parameter's share of the explained variance of the objective."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = new_figure(6.4, 1.2 + 0.45 * max(len(items), 1))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color=color(0))
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.18)
    ax.set_xlabel("importance (share, sums to 1)")
    ax.set_title(f"Hyperparameter importance ({evaluator}, complete trials)")
    return fig


def plot_slices(
    params: Mapping[str, Sequence[Any]],
    values: Sequence[float],
    metric: str = "val_acc",
    log_params: Sequence[str] = (),
    numbers: Sequence[int] | None = None,
) -> Figure:
    """One panel per parameter: the metric against the parameter's value, coloured by trial order."""
    names = list(params)
    cols = 2 if len(names) == 4 else min(3, max(len(names), 1))
    rows = math.ceil(len(names) / cols) if names else 1
    fig = new_figure(3.2 * cols + 0.8, 2.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    order = np.asarray(numbers if numbers is not None else range(len(values)), dtype=float)
    norm = mpl.colors.Normalize(order.min(), order.max()) if len(order) else None
    sc = None
    for i, (k, ax) in enumerate(zip(names, axes.flat, strict=False)):
        sc = _slice(ax, params[k], values, order, k in log_params, norm)
        ax.set_xlabel(k)
        if i % cols == 0:
            ax.set_ylabel(metric)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    if sc is not None:
        fig.colorbar(sc, ax=axes, label="trial number", shrink=0.8)
    fig.suptitle(f"{metric} against each hyperparameter (complete trials)")
    return fig


def plot_method_comparison(
    curves: Mapping[str, np.ndarray],
    metric: str = "val_acc",
    maximize: bool = True,
    target: float | None = None,
) -> Figure:
    """Left: best so far vs trials, median and interquartile band over sampler seeds, per method.
    Right: trials each seed needed to reach `target` (hollow at the right edge: never reached)."""
    fig = new_figure(10.0, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1.0])
    budget = max(c.shape[1] for c in curves.values())
    for i, (method, c) in enumerate(curves.items()):
        med, lo, hi = spread(c)
        x = np.arange(1, c.shape[1] + 1)
        style = LINESTYLES[i % len(LINESTYLES)]  # seeded start-up trials: curves can overlap
        label = f"{method} (n={c.shape[0]})"
        left.plot(x, med, color=color(i), lw=2, ls=style, drawstyle="steps-post", label=label)
        left.fill_between(x, lo, hi, color=color(i), alpha=0.18, lw=0, step="post")
    if target is not None:
        left.axhline(target, color="0.2", ls="--", lw=1, label=f"target {target:.4g}")
    left.set_xlabel("trials")
    left.set_ylabel(f"best {metric} so far")
    left.set_title("Best so far: median and interquartile range over seeds")
    fig.legend(loc="outside lower center", ncols=len(curves) + 1)
    if target is not None:
        for i, c in enumerate(curves.values()):
            hits = [trials_to_reach(list(row), target, maximize) for row in c]
            got = [h for h in hits if h is not None]
            jitter = np.linspace(-0.15, 0.15, len(hits)) if len(hits) > 1 else np.zeros(1)
            for j, h in enumerate(hits):
                x_pos, face = (h, color(i)) if h is not None else (budget + 1, "none")
                right.scatter(x_pos, i + jitter[j], s=30, edgecolors=color(i), facecolors=face)
            if got:
                right.plot([np.median(got)] * 2, [i - 0.3, i + 0.3], color=color(i), lw=2.5)
        right.axvline(budget + 0.5, color="0.6", lw=0.8)
        right.text(budget + 1, len(curves) - 0.45, "never", ha="center", fontsize=7, color="0.4")
        right.set_yticks(range(len(curves)), list(curves))
        right.set_ylim(-0.6, len(curves) - 0.3)
        right.set_xlim(0, budget + 2)
        right.set_xlabel("trials to reach target (bar: median)")
        right.set_title(f"Trials to reach {metric} {'≥' if maximize else '≤'} {target:.4g}")
    else:
        right.set_visible(False)
    return fig


def _slice(
    ax: Axes,
    xs: Sequence[Any],
    ys: Sequence[float],
    order: np.ndarray,
    log: bool,
    norm: mpl.colors.Normalize | None,
) -> Any:
    present = [i for i, v in enumerate(xs) if v is not None]
    xv = [xs[i] for i in present]
    yv = [ys[i] for i in present]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xv)
    if numeric:
        pos: Sequence[float] = [float(v) for v in xv]
        if log:
            ax.set_xscale("log")
            if pos and all(isinstance(v, int) for v in xv):
                _powers_of_two(ax, min(pos), max(pos))
    else:
        cats = sorted(set(map(str, xv)))
        rng = np.random.default_rng(0)
        pos = [cats.index(str(v)) + rng.uniform(-0.12, 0.12) for v in xv]
        ax.set_xticks(range(len(cats)), cats)
        ax.set_xlim(-0.5, len(cats) - 0.5)
    c = order[present]
    return ax.scatter(pos, yv, c=c, cmap="viridis", norm=norm, edgecolors="0.3", lw=0.4, s=26)


def _label(ax: Axes, x: float, y: float, text: str, ha: str, va: str, color: str = "0.1") -> None:
    """An axis label drawn over the lines, on a pale box so a line never hides it."""
    box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}
    ax.text(x, y, text, ha=ha, va=va, fontsize=7, color=color, bbox=box, zorder=5)


def _powers_of_two(ax: Axes, low: float, high: float) -> None:
    """Integer log axes (batch size, width) ticked at 32, 64, 128 rather than 4×10¹, 6×10¹."""
    ticks = [2.0**k for k in range(math.floor(math.log2(low)), math.ceil(math.log2(high)) + 1)]
    ticks = [t for t in ticks if low / 1.5 <= t <= high * 1.5]
    if len(ticks) >= 2:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())


def _short(name: str) -> str:
    return name if len(name) <= 22 else "…" + name[-21:]
