"""Figures for the report: stored PNGs as data URIs, and learning curves drawn from stored epochs.

Everything is byte-deterministic: the same file or the same numbers give the same data URI.
"""

from __future__ import annotations

import base64
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure as MplFigure

from trainlab.plots.style import color, new_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURVE_DPI = 200  # drawn at ~2x the shown size, so curves stay sharp on phones and in print
CURVE_SCALE = 2  # shown at (pixels / CURVE_SCALE) CSS pixels
# Panels of a learning curve: (title, metric keys) — keys as the training loop names them.
PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_acc", "val_acc")))


@dataclass
class Image:
    """A PNG ready for an <img>: its data URI and the size to show it at, in CSS pixels."""

    src: str
    width: int
    height: int


def png_image(data: bytes, scale: int = 1) -> Image:
    """Wrap PNG bytes; ValueError if they are not a PNG (the report says so instead of a broken img)."""
    if not data.startswith(PNG_MAGIC) or len(data) < 24:
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Image(uri, max(1, width // scale), max(1, height // scale))


def load_png(folder: Path, file: str) -> Image:
    """A study's figure by its path relative to the study folder; never reads outside the folder."""
    root = folder.resolve()
    path = (root / file).resolve()
    if root not in path.parents:
        raise ValueError(f"{file!r} is outside the study folder")
    if not path.is_file():
        raise ValueError(f"{file!r} is missing from {root}")
    return png_image(path.read_bytes())


def learning_curves(epochs: list[dict[str, float]], title: str) -> Image | None:
    """Loss and accuracy per epoch (train and validation) as a PNG; None without stored epochs."""
    panels = [(name, [k for k in keys if any(k in e for e in epochs)]) for name, keys in PANELS]
    panels = [(name, keys) for name, keys in panels if keys]
    if not epochs or not panels:
        return None
    fig = new_figure(3.2 * len(panels), 2.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, keys) in zip(axes, panels, strict=True):
        for i, key in enumerate(keys):
            points = [(e.get("epoch", n + 1), e[key]) for n, e in enumerate(epochs) if key in e]
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, color=color(i), label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    # No "Software" text chunk and no timestamp: rebuilding gives the same bytes.
    fig.savefig(buf, format="png", dpi=CURVE_DPI, metadata={"Software": None})
    return png_image(buf.getvalue(), scale=CURVE_SCALE)


def group_curves(
    runs: list[tuple[str, list[dict[str, float]]]], title: str, legend_max: int = 8
) -> Image | None:
    """Validation loss and accuracy per epoch of many runs on one pair of axes. Up to
    `legend_max` runs get a colour and a legend entry each; more are thin lines under their
    per-epoch median, so a group of a thousand runs is still one readable figure."""
    keys = [k for k in ("val_loss", "val_acc") if any(k in e for _, ep in runs for e in ep)]
    if not keys:
        return None
    # A fixed layout: constrained layout would draw the figure twice (half the report's time).
    fig = MplFigure(figsize=(3.4 * len(keys), 2.6))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.8, wspace=0.28)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    many = len(runs) > legend_max
    for ax, key in zip(axes, keys, strict=True):
        lines = []
        for i, (label, epochs) in enumerate(runs):
            points = [(e.get("epoch", n + 1), e[key]) for n, e in enumerate(epochs) if key in e]
            if not points:
                continue
            lines.append(points)
            if not many:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", markersize=2.5, lw=1.2, color=color(i), label=label)
        if many and lines:
            ax.add_collection(LineCollection(lines, colors=color(0), linewidths=0.5, alpha=0.25))
            ax.autoscale_view()
            length = max(len(p) for p in lines)
            median = [
                float(np.median([p[j][1] for p in lines if len(p) > j])) for j in range(length)
            ]
            steps = [next(p[j][0] for p in lines if len(p) > j) for j in range(length)]
            ax.plot(steps, median, color="black", lw=1.6, label=f"median of {len(lines)} runs")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if many and ax.lines:
            ax.legend(fontsize=7)
    if not many and axes[0].lines:  # one legend under the axes, never over a curve
        handles, labels = axes[0].get_legend_handles_labels()
        cols = min(4, len(labels))
        fig.legend(handles, labels, loc="lower center", ncols=cols, fontsize=7, frameon=False)
        rows = -(-len(labels) // cols)
        fig.set_figheight(2.6 + 0.2 * rows)
        fig.subplots_adjust(bottom=(0.45 + 0.2 * rows) / (2.6 + 0.2 * rows) + 0.02)
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CURVE_DPI, metadata={"Software": None})
    return png_image(buf.getvalue(), scale=CURVE_SCALE)
