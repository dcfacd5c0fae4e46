"""Every internals figure renders under Agg from plain arrays, and the pure helpers behind them
keep their numbers (histogram re-binning conserves mass, strongest channels, labels)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from trainlab.plots import attention as pa
from trainlab.plots import features as pf
from trainlab.plots import flow as pl
from trainlab.plots import inception as pi
from trainlab.plots import recorder as pr
from trainlab.plots.style import save_figure

RNG = np.random.default_rng(0)


def _render(fig: Figure, tmp_path: Path) -> None:
    assert matplotlib.get_backend().lower() == "agg"
    png = save_figure(fig, tmp_path / "fig")
    assert png.stat().st_size > 1000 and png.with_suffix(".svg").exists()
    assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF-")


def test_histogram_over_time_conserves_each_steps_mass() -> None:
    counts = np.array([[0, 5, 5, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    image, lo, hi = pr.histogram_over_time(
        counts, np.array([0.0, -2.0, np.nan]), np.array([1.0, 3.0, np.nan]), 10
    )
    assert (lo, hi) == (-2.0, 3.0)
    np.testing.assert_allclose(image.sum(0), [1.0, 1.0, 0.0])
    assert image[:4, 0].sum() == 0.0  # step 0 had nothing below 0


def test_helpers() -> None:
    maps = np.zeros((2, 5, 3))
    maps[:, 3] = 2.0
    maps[:, 1] = 1.0
    assert pf.top_channels(maps, 2).tolist() == [1, 3]
    assert pf.layer_label("features.stage1.block2") == "stage1.block2"
    assert pf.token_labels(["a", "b"], 3) == ["[CLS]", "a", "b"]
    assert pa.upsample(np.eye(2), (4, 4)).shape == (4, 4)


@pytest.mark.parametrize(
    "maps",
    [
        RNG.normal(size=(3, 6, 8, 8)),
        RNG.normal(size=(3, 6, 20)),
        RNG.normal(size=(3, 7, 10)),
        RNG.normal(size=(3, 9)),
    ],
    ids=["image", "signal", "tokens", "vector"],
)
def test_feature_figures_render(maps: np.ndarray, tmp_path: Path) -> None:
    inputs = RNG.normal(size=(3, 1, 8, 8)) if maps.ndim == 4 else RNG.normal(size=(3, 1, 20))
    tokens = [list("abcdef")] * 3 if maps.ndim == 3 else None
    _render(
        pf.plot_feature_maps(
            inputs, maps, "features.block1", 1 if maps.shape[1] == 6 else -1, tokens=tokens
        ),
        tmp_path,
    )


def test_feature_stat_figures_render(tmp_path: Path) -> None:
    edges = np.linspace(-1, 2, 9)
    _render(
        pf.plot_activation_histograms({"a": (np.arange(8), edges), "b.c": (np.ones(8), edges)}),
        tmp_path,
    )
    rows = [
        {
            "layer": f"l{i}",
            "mean": 0.1,
            "std": 1.0,
            "near_zero": 0.2,
            "dead": 0.1,
            "saturated": float("nan"),
        }
        for i in range(3)
    ]
    _render(pf.plot_layer_stats(rows), tmp_path)


def test_recorder_figures_render(tmp_path: Path) -> None:
    steps = np.array([10, 20, 30])
    stats = {k: RNG.uniform(0.1, 1, size=(3, 2)) for k in pr.STAT_LABELS}
    _render(pr.plot_recorder_stats(steps, ["a", "b"], stats), tmp_path)
    counts = RNG.integers(0, 50, size=(3, 2, 16))
    low, high = np.full((3, 2), -1.0), np.full((3, 2), 2.0)
    _render(pr.plot_colorful_dimension(steps, ["a", "b"], counts, low, high), tmp_path)


def test_attention_figures_render(tmp_path: Path) -> None:
    w = RNG.dirichlet(np.ones(5), size=(2, 5))  # (H, T, T)
    _render(pa.plot_attention_grid(["l1", "l2"], [w, w], list("abcd")), tmp_path)
    _render(pa.plot_rollout(w[0], list("abcd")), tmp_path)
    _render(pa.plot_head_entropy(["l1", "l2"], RNG.uniform(0, 1.6, size=(2, 2)), 5), tmp_path)
    _render(pa.plot_decisive_mass(["l1", "l2"], RNG.uniform(size=(2, 2)), 0.2), tmp_path)
    images = RNG.normal(size=(2, 1, 8, 8))
    _render(pa.plot_patch_attention(images, {"l1": RNG.uniform(size=(2, 4, 4))}), tmp_path)


def test_inception_figures_render(tmp_path: Path) -> None:
    branches = {"1×1": RNG.normal(size=(4, 6, 6)), "3×3": RNG.normal(size=(6, 6, 6))}
    _render(pi.plot_branch_maps(RNG.normal(size=(1, 6, 6)), branches, "block1"), tmp_path)
    signal = {k: v[:, 0] for k, v in branches.items()}
    _render(pi.plot_branch_maps(RNG.normal(size=(1, 6)), signal, "block1"), tmp_path)
    _render(
        pi.plot_channel_layout(RNG.uniform(size=10), {"a": slice(0, 4), "b": slice(4, 10)}, "b"),
        tmp_path,
    )
    shares = RNG.dirichlet(np.ones(4), size=2)
    _render(pi.plot_branch_shares(["b1", "b2"], shares, list("abcd")), tmp_path)
    _render(
        pi.plot_shares_over_training(
            np.arange(3), {"b1": RNG.dirichlet(np.ones(4), size=3)}, list("abcd")
        ),
        tmp_path,
    )


def test_flow_figures_render(tmp_path: Path) -> None:
    _render(
        pl.plot_block_flow(
            {"resnet": [0.5, 0.4], "plainnet": [2.0, 1.0]}, {"resnet": [1, 2], "plainnet": [1, 1]}
        ),
        tmp_path,
    )
    _render(pl.plot_grad_norms({"a init": [1.0, 0.1], "a trained": [0.5, 0.2]}), tmp_path)
    _render(
        pl.plot_grad_ratio_vs_depth([8, 20], {"resnet": [1.0, 0.9], "plainnet": [0.1, 0.01]}),
        tmp_path,
    )
    hist = [
        {"epoch": 1, "train_loss": 1.0, "val_acc": 0.5},
        {"epoch": 2, "train_loss": 0.5, "val_acc": 0.7},
    ]
    _render(pl.plot_training_curves({"resnet": hist, "plainnet": hist}), tmp_path)
    rows = [
        {"block": "none", "acc": 0.9},
        {"block": "b1", "acc": 0.8},
        {"block": "b2", "acc": float("nan")},
    ]
    _render(pl.plot_lesion({"resnet": rows, "plainnet": rows}), tmp_path)
    a = np.linspace(-1, 1, 5)
    _render(pl.plot_landscape_1d({"resnet": (a, a**2 + 0.1)}), tmp_path)
    _render(pl.plot_landscape_2d({"resnet": (a, a, np.add.outer(a**2, a**2) + 0.1)}), tmp_path)
    _render(pl.plot_init_std({"mlp xavier": [1.0, 0.5], "mlp kaiming": [1.0, 1.0]}), tmp_path)


def test_1d_feature_maps_tick_only_the_outer_panels() -> None:
    """Ticks on every one of k x channels panels were most of the drawing time: one y scale per
    row (first channel column) and one x scale per column (bottom row) are labelled."""
    maps = RNG.normal(size=(3, 6, 20))
    fig = pf.plot_feature_maps(RNG.normal(size=(3, 1, 20)), maps, "features.block1", 1)
    grid = np.array(fig.axes).reshape(3, 7)  # rows: inputs; columns: the input, then 6 channels
    assert all(len(ax.get_yticks()) > 0 for ax in grid[:, 1])
    assert all(len(ax.get_yticks()) == 0 for ax in grid[:, 2:].flat)
    assert all(len(ax.get_xticks()) > 0 for ax in grid[-1, :])
    assert all(len(ax.get_xticks()) == 0 for ax in grid[:-1, 1:].flat)
