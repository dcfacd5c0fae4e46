"""Learning-curve bands of an accuracy never leave [0, 1], and the figure says it clipped them."""

from __future__ import annotations

import numpy as np

from trainlab.plots.curves import bounds_of, mean_band, plot_bands


def test_accuracy_band_is_clipped_to_zero_one() -> None:
    m = np.array([[0.9, 1.0], [1.0, 1.0], [0.7, 0.95]])
    mean, lo, hi = mean_band(m)
    assert hi[0] > 1.0  # the plain t-interval leaves the range
    mean_c, lo_c, hi_c = mean_band(m, bounds=(0.0, 1.0))
    np.testing.assert_allclose(mean_c, mean)
    assert hi_c.max() == 1.0 and lo_c.min() >= 0.0
    np.testing.assert_allclose(lo_c, np.clip(lo, 0, 1))
    assert bounds_of("validation accuracy", "value") == (0.0, 1.0)
    assert bounds_of("train loss", "value") is None


def test_band_figure_states_the_clipping() -> None:
    runs = [([1, 2, 3], [0.9, 1.0, 1.0]), ([1, 2, 3], [0.7, 0.99, 1.0])]
    fig = plot_bands({"validation accuracy": {"a": runs}}, "epoch", "accuracy", "Curves")
    assert fig._suptitle is not None and "clipped to [0, 1]" in fig._suptitle.get_text()
    band = fig.axes[0].collections[0]
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    assert ys.max() <= 1.0 and ys.min() >= 0.0
