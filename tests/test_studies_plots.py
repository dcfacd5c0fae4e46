"""Comparison figures: pure helpers on numbers, and every `plot_*` labels what it draws."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from trainlab.plots.comparisons import (
    plot_dots,
    plot_profiles,
    plot_reliability,
    plot_tuning,
    pool_bins,
)
from trainlab.plots.curves import mean_band, plot_bands, plot_train_val


def labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() or all(ax.get_title() for ax in fig.axes)
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.get_xlabel()
            assert ax.get_ylabel() or any(t.get_text() for t in ax.get_yticklabels())


def test_pool_bins_weights_by_count() -> None:
    a = {"confidence": [0.2, 0.9], "accuracy": [0.0, 1.0], "count": [1, 3]}
    b = {"confidence": [0.4, 0.7], "accuracy": [1.0, 0.0], "count": [3, 1]}
    pooled = pool_bins([a, b])
    assert pooled["count"] == [4.0, 4.0]
    assert pooled["confidence"] == pytest.approx([(0.2 + 1.2) / 4, (2.7 + 0.7) / 4])
    assert pooled["accuracy"] == pytest.approx([0.75, 0.75])


def test_log_band_is_geometric_and_positive() -> None:
    mean, lo, hi = mean_band(np.array([[0.1, 1.0], [1.0, 10.0]]), log=True)
    assert mean == pytest.approx([np.sqrt(0.1), np.sqrt(10.0)])  # geometric means
    assert (lo > 0).all() and (hi > mean).all()


def test_plots_return_labelled_figures() -> None:
    runs = [([1, 2, 3], [0.5, 0.6, 0.7]), ([1, 2, 3], [0.4, 0.65, 0.72])]
    labelled(plot_bands({"val": {"a": runs, "b": runs[:1]}}, "epoch", "val acc", "Curves"))
    labelled(plot_train_val({"a": (runs, runs)}, "accuracy", "Train vs val"))
    labelled(plot_dots({"a": [0.5, 0.6], "b": [0.7]}, "test acc", "Dots", {"a": (0.55, 0.5, 0.6)}))
    fig = plot_tuning({"opt": {"sgd": ([0.01, 0.1], [0.5, None])}}, {"sgd": 0.01}, "val acc", "T")
    labelled(fig)
    assert "diverged" in fig.get_suptitle()
    bins = {"confidence": [0.1, 0.9], "accuracy": [0.0, 0.8], "count": [0, 10]}
    labelled(plot_reliability({"none": bins}, {"none": 0.1}, "Reliability"))


def test_tuning_curves_mark_the_rates_tried_beyond_the_grid() -> None:
    curves = {"opt": {"sgd": ([0.1, 1.0, 10.0], [0.5, 0.7, 0.6])}}
    fig = plot_tuning(curves, {"sgd": 1.0}, "val acc", "T", extended={"sgd": [10.0]})
    squares = [ln for ln in fig.axes[0].lines if ln.get_marker() == "s"]
    assert len(squares) == 1 and list(squares[0].get_xdata()) == [10.0]
    assert list(squares[0].get_ydata()) == [0.6] and "beyond the grid" in fig.get_suptitle()
    plain = plot_tuning(curves, {"sgd": 1.0}, "val acc", "T")
    assert not [ln for ln in plain.axes[0].lines if ln.get_marker() == "s"]


def test_performance_profiles_are_steps_to_tau_max_with_scores_in_the_legend() -> None:
    panels = {"Optimizers": {"adam": ([1.0, 3.0, 4.0], [0.5, 1.0, 1.0], 2 / 3),
                             "sgd": ([1.0, 4.0], [0.0, 0.5], 0.0)}}  # fmt: skip
    fig = plot_profiles(panels, 4.0, "tau", "Profiles")
    labelled(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlim() == (1.0, 4.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam (score 0.67)", "sgd (score 0.00)"]  # fmt: skip
    assert list(ax.lines[0].get_xdata()) == [1.0, 3.0, 4.0]


def test_tuning_panels_wrap_onto_rows_of_two() -> None:
    curve = {"sgd": ([0.1, 1.0], [0.5, 0.7]), "adam": ([0.001, 0.01], [0.6, 0.65])}
    panels = {f"{data} / {part}": curve for data in ("mnist1d", "digits") for part in ("a", "b")}
    fig = plot_tuning({**panels, "extra": curve}, {"sgd": 1.0}, "val acc", "T")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5 and len(fig.axes) == 6  # 3 rows of 2, the last cell hidden
    assert fig.get_size_inches()[0] == 10.4 and fig.get_size_inches()[1] == 3 * 4.4
    rows = sorted({round(ax.get_position().y0, 3) for ax in shown})
    assert len(rows) == 3


@pytest.mark.parametrize("panels", [1, 2, 3])
def test_tuning_subtitle_lies_inside_the_figure(panels: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    curve = {"sgd": ([0.01, 0.1], [0.5, None]), "adamw": ([0.01, 0.1], [0.6, 0.7])}
    title = "Optimizers and learning-rate schedules: tuning curves, digits / mlp, 3 tuning seeds"
    fig = plot_tuning({f"p{i}": curve for i in range(panels)}, {"sgd": 0.01}, "val acc", title)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # runs constrained layout
    assert fig._suptitle is not None
    box, page = fig._suptitle.get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert "diverged or failed" in " ".join(fig.get_suptitle().split())
