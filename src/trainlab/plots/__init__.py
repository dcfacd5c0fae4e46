"""matplotlib figures from plain arrays and records (never models): `plot_*` returns a Figure."""

from trainlab.plots.style import PALETTE, color, new_figure, save_figure

__all__ = ["PALETTE", "color", "new_figure", "save_figure"]
