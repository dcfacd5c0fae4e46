"""Shared figure style and the one place figures are written: PNG (for the report) + SVG."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

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


def log_scale(ax: Axes, low: float | None = None, high: float | None = None) -> None:
    """A log y axis with plain tick labels (0.2, 5, 300 rather than 2×10⁻¹); spanning less than
    two decades, the 2× and 5× ticks (and 3× under one decade) are labelled too, so a short axis
    still has numbers.
    `low`/`high`: the data's range (default: what is plotted so far); with values <= 0 the axis
    stays linear."""
    if low is None or high is None:
        low, high = (float(v) for v in ax.dataLim.intervaly)
    if not (low > 0 and math.isfinite(high)):
        return  # zeros or negatives (a zero-initialised branch): a linear axis shows them
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    short = high / low < 10  # less than a decade: label 2, 3, 5 (× 10^k) too
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0) if short else (2.0, 5.0)))
    ax.yaxis.set_minor_formatter(plain if high / low < 100 else NullFormatter())


def wrap_lines(lines: Sequence[str], width_in: float, fontsize: float) -> str:
    """Lines of a title wrapped to fit `width_in` inches at `fontsize` points (a DejaVu Sans
    character is at most about 0.62 em wide on average), joined with newlines: constrained layout
    makes room for a tall title, not for a wide one, which it clips at the figure's edges."""
    chars = max(20, int(width_in * 72 / (0.62 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in lines)


FORMATS = (".png", ".svg", ".pdf")  # every figure: raster for pages, vector for the web and papers


def save_figure(fig: Figure, stem: Path) -> Path:
    """Write `stem.png`, `stem.svg` and `stem.pdf` (for `\\includegraphics` in a paper; no
    creation date inside, so the same figure gives the same bytes); return the PNG path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    fig.savefig(png)
    # Keep the layout just computed. None, not "none": "none" leaves a placeholder engine, and
    # any engine makes savefig draw the whole figure once more before the real draw (SVG 35%
    # slower; the files are the same).
    fig.set_layout_engine(None)
    fig.savefig(stem.with_suffix(".svg"))
    fig.savefig(stem.with_suffix(".pdf"), metadata={"CreationDate": None})
    return png
