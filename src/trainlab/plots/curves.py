"""Learning curves over seeds: a mean line with a 95% confidence band per variant, against epochs or
wall time. Pure helpers (align runs on one x grid, mean and band) first, drawing after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats as sps

from trainlab.plots.style import PALETTE, color, new_figure

Run = tuple[Sequence[float], Sequence[float]]  # (x values, y values) of one run
STYLES = ("-", "--", ":")  # after the palette's 8 colours, lines repeat them dashed
LEVEL = 0.95
ACC_RANGE = (0.0, 1.0)
CLIP_NOTE = ", clipped to [0, 1] for accuracies"

# ---- numbers behind the figures -------------------------------------------------------------


def align(runs: Sequence[Run], points: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Runs on one x grid: (x, matrix with one row per run).

    Runs that share their x values (epochs) are cut to the shortest; otherwise (wall time) each is
    interpolated linearly on `points` values over the range every run covers.
    """
    if not runs:
        return np.zeros(0), np.zeros((0, 0))
    xs = [np.asarray(x, dtype=float) for x, _ in runs]
    ys = [np.asarray(y, dtype=float) for _, y in runs]
    length = min(len(x) for x in xs)
    if all(np.array_equal(x[:length], xs[0][:length]) for x in xs):
        return xs[0][:length], np.stack([y[:length] for y in ys])
    lo, hi = max(x[0] for x in xs), min(x[-1] for x in xs)
    if not hi > lo:
        return xs[0][:length], np.stack([y[:length] for y in ys])
    grid = np.linspace(lo, hi, points)
    return grid, np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys, strict=True)])


def mean_band(
    matrix: np.ndarray, log: bool = False, bounds: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over rows and its 95% t-interval at each column; one row gives a zero-width band.

    With `log` (positive values on a log axis, e.g. a loss) the mean and interval are taken of the
    logarithms: the geometric mean with a band that stays positive. With `bounds` (the metric's
    range, e.g. (0, 1) for an accuracy) the band is clipped to it.
    """
    m = np.asarray(matrix, dtype=float)
    if bounds is not None:
        mean, lo, hi = mean_band(m, log)
        return mean, np.clip(lo, *bounds), np.clip(hi, *bounds)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean, lo, hi = mean_band(np.log(m))
        return np.exp(mean), np.exp(lo), np.exp(hi)
    mean = m.mean(axis=0)
    if m.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    t = float(sps.t.ppf(0.5 + LEVEL / 2, m.shape[0] - 1))
    half = t * m.std(axis=0, ddof=1) / math.sqrt(m.shape[0])
    return mean, mean - half, mean + half


# ---- drawing --------------------------------------------------------------------------------


def bounds_of(*labels: str) -> tuple[float, float] | None:
    """The range of a metric named in a panel title or axis label: accuracies (fractions) live
    in [0, 1]; anything else is unbounded here."""
    text = " ".join(labels).lower()
    return ACC_RANGE if "accuracy" in text or "fraction" in text else None


def _band(
    ax: Axes,
    runs: Sequence[Run],
    label: str,
    c: str,
    style: str = "-",
    log: bool = False,
    bounds: tuple[float, float] | None = None,
) -> None:
    x, m = align(runs)
    if m.size == 0:
        return
    mean, lo, hi = mean_band(m, log, bounds)
    ax.plot(x, mean, style, color=c, lw=1.6, label=f"{label} (n={m.shape[0]})")
    if m.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=c, alpha=0.18, lw=0)


def _grid(n: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(max(width * cols, 7.0), height * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_bands(
    panels: Mapping[str, Mapping[str, Sequence[Run]]],
    xlabel: str,
    ylabel: str,
    title: str,
    logy: bool | Sequence[str] = False,
) -> Figure:
    """One axes per panel; per variant the mean over seeds with its 95% CI band. Legends sit
    under their axes, so they never cover a curve. `logy`: all panels, or the named ones, on a log
    axis with the geometric mean and its band."""
    legend_rows = max((_legend_shape(list(v))[1] for v in panels.values()), default=0)
    fig, axes = _grid(len(panels), 4.6, 3.0 + 0.22 * legend_rows)
    for ax, (name, variants) in zip(axes, panels.items(), strict=True):
        log = logy is True or (not isinstance(logy, bool) and name in logy)
        for i, (label, runs) in enumerate(variants.items()):
            style = STYLES[(i // len(PALETTE)) % len(STYLES)]
            _band(ax, runs, label, color(i), style, log, bounds_of(name, ylabel))
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if xlabel == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log:
            ax.set_yscale("log")
        if ax.lines:
            _legend_below(ax)
    how = "geometric mean on log axes" if logy is not False else "mean"
    clipped = CLIP_NOTE if any(bounds_of(name, ylabel) for name in panels) else ""
    fig.suptitle(f"{title}\n{how} over seeds; band: 95% confidence interval{clipped}", fontsize=10)
    return fig


def _legend_shape(labels: Sequence[str]) -> tuple[int, int]:
    """(columns, rows) of a legend under an axes: three columns of short labels, else two."""
    longest = max(map(len, labels), default=0) + 6  # + " (n=3)"
    cols = max(1, min(len(labels), 3 if longest <= 20 else 2))
    return cols, math.ceil(len(labels) / cols)


def _legend_below(ax: Axes) -> None:
    cols, _ = _legend_shape([lb.rsplit(" (n=", 1)[0] for lb in ax.get_legend_handles_labels()[1]])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=cols, frameon=False)


def plot_train_val(
    panels: Mapping[str, tuple[Sequence[Run], Sequence[Run]]],
    ylabel: str,
    title: str,
    train_label: str = "train",
    val_label: str = "validation",
) -> Figure:
    """Small multiples, one per variant: the train and validation curves with their bands."""
    fig, axes = _grid(len(panels), 3.3, 2.6)
    for ax in axes[1:]:
        ax.sharex(axes[0])
        ax.sharey(axes[0])
    for ax, (name, (train, val)) in zip(axes, panels.items(), strict=True):
        _band(ax, train, train_label, color(0), bounds=bounds_of(ylabel))
        _band(ax, val, val_label, color(3), "--", bounds=bounds_of(ylabel))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
    if axes:
        axes[0].legend(loc="lower right")
    clipped = CLIP_NOTE if bounds_of(ylabel) else ""
    fig.suptitle(f"{title}\nmean over seeds; band: 95% confidence interval{clipped}", fontsize=10)
    return fig
