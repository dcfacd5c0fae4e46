"""Feature figures from plain arrays: per-layer activation histograms, per-layer statistics, and
feature-map grids (channels × a few inputs, input beside them; 1-D as lines, 2-D as images).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from trainlab.plots.style import color, new_figure

# ---- numbers behind the figures -------------------------------------------------------------


def layer_label(name: str, keep: int = 2) -> str:
    """The last `keep` dotted parts of a module name: features.stage1.block2 -> stage1.block2."""
    return ".".join(name.split(".")[-keep:]) if name else "(model)"


def top_channels(maps: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` channels (axis 1) with the largest mean square over the kept inputs."""
    energy = (maps.astype(np.float64) ** 2).mean(axis=tuple(d for d in range(maps.ndim) if d != 1))
    return np.sort(np.argsort(-energy, kind="stable")[:n])


def as_image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """One input (C, H, W) -> something imshow takes: (H, W) grey, or (H, W, 3) RGB in [0, 1]."""
    if x.shape[0] == 1:
        return x[0], "gray"
    rgb = np.moveaxis(x[:3], 0, -1)
    lo, hi = rgb.min(), rgb.max()
    return (rgb - lo) / (hi - lo if hi > lo else 1.0), None


def token_labels(tokens: Sequence[str], length: int) -> list[str]:
    """Row labels for `length` positions: the tokens, after "[CLS]" for any extra leading ones."""
    extra = max(0, length - len(tokens))
    return ["[CLS]"] * extra + list(tokens)[:length]


# ---- drawing ----------------------------------------------------------------------------------


def plot_activation_histograms(
    hists: Mapping[str, tuple[np.ndarray, np.ndarray]],
    title: str = "",
    kinds: Mapping[str, str] | None = None,
) -> Figure:
    """One small histogram per layer (counts on a log axis), zero marked; ranges are each layer's
    own and include negative values (tanh, GELU, residual sums). `kinds`: layer -> module class,
    shown in the panel titles."""
    names = list(hists)
    cols = min(4, len(names)) or 1
    rows = max(1, math.ceil(len(names) / cols))
    fig = new_figure(3.2 * cols, 2.4 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        counts, edges = hists[name]
        share = counts / max(1, counts.sum())
        ax.stairs(share, edges, fill=True, color=color(i % 8), alpha=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())  # ~50 unlabelled minor ticks per panel: slow
        ax.axvline(0.0, color="black", lw=0.7, ls=":")
        kind = (kinds or {}).get(name)
        ax.set_title(layer_label(name) + (f" ({kind})" if kind else ""), fontsize=9)
        ax.set_xlabel("activation value")
        ax.set_ylabel("share of values")
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title or "Activation histograms per layer (eval mode)")
    return fig


