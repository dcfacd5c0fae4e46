"""CKA figures: layer x layer heatmaps (within a net, between nets, over epochs) and the CKA of
each layer across the seeds of one variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from trainlab.plots.features import layer_label
from trainlab.plots.style import color, new_figure

Panel = tuple[np.ndarray, Sequence[str], Sequence[str]]  # (rows, cols) CKA, row and column labels


def plot_cka_heatmaps(panels: Mapping[str, Panel], title: str = "", xlabel: str = "") -> Figure:
    """One CKA heatmap per panel, title -> (matrix (rows, cols), row labels, column labels), on
    one colour scale from 0 to 1; rows run input side (top) to output side."""
    n = len(panels)
    size = max(max(len(r), len(c)) for _, r, c in panels.values())
    side = min(6.0, max(3.4, 0.28 * size + 1.6))
    fig = new_figure(side * n + 1.2, side + 0.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    image = None
    for ax, (name, (m, rows, cols)) in zip(axes, panels.items(), strict=True):
        image = ax.imshow(m, vmin=0.0, vmax=1.0, cmap="magma", aspect="auto")
        ax.set_yticks(range(len(rows)), [layer_label(r) for r in rows], fontsize=7)
        ax.set_xticks(range(len(cols)), [layer_label(c) for c in cols], fontsize=7, rotation=90)
        ax.set_title(name, fontsize=9)
        ax.grid(False)
        if len(rows) * len(cols) <= 64:  # small enough to print the numbers in the cells
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if v > 0.6 else "white")  # fmt: skip
        if xlabel:
            ax.set_xlabel(xlabel)
    if image is not None:
        fig.colorbar(image, ax=axes, label="linear CKA (1 = same representation)", shrink=0.85)
    fig.suptitle(title or "Linear CKA between layers")
    return fig


def plot_seed_similarity(
    series: Mapping[str, tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
    title: str = "",
) -> Figure:
    """CKA of each layer with the same layer of another seed: label -> (layers, mean, min, max)
    over the pairs of seeds; the band is the range over pairs."""
    fig = new_figure(7.5, 4.0)
    ax = fig.subplots()
    names: Sequence[str] = []
    for i, (label, (layers, mean, low, high)) in enumerate(series.items()):
        x = np.arange(len(layers))
        ax.plot(x, mean, color=color(i), marker="o", ms=3.5, label=label)
        ax.fill_between(x, low, high, color=color(i), alpha=0.2, lw=0)
        names = layers if len(layers) > len(names) else names
    ax.set_xticks(range(len(names)), [layer_label(n) for n in names], rotation=60, fontsize=7)
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    ax.set_xlabel("layer (input side → output side)")
    ax.set_ylabel("CKA, same layer, two seeds")
    ax.legend(title="mean over pairs; band: min–max")
    ax.set_title(title or "Do the seeds learn the same features? CKA per layer across seeds")
    return fig
