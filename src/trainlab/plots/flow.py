"""Residual-flow figures from plain arrays: ‖F(x)‖/‖x‖ and activation size per block, per-layer
gradient norms, gradient ratio vs depth, training curves, lesions, loss-landscape slices and
activation std at initialisation. Series are dicts label -> values, one colour per label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainlab.plots.features import layer_label
from trainlab.plots.style import color, new_figure

LINESTYLES = ("-", "--", ":", "-.")


def plot_block_flow(
    ratios: Mapping[str, Sequence[float]], rms: Mapping[str, Sequence[float]], title: str = ""
) -> Figure:
    """Left: ‖F(x)‖/‖x‖ per block (x = shortcut(x) in a residual block, the block input in a plain
    one). Right: RMS of each block's output vs depth."""
    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    for i, (label, values) in enumerate(ratios.items()):
        left.plot(
            np.arange(1, len(values) + 1), values, marker="o", ms=3, color=color(i), label=label
        )
    for i, (label, values) in enumerate(rms.items()):
        right.plot(
            np.arange(1, len(values) + 1), values, marker="o", ms=3, color=color(i), label=label
        )
    left.set_yscale("log")
    left.set_xlabel("block (input side → output side)")
    left.set_ylabel("‖F(x)‖ / ‖x‖")
    left.set_title("Branch vs skip per block")
    right.set_yscale("log")
    right.set_xlabel("block")
    right.set_ylabel("RMS of block output")
    right.set_title("Activation size vs depth")
    for ax in (left, right):
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "Residual flow")
    return fig