def plot_layer_stats(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Left: mean ± std per layer. Right: shares near zero, of dead units and of saturated units."""
    labels = [
        f"{layer_label(r['layer'])}\n{r['kind']}" if "kind" in r else layer_label(r["layer"])
        for r in rows
    ]
    x = np.arange(len(rows))
    fig = new_figure(max(8.0, 1.2 * len(rows) + 4.0), 4.2)
    left, right = fig.subplots(1, 2)
    means = np.array([r["mean"] for r in rows])
    stds = np.array([r["std"] for r in rows])
    left.errorbar(x, means, yerr=stds, fmt="o", color=color(0), capsize=3, label="mean ± std")
    left.axhline(0.0, color="black", lw=0.7)
    left.set_ylabel("activation value")
    left.set_title("Mean ± std per layer")
    left.legend()
    width = 0.27
    for k, (key, label) in enumerate(
        [("near_zero", "values near 0"), ("dead", "dead units"), ("saturated", "saturated units")]
    ):
        vals = np.nan_to_num(np.array([r[key] for r in rows], dtype=float), nan=0.0)
        right.bar(x + (k - 1) * width, vals, width, color=color(k + 1), label=label)
    right.set_ylim(0, 1)
    right.set_ylabel("share (0..1)")
    right.set_title("Near-zero values, dead and saturated units")
    right.legend(loc="upper right")
    for ax in (left, right):
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_xlabel("layer")
    fig.suptitle(title or "Per-layer activation statistics")
    fig.supxlabel(
        "dead unit: near 0 on >= 99% of its values; saturated unit: the same at the bounds of "
        "tanh / sigmoid (0 for unbounded activations: no bound to saturate at)",
        fontsize=7,
        color="0.35",
    )
    return fig


def plot_feature_maps(
    inputs: np.ndarray,
    maps: np.ndarray,
    layer: str,
    unit_axis: int = 1,
    channels: int = 8,
    tokens: Sequence[Sequence[str]] | None = None,
) -> Figure:
    """Rows: a few inputs; first column the input, then the layer's strongest channels.

    maps (k, C, H, W): images on one colour scale; (k, C, L) with unit_axis 1: line plots;
    (k, T, D) tokens: a token × unit heatmap per input (`tokens` label the rows); (k, F): units.
    """
    k = len(maps)
    if maps.ndim == 2:
        return _vector_maps(inputs, maps, layer)
    if maps.ndim == 3 and unit_axis != 1:
        return _unit_heatmaps(maps, layer, tokens)
    idx = top_channels(maps, channels)
    cols = 1 + len(idx)
    fig = new_figure(1.35 * cols + 1.2, 1.25 * k + 0.9)
    axes = fig.subplots(k, cols, squeeze=False)
    shown = maps[:, idx]
    vmin, vmax = float(shown.min()), float(shown.max())
    cmap = "viridis"
    if vmin < 0 < vmax:  # signed maps (residual sums, tanh): a diverging scale centred on 0
        cmap, vmax = "RdBu_r", max(-vmin, vmax)
        vmin = -vmax
    image = None
    for r in range(k):
        _draw_input(axes[r, 0], inputs[r])
        for c, ch in enumerate(idx, start=1):
            ax = axes[r, c]
            if maps.ndim == 4:
                image = ax.imshow(maps[r, ch], cmap=cmap, vmin=vmin, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            else:
                ax.plot(maps[r, ch], color=color(0), lw=1.0)
                ax.set_ylim(vmin, vmax)
                ax.tick_params(labelsize=6)
                # One scale for every panel, labelled once per row and column: ticks on all
                # k x channels panels were most of the figure's drawing time (PNG and SVG).
                if c > 1:
                    ax.yaxis.set_major_locator(NullLocator())
                if r < k - 1:
                    ax.xaxis.set_major_locator(NullLocator())
            if r == 0:
                ax.set_title(f"ch {ch}", fontsize=8)
        axes[r, 0].set_ylabel(f"input {r}", fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="activation")
    else:  # 1-D: lines of activation vs position
        axes[-1, 0].set_xlabel("position", fontsize=7)
        for ax in axes[-1, 1:]:
            ax.set_xlabel("position", fontsize=7)
        fig.supylabel("activation (input column: signal value)", fontsize=8)
    what = "strongest channels" if len(idx) < maps.shape[1] else "channels"
    fig.suptitle(f"Feature maps of {layer_label(layer)}: {what} ({len(idx)} of {maps.shape[1]})")
    return fig


def _draw_input(ax: Axes, x: np.ndarray) -> None:
    if x.ndim == 3:
        img, cmap = as_image(x)
        ax.imshow(img, cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    elif x.ndim == 2:  # (C, L) signal
        for c in range(x.shape[0]):
            ax.plot(x[c], color="black", lw=1.0)
        ax.tick_params(labelsize=6)
    elif x.size <= 16:  # a few features (2-D toy data): one bar each
        ax.bar(np.arange(x.size), x.ravel(), color="black")
        ax.tick_params(labelsize=6)
    else:
        ax.plot(x.ravel(), color="black", lw=1.0)
        ax.tick_params(labelsize=6)


def _vector_maps(inputs: np.ndarray, maps: np.ndarray, layer: str) -> Figure:
    """(k, F) units: per input row, the input, then its F unit activations as one strip."""
    k = len(maps)
    fig = new_figure(9.0, 1.1 * k + 1.0)
    axes = fig.subplots(k, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 4]})
    lim = float(np.abs(maps).max()) or 1.0
    image = None
    for r in range(k):
        _draw_input(axes[r, 0], inputs[r])
        axes[r, 0].set_ylabel(f"input {r}", fontsize=8)
        ax = axes[r, 1]
        image = ax.imshow(maps[r : r + 1], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_yticks([])
        ax.grid(False)
        if r < k - 1:
            ax.set_xticklabels([])
    axes[0, 0].set_title("input", fontsize=8)
    axes[0, 1].set_title(f"{maps.shape[1]} units", fontsize=8)
    axes[-1, 1].set_xlabel("unit")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 1], label="activation", shrink=0.9)
    fig.suptitle(f"Unit activations of {layer_label(layer)} (input beside each row)")
    return fig


def _unit_heatmaps(maps: np.ndarray, layer: str, tokens: Sequence[Sequence[str]] | None) -> Figure:
    k = len(maps)
    fig = new_figure(3.2 * k + 1.0, 0.22 * maps.shape[1] + 1.6)
    axes = fig.subplots(1, k, squeeze=False)[0]
    lim = float(np.abs(maps).max()) or 1.0
    image = None
    for i, ax in enumerate(axes):
        image = ax.imshow(maps[i], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xlabel("unit")
        ax.set_title(f"input {i}")
        ax.grid(False)
        if tokens is not None and i < len(tokens):
            labels = token_labels(tokens[i], maps.shape[1])
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
        else:
            ax.set_ylabel("position")
    if image is not None:
        fig.colorbar(image, ax=axes, label="activation", shrink=0.85)
    fig.suptitle(f"Token × unit activations of {layer_label(layer)}")
    return fig
