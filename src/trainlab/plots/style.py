"""Shared figure style and the one place figures are written: PNG (for the report) + SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

# Colour-blind-safe qualitative palette (Okabe & Ito), enough for 8 variants.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DPI = 120

matplotlib.rcParams.update(
    {
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 8,
        "legend.framealpha": 0.85,
        "font.size": 9,
    }
)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def new_figure(width: float = 6.4, height: float = 4.0, **kwargs: object) -> Figure:
    """A constrained-layout figure (labels never overlap), headless and outside pyplot's state."""
    return Figure(figsize=(width, height), layout="constrained", **kwargs)  # type: ignore[arg-type]


def save_figure(fig: Figure, stem: Path) -> Path:
    """Write `stem.png` and `stem.svg`; return the PNG path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    fig.savefig(png)
    fig.savefig(stem.with_suffix(".svg"))
    return png