def plot_grad_norms(series: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """‖∂L/∂W‖ per weight layer (first layer left) on a log axis; label -> norms."""
    fig = new_figure(7.5, 4.0)
    ax = fig.subplots()
    for i, (label, norms) in enumerate(series.items()):
        ax.plot(
            np.arange(1, len(norms) + 1),
            norms,
            color=color(i // 2),
            ls=LINESTYLES[i % 2],
            lw=1.4,
            label=label,
        )
    ax.set_yscale("log")
    ax.set_xlabel("weight layer (1 = stem, last = head)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("gradient norm ‖∂L/∂W‖")
    ax.legend(ncols=2)
    ax.set_title(title or "Per-layer gradient norms")
    return fig


def plot_grad_ratio_vs_depth(
    depths: Sequence[int],
    ratios: Mapping[str, Sequence[float]],
    trained: Mapping[str, Mapping[int, float]] | None = None,
    title: str = "",
) -> Figure:
    """‖∂L/∂W_first‖ / ‖∂L/∂W_last‖ against depth, one line per net at initialisation (solid)
    and, where trained, after training (dashed, squares): how much gradient reaches layer 1."""
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    for i, (label, values) in enumerate(ratios.items()):
        ax.plot(depths, values, marker="o", color=color(i), label=f"{label} init")
    for i, (label, by_depth) in enumerate((trained or {}).items()):
        ds = sorted(by_depth)
        vals = [by_depth[d] for d in ds]
        ax.plot(ds, vals, marker="s", ls="--", color=color(i), label=f"{label} trained")
    ax.axhline(1.0, color="black", lw=0.7, ls=":")
    ax.set_yscale("log")
    ax.set_xticks(sorted({*depths, *(d for v in (trained or {}).values() for d in v)}))
    ax.set_xlabel("depth (weight layers)")
    ax.set_ylabel("grad norm first / last layer")
    ax.legend()
    ax.set_title(title or "Gradient reaching the first layer")
    return fig


def plot_training_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Train loss and validation accuracy per epoch; label -> per-epoch metric dicts."""
    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    for i, (label, epochs) in enumerate(histories.items()):
        e = [m["epoch"] for m in epochs]
        style = {"color": color(i // 2), "ls": LINESTYLES[i % 2], "marker": "o", "ms": 3}
        left.plot(e, [m["train_loss"] for m in epochs], label=label, **style)
        right.plot(e, [m["val_acc"] for m in epochs], label=label, **style)
    left.set_yscale("log")
    left.set_ylabel("train loss")
    right.set_ylabel("validation accuracy")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
    fig.suptitle("Training curves")
    return fig


def plot_lesion(rows: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "") -> Figure:
    """Test accuracy with one block removed (x: which), baseline dashed; label -> lesion rows."""
    fig = new_figure(9.0, 3.8)
    ax = fig.subplots()
    n = len(rows)
    width = 0.8 / max(1, n)
    names: list[str] = []
    for i, (label, table) in enumerate(rows.items()):
        base = next(r["acc"] for r in table if r["block"] == "none")
        lesions = [r for r in table if r["block"] != "none"]
        names = names or [layer_label(r["block"]) for r in lesions]
        x = np.arange(len(lesions)) + (i - (n - 1) / 2) * width
        accs = np.array([r["acc"] for r in lesions], dtype=float)
        ax.bar(x, np.nan_to_num(accs), width, color=color(i), label=f"{label} (intact {base:.2f})")
        ax.axhline(base, color=color(i), ls="--", lw=1)
        for xx, a in zip(x, accs, strict=True):
            if np.isnan(a):
                ax.text(xx, 0.02, "n/a", ha="center", fontsize=6, rotation=90)
    ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_xlabel("block removed at test time")
    ax.set_ylabel("test accuracy")
    ax.legend()
    ax.set_title(title or "Lesion study: remove one block (n/a: a plain block that changes shape)")
    return fig


def plot_landscape_1d(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = ""
) -> Figure:
    """Loss along one filter-normalised direction; label -> (alphas, loss)."""
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    for i, (label, (alphas, loss)) in enumerate(curves.items()):
        ax.plot(alphas, loss, color=color(i), marker="o", ms=2.5, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("α (step along the direction, in filter norms)")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title(title or "1-D loss slice (filter-normalised direction)")
    return fig


def plot_landscape_2d(
    surfaces: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str = ""
) -> Figure:
    """Contours of log10 loss on a plane of two directions; label -> (alphas, betas, loss (n, m))."""
    n = len(surfaces)
    fig = new_figure(4.2 * n + 1.0, 3.9)
    axes = fig.subplots(1, n, squeeze=False)[0]
    logs = {k: np.log10(np.maximum(v[2], 1e-8)) for k, v in surfaces.items()}
    lo = min(float(v.min()) for v in logs.values())
    hi = max(float(v.max()) for v in logs.values())
    levels = np.linspace(lo, hi, 16)
    filled = None
    for ax, (label, (alphas, betas, _)) in zip(axes, surfaces.items(), strict=True):
        filled = ax.contourf(alphas, betas, logs[label].T, levels=levels, cmap="viridis")
        ax.contour(alphas, betas, logs[label].T, levels=levels, colors="white", linewidths=0.4)
        ax.plot(0, 0, marker="*", color="red", ms=9)
        ax.set_title(label)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel("α (direction 1)")
        ax.set_ylabel("β (direction 2)")
        ax.grid(False)
    if filled is not None:
        fig.colorbar(filled, ax=axes, label="log10 loss")
    fig.suptitle(title or "2-D loss surface (filter-normalised directions; ★ = trained weights)")
    return fig


def plot_init_std(series: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Activation std per layer at initialisation, label (net + init) -> stds, log axis: a falling
    line vanishes, a rising one explodes. Labels sharing a net share a colour."""
    fig = new_figure(7.0, 3.8)
    ax = fig.subplots()
    nets = list(dict.fromkeys(label.rsplit(" ", 1)[0] for label in series))
    for i, (label, stds) in enumerate(series.items()):
        net = nets.index(label.rsplit(" ", 1)[0])
        ax.plot(
            np.arange(1, len(stds) + 1),
            stds,
            marker="o",
            ms=3,
            color=color(net),
            ls=LINESTYLES[i % 2],
            label=label,
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer (input side → output side)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("activation std at init")
    ax.legend(ncols=2)
    ax.set_title(title or "Signal propagation at initialisation")
    return fig
