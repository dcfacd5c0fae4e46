"""Attention figures from plain arrays: per-layer, per-head token × token maps, class-token (or
patch) attention over an image's patch grid, rollout, per-head entropy and decisive-token mass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from trainlab.plots.features import as_image, layer_label, token_labels
from trainlab.plots.style import color, new_figure


def upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour blow-up of a (gh, gw) patch grid to an (H, W) image."""
    gh, gw = grid.shape
    return np.kron(grid, np.ones((size[0] // gh, size[1] // gw)))


def plot_attention_grid(
    layers: Sequence[str],
    weights: Sequence[np.ndarray],
    tokens: Sequence[str] | None = None,
    title: str | None = None,
    highlight: Sequence[int] = (),
) -> Figure:
    """Rows: layers; columns: heads. Each cell is one input's (T, S) map, query rows × key
    columns. Each layer has its own 0..max colour scale and colour bar (a nearly uniform layer
    would be black on a shared one), the uniform weight 1/S marked on it; `tokens` label both
    axes ([CLS] added if needed), the positions in `highlight` (decisive tokens) in bold red."""
    heads = max(w.shape[0] for w in weights)
    t, s = weights[0].shape[-2], weights[0].shape[-1]
    cell = min(2.8, max(1.8, 0.17 * s))
    fig = new_figure(cell * heads + 1.8, (cell + 0.5) * len(layers) + 1.2)  # + tick labels
    axes = fig.subplots(len(layers), heads, squeeze=False)
    labels = token_labels(tokens, s) if tokens is not None else None
    for r, (name, w) in enumerate(zip(layers, weights, strict=True)):
        vmax = max(float(w.max()), 1.0 / s)
        image = None
        for h in range(heads):
            ax = axes[r, h]
            ax.grid(False)
            if h >= w.shape[0]:
                ax.set_visible(False)
                continue
            image = ax.imshow(w[h], cmap="magma", vmin=0.0, vmax=vmax)
            if labels is not None and s <= 40:
                ax.set_xticks(range(s), labels, rotation=90, fontsize=6)
                ax.set_yticks(range(t), labels[:t], fontsize=6)
                for i in highlight:
                    for tick in (ax.get_xticklabels()[i], ax.get_yticklabels()[i]):
                        tick.set_color("#D55E00")
                        tick.set_fontweight("bold")
            if r == 0:
                ax.set_title(f"head {h}")
            if h == 0:
                ax.set_ylabel(f"{layer_label(name)}\nquery")
            if r == len(layers) - 1:
                ax.set_xlabel("key")
        if image is not None:
            bar = fig.colorbar(image, ax=axes[r, :], shrink=0.9, pad=0.01, label="weight")
            bar.ax.axhline(1.0 / s, color="white", lw=1.5)
    note = " — decisive tokens in red" if highlight else ""
    fig.suptitle(
        title
        or f"Attention maps per layer and head (one input, eval mode){note}\n"
        "each layer on its own colour scale; white line on the colour bar = uniform attention"
    )
    return fig


def plot_patch_attention(
    images: np.ndarray, grids: Mapping[str, np.ndarray], title: str = ""
) -> Figure:
    """Rows: inputs (k, C, H, W); columns: the input, then each labelled (k, gh, gw) attention
    grid (shares over the patches, summing to 1) overlaid on it, on one colour scale."""
    k = len(images)
    cols = 1 + len(grids)
    fig = new_figure(1.9 * cols + 0.9, 1.9 * k + 0.8)
    axes = fig.subplots(k, cols, squeeze=False)
    vmax = max(float(g.max()) for g in grids.values())
    patches = next(iter(grids.values()))[0].size
    overlay = None
    for r in range(k):
        img, cmap = as_image(images[r])
        size = img.shape[:2]
        axes[r, 0].imshow(img, cmap=cmap)
        axes[r, 0].set_ylabel(f"input {r}")
        for c, (label, grid) in enumerate(grids.items(), start=1):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray" if cmap else None)
            overlay = ax.imshow(
                upsample(grid[r], size), cmap="inferno", alpha=0.65, vmin=0.0, vmax=vmax
            )
            if r == 0:
                ax.set_title(label, fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    axes[0, 0].set_title("input", fontsize=8)
    if overlay is not None:
        label = f"share of attention over the patches (uniform = 1/{patches})"
        fig.colorbar(overlay, ax=axes, shrink=0.8, label=label)
    fig.suptitle(title or "Class-token attention over the patches")
    return fig


def plot_rollout(
    rollout: np.ndarray,
    tokens: Sequence[str] | None = None,
    title: str = "",
    highlight: Sequence[int] = (),
) -> Figure:
    """One input's attention rollout (T, T): how much each output position draws on each input;
    positions in `highlight` (decisive tokens) get bold red labels."""
    t = rollout.shape[-1]
    fig = new_figure(min(8.0, 2.5 + 0.25 * t), min(7.0, 2.0 + 0.22 * t))
    ax = fig.subplots()
    image = ax.imshow(rollout, cmap="magma", vmin=0.0)
    if tokens is not None and t <= 60:
        labels = token_labels(tokens, t)
        ax.set_xticks(range(t), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(t), labels, fontsize=6)
        for i in highlight:
            for tick in (ax.get_xticklabels()[i], ax.get_yticklabels()[i]):
                tick.set_color("#D55E00")
                tick.set_fontweight("bold")
    ax.set_xlabel("input token" + (" (decisive in red)" if highlight else ""))
    ax.set_ylabel("position after the last layer")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="rolled-out attention")
    fig.suptitle(title or "Attention rollout across layers (Abnar & Zuidema 2020)")
    return fig


def plot_head_entropy(
    layers: Sequence[str], entropy: np.ndarray, keys: int, title: str = ""
) -> Figure:
    """Grouped bars: mean row entropy (nats) of each head (L, H), with log(keys) for uniform."""
    n_layers, heads = entropy.shape
    fig = new_figure(max(5.0, 1.2 * n_layers + 2.5), 3.6)
    ax = fig.subplots()
    width = 0.8 / heads
    x = np.arange(n_layers)
    for h in range(heads):
        ax.bar(
            x + (h - (heads - 1) / 2) * width,
            entropy[:, h],
            width,
            color=color(h),
            label=f"head {h}",
        )
    ax.axhline(np.log(keys), color="black", ls="--", lw=1, label=f"uniform (log {keys})")
    ax.set_xticks(x, [layer_label(n) for n in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("entropy of attention rows (nats)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "Per-head attention entropy (low: focused heads)")
    return fig


def plot_decisive_mass(
    labels: Sequence[str], mass: np.ndarray, chance: float, title: str = ""
) -> Figure:
    """Bars: attention mass on the decisive tokens per layer × head (rows of `mass`, (L, H)) or
    one value per label (1-D), against the chance line (uniform attention)."""
    mass = np.atleast_2d(mass.T).T if mass.ndim == 1 else mass
    n, heads = mass.shape
    fig = new_figure(max(6.0, 1.1 * n + 3.0), 3.8)
    ax = fig.subplots()
    width = 0.8 / heads
    x = np.arange(n)
    for h in range(heads):
        name = f"head {h}" if heads > 1 else "mass"
        ax.bar(x + (h - (heads - 1) / 2) * width, mass[:, h], width, color=color(h), label=name)
    ax.axhline(chance, color="black", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(x, [layer_label(n) for n in labels], rotation=20, ha="right")
    ax.set_xlabel("layer")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of attention on decisive tokens")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title or "Attention mass on the decisive tokens vs chance")
    return fig
