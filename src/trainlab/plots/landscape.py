"""Loss landscape along a training trajectory: the loss on the plane of the trajectory's first two
PCA directions (or two random ones) with the saved epochs drawn on it, and sharpness per epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainlab.plots.style import color, log_scale, new_figure

# title -> (alphas (n,), betas (m,), loss (n, m), path (epochs, 2), axis labels (x, y))
Plane = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, str]]


def plot_trajectory_planes(planes: Mapping[str, Plane], title: str = "") -> Figure:
    """Contours of log10 training loss on each net's plane, the saved epochs as a numbered path
    ending at the final weights (★, the origin)."""
    n = len(planes)
    fig = new_figure(4.6 * n + 1.0, 4.3)
    axes = fig.subplots(1, n, squeeze=False)[0]
    logs = {k: np.log10(np.maximum(v[2], 1e-8)) for k, v in planes.items()}
    lo = min(float(v.min()) for v in logs.values())
    hi = max(float(v.max()) for v in logs.values())
    levels = MaxNLocator(16).tick_values(lo, hi)
    filled = None
    for ax, (label, (alphas, betas, _, path, (xl, yl))) in zip(axes, planes.items(), strict=True):
        filled = ax.contourf(alphas, betas, logs[label].T, levels=levels, cmap="viridis")
        ax.contour(alphas, betas, logs[label].T, levels=levels, colors="white", linewidths=0.4)
        ax.plot(path[:, 0], path[:, 1], color="white", lw=1.6, marker="o", ms=4, mfc="red")
        for k, (a, b) in enumerate(path[:-1], start=1):
            ax.annotate(str(k), (a, b), textcoords="offset points", xytext=(4, 4),
                        color="white", fontsize=7)  # fmt: skip
        ax.plot(0, 0, marker="*", color="red", ms=11, mec="white")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(False)
    if filled is not None:
        fig.colorbar(filled, ax=axes, label="log10 training loss (-1: 0.1, 0: 1, 1: 10)")
    fig.suptitle(title or "Loss on the trajectory plane; numbers: epochs, ★ = final weights")
    return fig


def plot_sharpness(
    series: Mapping[str, tuple[Sequence[int], Sequence[float]]], title: str = ""
) -> Figure:
    """Top Hessian eigenvalue of the training loss per saved epoch; label -> (epochs, values)."""
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    for i, (label, (epochs, values)) in enumerate(series.items()):
        ax.plot(epochs, values, color=color(i), marker="o", ms=4, label=label)
    log_scale(ax)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Hessian eigenvalue of largest |λ|")
    ax.legend()
    ax.set_title(title or "Sharpness over training (fixed batch of training data)")
    return fig
