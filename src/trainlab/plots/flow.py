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
from trainlab.plots.style import color, log_scale, new_figure

LINESTYLES = ("-", "--", ":", "-.")


def _net_and_state(label: str) -> tuple[str, str]:
    """ "resnet init" -> ("resnet", "init"); a label without a state -> (label, "")."""
    head, _, tail = label.rpartition(" ")
    return (head, tail) if head and tail in ("init", "trained") else (label, "")


def plot_block_flow(
    ratios: Mapping[str, Sequence[float]], rms: Mapping[str, Sequence[float]], title: str = ""
) -> Figure:
    """Left: ‖F(x)‖/‖x‖ per block (x = shortcut(x) in a residual block, the block input in a plain
    one). Right: RMS of each block's output vs depth. Labels "<net> init|trained": one colour per
    net, dashed at initialisation, solid after training."""
    fig = new_figure(10.0, 4.2)
    left, right = fig.subplots(1, 2)
    nets = list(dict.fromkeys(_net_and_state(k)[0] for k in ratios))
    for ax, series in ((left, ratios), (right, rms)):
        for label, values in series.items():
            net, state = _net_and_state(label)
            ax.plot(
                np.arange(1, len(values) + 1),
                values,
                marker="o",
                ms=3,
                color=color(nets.index(net) if net in nets else len(nets)),
                ls="--" if state == "init" else "-",
                label=label,
            )
        log_scale(ax)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("residual block (input side → output side)")
    left.axhline(1.0, color="black", lw=0.7, ls=":")
    left.set_ylabel("‖F(x)‖ / ‖x‖ (branch / skip)")
    left.set_title("Branch vs skip per block (1 = equal size)")
    right.set_ylabel("RMS of the block output")
    right.set_title("Activation size vs depth")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)))
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
    log_scale(ax)
    ax.set_xlabel("weight layer on the main path (1 = stem, last = head)")
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
    log_scale(ax)
    ax.axhline(1.0, color="black", lw=0.7, ls=":")
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
    log_scale(left)
    left.set_ylabel("train loss (cross-entropy)")
    right.set_ylabel("validation accuracy")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle("Training curves")
    return fig


def plot_lesion(rows: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "") -> Figure:
    """Test accuracy with one block removed (x: which), intact accuracy dashed; label -> rows."""
    n = len(rows)
    first = next(iter(rows.values()))
    blocks = [r for r in first if r["block"] != "none"]
    fig = new_figure(max(6.0, 0.45 * n * len(blocks) + 2.5), 4.4)
    ax = fig.subplots()
    width = 0.8 / max(1, n)
    handles = []
    for i, (label, table) in enumerate(rows.items()):
        base = next(r["acc"] for r in table if r["block"] == "none")
        lesions = [r for r in table if r["block"] != "none"]
        x = np.arange(len(lesions)) + (i - (n - 1) / 2) * width
        accs = np.array([r["acc"] for r in lesions], dtype=float)
        bars = ax.bar(x, np.nan_to_num(accs), width, color=color(i), label=f"{label}, one removed")
        line = ax.axhline(
            base, color=color(i), ls="--", lw=1.2, label=f"{label} intact ({base:.2f})"
        )
        handles += [bars, line]
        for xx, a in zip(x, accs, strict=True):
            if np.isnan(a):
                ax.text(xx, 0.02, "n/a", ha="center", fontsize=6, rotation=90)
    ax.set_xticks(
        np.arange(len(blocks)),
        [layer_label(r["block"]) for r in blocks],
        rotation=45,
        ha="right",
        fontsize=7,
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel("block removed at test time (n/a: a plain block that changes shape)")
    ax.set_ylabel("test accuracy")
    fig.legend(handles=handles, loc="outside lower center", ncols=n)
    fig.suptitle(title or "Lesion study: one block removed at a time")
    return fig


def plot_landscape_1d(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = ""
) -> Figure:
    """Loss along one filter-normalised direction; label -> (alphas, loss)."""
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    for i, (label, (alphas, loss)) in enumerate(curves.items()):
        ax.plot(alphas, loss, color=color(i), marker="o", ms=2.5, label=label)
    log_scale(ax)
    ax.set_xlabel("α (step along the direction, in filter norms)")
    ax.set_ylabel("training loss (cross-entropy)")
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
    levels = MaxNLocator(16).tick_values(lo, hi)  # round values: readable colour-bar ticks
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
        fig.colorbar(filled, ax=axes, label="log10 loss (-1: 0.1, 0: 1, 1: 10)")
    fig.suptitle(title or "2-D loss surface (filter-normalised directions; ★ = trained weights)")
    return fig


def plot_init_std(series: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Activation std per layer at initialisation, label "<net> <init>" -> stds, log axis: a
    falling line vanishes, a rising one explodes. One colour per net, one line style per init."""
    fig = new_figure(9.5, 4.2)
    ax = fig.subplots()
    nets = list(dict.fromkeys(label.rsplit(" ", 1)[0] for label in series))
    inits = list(dict.fromkeys(label.rsplit(" ", 1)[-1] for label in series))
    for label, stds in series.items():
        net, init = label.rsplit(" ", 1)
        ax.plot(
            np.arange(1, len(stds) + 1),
            stds,
            marker="o",
            ms=3,
            color=color(nets.index(net)),
            ls=LINESTYLES[inits.index(init) % len(LINESTYLES)],
            label=label,
        )
    log_scale(ax)
    ax.axhline(1.0, color="black", lw=0.7, ls=":")
    ax.set_xlabel("layer (input side → output side)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("activation std at initialisation")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="net and init")
    ax.set_title(title or "Signal propagation at initialisation")
    return fig
