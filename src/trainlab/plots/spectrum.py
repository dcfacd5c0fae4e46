"""Weight-spectrum figures from plain arrays: each layer's ESD with its fitted power-law tail,
alpha per layer and alpha over training, against the 2-6 band (a rule of thumb, not a verdict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from trainlab.plots.features import layer_label
from trainlab.plots.style import color, new_figure

BAND_LABEL = "2-6: typical of well-trained layers (Martin & Mahoney)"


def tail_density(x: np.ndarray, alpha: float, xmin: float, share: float) -> np.ndarray:
    """The fitted power law's density at `x` ≥ xmin, scaled by the tail's `share` of all
    eigenvalues so it sits on the whole ESD's density: share·(alpha-1)/xmin·(x/xmin)^-alpha."""
    return share * (alpha - 1.0) / xmin * (x / xmin) ** -alpha


def plot_esd(
    names: Sequence[str],
    evals: Sequence[np.ndarray],
    fits: Sequence[tuple[float, float, int] | None],
    notes: Sequence[str],
) -> Figure:
    """One log-log panel per layer: the eigenvalue density over log-spaced bins and, where fitted
    ((alpha, xmin, n_tail)), the power-law tail from xmin; unfitted layers say why."""
    n = len(names)
    cols = min(4, max(1, n))
    rows = math.ceil(n / cols)
    fig = new_figure(3.0 * cols + 0.4, 2.5 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax, name, ev, fit, note in zip(axes, names, evals, fits, notes, strict=False):
        _esd_panel(ax, name, ev, fit, note)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Empirical spectral density of WᵀW / N per layer (log-log), fitted tail in red")
    return fig


def _esd_panel(
    ax: Axes, name: str, ev: np.ndarray, fit: tuple[float, float, int] | None, note: str
) -> None:
    ax.set_title(layer_label(name), fontsize=9)
    ev = ev[ev > 0]
    if len(ev) < 2 or ev.max() <= ev.min():
        ax.text(0.5, 0.5, note or "no spread", ha="center", va="center", transform=ax.transAxes)
        return
    edges = np.geomspace(ev.min(), ev.max(), min(40, max(5, len(ev) // 3)) + 1)
    counts, _ = np.histogram(ev, edges)
    density = counts / (len(ev) * np.diff(edges))
    mids = np.sqrt(edges[1:] * edges[:-1])
    keep = density > 0
    ax.plot(mids[keep], density[keep], marker=".", color="black", lw=0.8, label="ESD")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # minor labels (2×10⁻³ ...) collide on short log axes
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("eigenvalue λ", fontsize=8)
    ax.tick_params(labelsize=7)
    if fit is not None:
        alpha, xmin, n_tail = fit
        x = np.geomspace(xmin, ev.max(), 30)
        ax.plot(x, tail_density(x, alpha, xmin, n_tail / len(ev)), color="#D55E00", lw=1.6,
                label=f"alpha = {alpha:.2f}")  # fmt: skip
        ax.axvline(xmin, color="#D55E00", ls=":", lw=0.8)
        ax.legend(fontsize=7, loc="lower left")
    if note:
        ax.text(0.98, 0.96, note, ha="right", va="top", fontsize=7, transform=ax.transAxes,
                color="#D55E00" if fit is None else "black", wrap=True)  # fmt: skip


def _band(ax: Axes, band: tuple[float, float]) -> None:
    ax.axhspan(band[0], band[1], color="#009E73", alpha=0.12, lw=0, label=BAND_LABEL)
    ax.text(1.0, band[0], " < 2: over-fit?", transform=ax.get_yaxis_transform(), fontsize=7,
            va="top", ha="right", color="#555555")  # fmt: skip
    ax.text(1.0, band[1], " > 6: under-trained?", transform=ax.get_yaxis_transform(),
            fontsize=7, va="bottom", ha="right", color="#555555")  # fmt: skip


def plot_alphas(names: Sequence[str], alphas: Sequence[float], band: tuple[float, float]) -> Figure:
    """alpha per layer (in model order) against the band; layers too small to fit marked ×."""
    fig = new_figure(max(6.5, 0.8 * len(names) + 2.5), 4.4)
    ax = fig.subplots()
    x = np.arange(len(names))
    a = np.asarray(alphas, dtype=float)
    ok = np.isfinite(a)
    _band(ax, band)
    ax.plot(x[ok], a[ok], "o", color="#0072B2", ms=7, label="fitted alpha")
    for i in np.flatnonzero(ok):
        ax.annotate(f"{a[i]:.2f}", (x[i], a[i]), textcoords="offset points", xytext=(6, 3),
                    fontsize=7)  # fmt: skip
    top = max([band[1] + 1.0, *(a[ok] + 0.5)])
    if (~ok).any():
        ax.plot(x[~ok], np.full((~ok).sum(), 0.4), "x", color="#D55E00", ms=8,
                label="too small to fit")  # fmt: skip
    ax.set_ylim(0, top)
    ax.set_xticks(x, [layer_label(n) for n in names], rotation=30, ha="right")
    ax.set_ylabel("power-law exponent alpha")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    ax.set_title("Tail exponent alpha of each weight layer's ESD")
    return fig


def plot_alpha_track(
    epochs: np.ndarray, series: Mapping[str, np.ndarray], band: tuple[float, float]
) -> Figure:
    """alpha of each fitted layer after each epoch, against the band."""
    fig = new_figure(7.0, 4.4)
    ax = fig.subplots()
    _band(ax, band)
    shown = {n: s for n, s in series.items() if np.isfinite(s).any()}
    for i, (name, s) in enumerate(shown.items()):
        ax.plot(epochs, s, marker="o", ms=4, color=color(i), label=layer_label(name))
    values = np.concatenate([s[np.isfinite(s)] for s in shown.values()]) if shown else np.zeros(0)
    ax.set_ylim(0, max([band[1] + 1.0, *(values + 0.5)]))
    ax.set_xlabel("epoch")
    ax.set_ylabel("alpha")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    skipped = len(series) - len(shown)
    note = f" ({skipped} layer(s) too small to fit)" if skipped else ""
    ax.set_title(f"alpha per layer over training{note}")
    return fig
