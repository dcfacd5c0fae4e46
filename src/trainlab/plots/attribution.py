"""Attribution figures from plain arrays: example maps per method (images, signals, tokens,
vectors), the share of attribution on decisive tokens vs chance, the cascading randomisation test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainlab.plots.features import as_image
from trainlab.plots.style import color, new_figure

SCALE_NOTE = "each map on its own scale: red +, blue −"


def scaled(a: np.ndarray) -> np.ndarray:
    """`a` divided by its largest |value| (all zeros stay zeros): in [-1, 1]."""
    top = float(np.abs(a).max())
    return a / top if top > 0 else a


def plot_attribution_maps(
    inputs: np.ndarray,
    maps: Mapping[str, np.ndarray],
    kind: str,
    tokens: Sequence[Sequence[str]] | None = None,
    decisive: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> Figure:
    """Rows: the k inputs (k, ...); per method a (k, ...) map over input positions. Images: the
    input then one heatmap per method; signals: the signal with each method's bars; tokens: a
    method × position heatmap per input, `decisive` (k, T) positions in bold red."""
    k = len(inputs)
    labels = list(maps)
    if kind == "image":
        fig = new_figure(1.9 * (1 + len(labels)) + 0.5, 1.9 * k + 0.9)
        axes = fig.subplots(k, 1 + len(labels), squeeze=False)
        for r in range(k):
            img, cmap = as_image(inputs[r])
            axes[r, 0].imshow(img, cmap=cmap)
            axes[r, 0].set_ylabel(classes[r] if r < len(classes) else f"input {r}")
            for c, name in enumerate(labels, start=1):
                axes[r, c].imshow(scaled(maps[name][r]), cmap="RdBu_r", vmin=-1, vmax=1)
                if r == 0:
                    axes[r, c].set_title(name, fontsize=9)
            axes[0, 0].set_title("input (label)", fontsize=9)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    elif kind == "tokens":
        t = next(iter(maps.values())).shape[1]
        fig = new_figure(max(6.0, 0.42 * t + 2.0), (0.32 * len(labels) + 0.9) * k + 0.9)
        axes = fig.subplots(k, 1, squeeze=False)[:, 0]
        for r, ax in enumerate(axes):
            grid = np.stack([scaled(maps[n][r]) for n in labels])  # (methods, T)
            ax.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
            ax.grid(False)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
            names = list(tokens[r]) if tokens is not None else [str(i) for i in range(t)]
            ax.set_xticks(range(t), names, fontsize=8)
            if decisive is not None:
                for i in np.flatnonzero(decisive[r]):
                    tick = ax.get_xticklabels()[i]
                    tick.set_color("#D55E00")
                    tick.set_fontweight("bold")
            ax.set_title(f"input {r}" + (f" (label {classes[r]})" if r < len(classes) else ""),
                         fontsize=8, loc="left")  # fmt: skip
        axes[-1].set_xlabel("token" + (" (decisive in red)" if decisive is not None else ""))
    else:  # signals (k, C, L) and vectors (k, D): bars over the scaled input
        fig = new_figure(3.0 * len(labels) + 0.8, 1.5 * k + 1.0)
        axes = fig.subplots(k, len(labels), squeeze=False, sharex=True)
        for r in range(k):
            x = inputs[r].reshape(-1, inputs[r].shape[-1]) if kind == "signal" else inputs[r][None]
            for c, name in enumerate(labels):
                _bars(axes[r, c], x, scaled(maps[name][r].ravel()))
                if r == 0:
                    axes[r, c].set_title(name, fontsize=9)
            axes[r, 0].set_ylabel(classes[r] if r < len(classes) else f"input {r}", fontsize=8)
        for ax in axes[-1]:
            ax.set_xlabel("position" if kind == "signal" else "feature")
    what = "true label" if classes else "target"
    fig.suptitle(f"Attribution maps of the first test inputs ({what}); {SCALE_NOTE}")
    return fig


def _bars(ax: Axes, x: np.ndarray, a: np.ndarray) -> None:
    pos = np.arange(a.size)
    ax.bar(pos, a, color=np.where(a >= 0, "#D55E00", "#0072B2"), width=0.9)
    for row in x:  # the input, scaled into the same [-1, 1] band, as context
        ax.plot(pos, scaled(row - row.mean()), color="black", lw=0.8, alpha=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.tick_params(labelsize=6)


def plot_decisive_share(labels: Sequence[str], shares: Sequence[float], chance: float) -> Figure:
    """Bars: each method's share of |attribution| on the decisive tokens, against chance."""
    fig = new_figure(max(4.5, 1.2 * len(labels) + 2.5), 3.6)
    ax = fig.subplots()
    x = np.arange(len(labels))
    bars = ax.bar(x, shares, color=[color(i) for i in range(len(labels))], width=0.6)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(chance, color="black", ls="--", lw=1, label=f"chance, uniform maps ({chance:.2f})")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of |attribution| on decisive tokens")
    ax.legend(loc="upper right")
    ax.set_title("Attribution on the decisive tokens vs chance")
    return fig


def plot_randomisation(
    layers: Sequence[str], rho: Mapping[str, Sequence[float]], flag: float
) -> Figure:
    """Spearman rho of each method's maps (trained vs randomised) as layers are re-initialised
    from the top; position 0 is the trained model itself (rho = 1)."""
    fig = new_figure(max(6.5, 0.6 * len(layers) + 2.5), 4.6)
    ax = fig.subplots()
    x = np.arange(len(layers) + 1)
    for i, (name, values) in enumerate(rho.items()):
        y = [1.0, *[np.nan if v is None else v for v in values]]
        ax.plot(x, y, marker="o", color=color(i), label=name)
    ax.axhspan(flag, 1.05, color="#D55E00", alpha=0.08, lw=0)
    ax.axhline(flag, color="#D55E00", ls=":", lw=1, label=f"flag: rho > {flag:g} at the end")
    ax.axhline(0, color="black", lw=0.6)
    names = [n.removeprefix("features.") for n in layers]
    ax.set_xticks(x, ["trained", *names], rotation=35, ha="right", fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.set_xlabel("re-initialised from the top down to (cumulative)")
    ax.set_ylabel("Spearman rho of |maps|\n(trained vs randomised)")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title("Cascading model randomisation (Adebayo et al. 2018)\n"
                 "a map that reflects the model changes as its layers are re-drawn")  # fmt: skip
    return fig
