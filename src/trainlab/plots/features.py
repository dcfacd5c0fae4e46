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
    hists: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = ""
) -> Figure:
    """One small histogram per layer (counts on a log axis), zero marked; ranges are each layer's
    own and include negative values (tanh, GELU, residual sums)."""
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
        ax.axvline(0.0, color="black", lw=0.7, ls=":")
        ax.set_title(layer_label(name))
        ax.set_xlabel("activation value")
        ax.set_ylabel("share of values")
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title or "Activation histograms per layer (eval mode)")
    return fig


def plot_layer_stats(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Left: mean ± std per layer. Right: shares near zero, of dead units and of saturated units."""
    labels = [layer_label(r["layer"]) for r in rows]
    x = np.arange(len(rows))
    fig = new_figure(max(7.0, 0.9 * len(rows) + 4.0), 3.8)
    left, right = fig.subplots(1, 2)
    means = np.array([r["mean"] for r in rows])
    stds = np.array([r["std"] for r in rows])
    left.errorbar(x, means, yerr=stds, fmt="o", color=color(0), capsize=3, label="mean ± std")
    left.axhline(0.0, color="black", lw=0.7)
    left.set_ylabel("activation")
    left.set_title("Mean ± std per layer")
    left.legend()
    width = 0.27
    for k, (key, label) in enumerate(
        [("near_zero", "values near 0"), ("dead", "dead units"), ("saturated", "saturated units")]
    ):
        vals = np.nan_to_num(np.array([r[key] for r in rows], dtype=float), nan=0.0)
        right.bar(x + (k - 1) * width, vals, width, color=color(k + 1), label=label)
    right.set_ylim(0, 1)
    right.set_ylabel("share")
    right.set_title("Dead / saturated (saturated: bounded activations only)")
    right.legend()
    for ax in (left, right):
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_xlabel("layer")
    fig.suptitle(title or "Per-layer activation statistics")
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
    if (maps.ndim == 3 and unit_axis != 1) or maps.ndim == 2:
        return _unit_heatmaps(maps, layer, tokens)
    idx = top_channels(maps, channels)
    cols = 1 + len(idx)
    fig = new_figure(1.35 * cols + 1.2, 1.25 * k + 0.9)
    axes = fig.subplots(k, cols, squeeze=False, sharex="col" if maps.ndim == 3 else False)
    shown = maps[:, idx]
    vmin, vmax = float(shown.min()), float(shown.max())
    image = None
    for r in range(k):
        _draw_input(axes[r, 0], inputs[r])
        for c, ch in enumerate(idx, start=1):
            ax = axes[r, c]
            if maps.ndim == 4:
                image = ax.imshow(maps[r, ch], cmap="viridis", vmin=vmin, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            else:
                ax.plot(maps[r, ch], color=color(0), lw=1.0)
                ax.set_ylim(vmin, vmax)
                ax.tick_params(labelsize=6)
                if c > 1:
                    ax.set_yticklabels([])
            if r == 0:
                ax.set_title(f"ch {ch}", fontsize=8)
        axes[r, 0].set_ylabel(f"input {r}", fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="activation")
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
    else:
        ax.plot(x, color="black", lw=1.0)


def _unit_heatmaps(maps: np.ndarray, layer: str, tokens: Sequence[Sequence[str]] | None) -> Figure:
    if maps.ndim == 2:  # (k, F): one row per input
        fig = new_figure(7.0, 1.0 + 0.45 * len(maps))
        ax = fig.subplots()
        im = ax.imshow(
            maps, aspect="auto", cmap="RdBu_r", vmin=-np.abs(maps).max(), vmax=np.abs(maps).max()
        )
        ax.set_yticks(range(len(maps)), [f"input {i}" for i in range(len(maps))])
        ax.set_xlabel("unit")
        ax.grid(False)
        fig.colorbar(im, ax=ax, label="activation")
        fig.suptitle(f"Unit activations of {layer_label(layer)}")
        return fig
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
