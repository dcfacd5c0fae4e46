import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from trainlab.config import RunConfig
from trainlab.plots.search import (
    OFF,
    axis_positions,
    best_so_far,
    plot_history,
    plot_importances,
    plot_method_comparison,
    plot_parallel_coordinates,
    plot_slices,
    spread,
    trials_to_reach,
)
from trainlab.search import SearchSettings, compare_methods, parse_space
from trainlab.track.store import Store


def test_best_so_far_skips_missing_values_and_respects_direction() -> None:
    values = [None, 0.5, 0.4, None, 0.7, 0.6]
    got = best_so_far(values, maximize=True)
    assert math.isnan(got[0]) and list(got[1:]) == [0.5, 0.5, 0.5, 0.7, 0.7]
    assert list(best_so_far([3.0, 1.0, 2.0], maximize=False)) == [3.0, 1.0, 1.0]


def test_trials_to_reach_counts_trials_not_indices() -> None:
    assert trials_to_reach([0.1, 0.5, 0.9, 0.95], 0.9) == 3
    assert trials_to_reach([0.1, None], 0.9) is None
    assert trials_to_reach([3.0, 1.0], 1.0, maximize=False) == 2


def test_spread_is_median_and_quartiles_over_repeats() -> None:
    curves = np.array([[np.nan, 1.0, 2.0], [np.nan, 3.0, 4.0], [np.nan, 5.0, 6.0]])
    med, lo, hi = spread(curves)
    assert math.isnan(med[0]) and list(med[1:]) == [3.0, 4.0]
    assert list(lo[1:]) == [2.0, 3.0] and list(hi[1:]) == [4.0, 5.0]


def test_axis_positions_scale_numbers_log_and_categories() -> None:
    pos, labels, cat = axis_positions([1e-4, 1e-2, 1e-3], log=True)
    assert pos == pytest.approx([0.0, 1.0, 0.5]) and labels == ["0.0001", "0.01"] and not cat
    pos, labels, cat = axis_positions(["sgd", None, "adam"])
    assert list(pos[[0, 2]]) == [1.0, 0.0] and math.isnan(pos[1]) and labels == ["adam", "sgd"]
    assert cat
    pos, labels, cat = axis_positions([0.9, None])  # one value: the middle; off stays off
    assert pos[0] == 0.5 and math.isnan(pos[1]) and labels == ["0.9", "0.9"] and not cat


def test_figures_have_titles_labels_and_the_data() -> None:
    values = [0.5, None, 0.8, 0.7]
    fig = plot_history(
        values, ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"], pruned_values=[0.5, 0.4, 0.8, 0.7]
    )
    ax = fig.axes[0]
    assert (
        "history" in ax.get_title() and ax.get_xlabel() == "trial" and ax.get_ylabel() == "val_acc"
    )
    best_line = ax.lines[0]
    assert list(best_line.get_ydata()) == [0.5, 0.5, 0.8, 0.8]
    params = {"optim.lr": [1e-3, 1e-2, 1e-1], "optim.name": ["adam", "sgd", None]}
    fig = plot_parallel_coordinates(params, [0.5, 0.8, 0.7], log_params=["optim.lr"])
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 3]  # not the axis rules
    assert len(lines) == 3 and sum(OFF in ln.get_ydata() for ln in lines) == 1
    fig = plot_slices(params, [0.5, 0.8, 0.7], log_params=["optim.lr"])
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xlabel() == "optim.name"
    assert fig.axes[1].get_xlim() == (-0.5, 1.5)  # both categories in view, however few points
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["adam", "sgd"]
    fig = plot_slices(
        {"train.batch_size": [32, 100, 256]}, [0.5, 0.8, 0.7], log_params=["train.batch_size"]
    )
    assert list(fig.axes[0].get_xticks()) == [32, 64, 128, 256]  # not 4×10¹, 6×10¹
    fig = plot_importances({"optim.lr": 0.7, "optim.name": 0.3})
    assert [p.get_width() for p in fig.axes[0].patches] == [0.3, 0.7]
    curves = {
        "random": np.array([[0.5, 0.6], [0.4, 0.7]]),
        "tpe": np.array([[0.6, 0.8], [0.5, 0.8]]),
    }
    fig = plot_method_comparison(curves, target=0.7)
    assert isinstance(fig, Figure) and fig.axes[1].get_title() == "Trials to reach val_acc ≥ 0.7"
    assert list(fig.axes[0].lines[0].get_ydata()) == pytest.approx([0.45, 0.65])  # seed median


def test_compare_methods_tiny() -> None:
    base = RunConfig.model_validate(
        {
            "name": "tiny",
            "data": {"name": "moons"},
            "model": {"name": "mlp", "options": {"width": 8}},
            "train": {"epochs": 2, "batch_size": 64, "checkpoint": "none"},
        }
    )
    space = parse_space({"optim.lr": {"log_uniform": [1e-3, 1e-1]}})  # no steps: grid is skipped
    store = Store()
    result = compare_methods(
        base, space, SearchSettings(trials=3), ("grid", "random", "tpe"), 2, store=store
    )
    assert list(result.runs) == ["random", "tpe"] and "grid" in result.skipped
    finals = result.runs["random"].finals(True)
    assert result.target == pytest.approx(float(np.median(finals)))
    assert all(len(v) == 3 for r in result.runs.values() for v in r.values)
    assert (result.dir / "methods.png").exists() and (result.dir / "methods.svg").exists()
    table = result.summary.tables[0] if result.summary else None
    assert table is not None and [row[0] for row in table.rows] == ["random", "tpe"]
    assert len(store.list_runs()) == 2 * 2 * 3
    assert len(store.get_study(result.name).run_ids) == 12
