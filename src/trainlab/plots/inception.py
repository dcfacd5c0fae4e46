"""Inception figures from plain arrays: branch output maps side by side, the concatenated channel
layout, each branch's share of activation energy per block, and the shares over training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from trainlab.plots.features import layer_label, top_channels
from trainlab.plots.style import color, new_figure


def plot_branch_maps(
    x: np.ndarray, branches: Mapping[str, np.ndarray], block: str, channels: int = 4
) -> Figure:
    """Column 0: the input (one sample, (C, *S)); then one column per branch (label -> (c, *S)),
    its `channels` strongest maps stacked down, on one colour scale (1-D maps as lines)."""
    two_d = next(iter(branches.values())).ndim == 3
    cols, rows = 1 + len(branches), channels
    fig = new_figure(2.0 * cols + (0.8 if two_d else 0.0), 1.55 * rows + 0.9)
    axes = fig.subplots(rows, cols, squeeze=False)
    picks = {k: top_channels(v[None], channels) for k, v in branches.items()}
    shown = np.concatenate([branches[k][picks[k]].ravel() for k in branches])
    vmin, vmax = float(shown.min()), float(shown.max())
    image = None
    for r in range(rows):
        for c, (label, maps) in enumerate(branches.items(), start=1):
            ax = axes[r, c]
            if r >= len(picks[label]):
                ax.set_visible(False)
                continue
            ch = int(picks[label][r])
            if two_d:
                image = ax.imshow(maps[ch], cmap="viridis", vmin=vmin, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            else:
                ax.plot(maps[ch], color=color(c - 1), lw=1.0)
                ax.set_ylim(vmin, vmax)
                ax.tick_params(labelsize=6)
            ax.text(
                0.02,
                0.98,
                f"ch {ch}",
                transform=ax.transAxes,
                va="top",
                fontsize=6,
                color="white" if two_d else "black",
            )
            if r == 0:
                ax.set_title(f"{label}\n({maps.shape[0]} ch)", fontsize=9)
    for r in range(rows):
        axes[r, 0].set_visible(r == 0)
    ax0 = axes[0, 0]
    if x.ndim == 3:
        ax0.imshow(x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1), cmap="gray")
        ax0.set_xticks([])
        ax0.set_yticks([])
        ax0.grid(False)
    else:
        ax0.plot(x.reshape(-1, x.shape[-1]).T, color="black", lw=1.0)
        ax0.tick_params(labelsize=6)
    ax0.set_title("input", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.7, label="activation")
    fig.suptitle(f"Branch outputs of {layer_label(block)} for one input (strongest channels)")
    return fig


def plot_channel_layout(energy: np.ndarray, slices: Mapping[str, slice], block: str) -> Figure:
    """Mean squared activation of each output channel in concatenation order, coloured by the
    branch that produced it: the block's output is the four branches side by side."""
    fig = new_figure(7.5, 3.2)
    ax = fig.subplots()
    for i, (label, sl) in enumerate(slices.items()):
        idx = np.arange(sl.start, sl.stop)
        ax.bar(idx, energy[idx], width=1.0, color=color(i), label=f"{label} [{sl.start}:{sl.stop}]")
    ax.set_xlim(-0.5, len(energy) - 0.5)
    ax.set_xlabel("output channel (concatenated)")
    ax.set_ylabel("mean squared activation")
    ax.legend(title="branch [channels]", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Channel layout of {layer_label(block)}")
    return fig


def plot_branch_shares(
    blocks: Sequence[str],
    shares: np.ndarray,
    branches: Sequence[str],
    title: str = "",
    channel_shares: np.ndarray | None = None,
) -> Figure:
    """Stacked bars: each branch's share of each block's activation energy (rows of (N, 4));
    black ticks mark where the bars would split if every channel carried equal energy
    (`channel_shares`, (N, 4) shares of the channels)."""
    fig = new_figure(7.0, 1.8 + 0.55 * len(blocks))
    ax = fig.subplots()
    left = np.zeros(len(blocks))
    y = np.arange(len(blocks))
    for i, label in enumerate(branches):
        ax.barh(y, shares[:, i], left=left, color=color(i), label=label)
        for yy, (lo, w) in enumerate(zip(left, shares[:, i], strict=True)):
            if w > 0.06:
                ax.text(
                    lo + w / 2, yy, f"{w:.0%}", ha="center", va="center", fontsize=7, color="white"
                )
        left += shares[:, i]
    if channel_shares is not None:
        cuts = np.cumsum(channel_shares, axis=1)[:, :-1]
        for yy, row in enumerate(cuts):
            ax.vlines(row, yy - 0.45, yy + 0.45, color="black", lw=1.5)
        ax.plot([], [], color="black", lw=1.5, label="split by channel count")
    ax.set_yticks(y, [layer_label(b) for b in blocks])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of activation energy Σ out²")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, ncols=3, loc="outside lower center")
    fig.suptitle(title or "Branch shares of activation energy per Inception block")
    return fig


def plot_shares_over_training(
    epochs: np.ndarray, shares: Mapping[str, np.ndarray], branches: Sequence[str]
) -> Figure:
    """One panel per block: each branch's energy share (E, 4) vs epoch (0 = after one step)."""
    n = len(shares)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = new_figure(3.8 * cols, 2.8 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (block, s) in zip(axes.flat, shares.items(), strict=False):
        for i, label in enumerate(branches):
            ax.plot(epochs, s[:, i], marker="o", ms=3, color=color(i), label=label)
        ax.set_ylim(0, 1)
        ax.set_title(layer_label(block))
        ax.set_xlabel("epoch (0 = initialisation)")
        ax.set_ylabel("energy share")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(branches))
    fig.suptitle("Branch energy shares over training")
    return fig
