"""Flight-recorder figures from plain arrays: each statistic vs step per layer, and the activation
histogram over time (fastai's "colorful dimension"). Numbers first, drawing after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from trainlab.plots.features import layer_label
from trainlab.plots.style import color, log_scale, new_figure

STAT_LABELS = {
    "act_mean": ("activation mean", False),
    "act_std": ("activation std", True),
    "act_near_zero": ("share near 0 (|a| < 0.01 × layer RMS)", False),
    "grad_norm": ("gradient norm ‖∂L/∂W‖", True),
    "weight_norm": ("weight norm ‖W‖", True),
    "update_ratio": ("update / weight ‖ΔW‖/‖W‖", True),
}  # statistic -> (axis label, log scale)

# ---- numbers behind the figures -------------------------------------------------------------


def histogram_over_time(
    counts: np.ndarray, low: np.ndarray, high: np.ndarray, bins: int = 80
) -> tuple[np.ndarray, float, float]:
    """Put every step's histogram (own range) on one common value grid.

    counts (S, b), low/high (S,) -> (image (bins, S) of the share of values per cell, lo, hi).
    Each old bin's count is spread evenly over its interval (the CDF is interpolated at the new
    edges), so no gaps appear where the grids don't line up; steps with no data stay 0.
    """
    ok = np.isfinite(low) & np.isfinite(high) & (counts.sum(1) > 0)
    if not ok.any():
        return np.zeros((bins, len(counts))), 0.0, 1.0
    lo, hi = float(low[ok].min()), float(high[ok].max())
    edges = np.linspace(lo, hi, bins + 1)
    image = np.zeros((bins, len(counts)))
    for s in np.flatnonzero(ok):
        old_edges = np.linspace(low[s], high[s], counts.shape[1] + 1)
        cdf = np.concatenate([[0.0], np.cumsum(counts[s])]) / counts[s].sum()
        image[:, s] = np.diff(np.interp(edges, old_edges, cdf))
    return image, lo, hi


# ---- drawing ----------------------------------------------------------------------------------


def plot_recorder_stats(
    steps: np.ndarray, layers: Sequence[str], stats: Mapping[str, np.ndarray], title: str = ""
) -> Figure:
    """One panel per statistic (STAT_LABELS), one line per layer, x = optimizer step."""
    names = [k for k in STAT_LABELS if k in stats]
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = new_figure(4.0 * cols, 2.9 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        label, log = STAT_LABELS[name]
        values = stats[name]
        for j, layer in enumerate(layers):
            ax.plot(steps, values[:, j], color=color(j), lw=1.3, label=layer_label(layer))
        positive = values[np.isfinite(values) & (values > 0)]
        if log and positive.size:
            log_scale(ax, float(positive.min()), float(positive.max()))
        ax.set_title(label)
        ax.set_xlabel("optimizer step")
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(len(layers), 6), title="layer"
    )
    fig.suptitle(title or "Flight recorder: per-layer statistics during training")
    fig.text(
        0.01, 0.995, "activations read before dropout (its mask is not counted); "
        "near zero = |a| < 0.01 × the layer's RMS in that step",
        fontsize=7, color="0.35", va="top",
    )  # fmt: skip
    return fig


def plot_colorful_dimension(
    steps: np.ndarray,
    layers: Sequence[str],
    counts: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    title: str = "",
) -> Figure:
    """Per layer, the activation histogram (y) over training steps (x), log colour scale; a
    healthy layer shows a smooth band, a collapsing one a bright line at zero."""
    n = len(layers)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(4.2 * cols, 2.8 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    mappable = None
    for j, (ax, layer) in enumerate(zip(axes.flat, layers, strict=False)):
        image, lo, hi = histogram_over_time(counts[:, j], low[:, j], high[:, j])
        # Each column is centred on its step; a lone record gets a column one interval wide.
        half = float(np.median(np.diff(steps))) / 2 if len(steps) > 1 else 0.5
        extent = (float(steps[0]) - half, float(steps[-1]) + half, lo, hi)
        positive = image[image > 0]
        vmin = max(float(positive.min()), 1e-5) if positive.size else 1e-5
        mappable = ax.imshow(
            np.maximum(image, vmin),  # empty cells take the darkest colour, not a white gap
            origin="lower",
            aspect="auto",
            extent=extent,
            cmap="viridis",
            norm=LogNorm(vmin=vmin, vmax=1.0),
            interpolation="nearest",
        )
        ax.axhline(0.0, color="white", lw=0.6, ls=":")
        ax.set_title(layer_label(layer))
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("activation value")
        ax.grid(False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label="share of values (log)", shrink=0.9)
    fig.suptitle(title or "Activation histograms over training (the 'colorful dimension')")
    fig.text(0.01, 0.995, "activations read before dropout", fontsize=7, color="0.35", va="top")
    return fig
