"""Weight spectra: the ESD is WᵀW / N's eigenvalues (conv weights sliced per kernel position),
the power-law fit recovers a known tail exponent, small layers say so, and a tiny run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.inspect.spectrum import (
    MIN_EVALS,
    band_word,
    esd,
    fit_alpha,
    layer_spectra,
    weight_matrices,
)


@pytest.mark.parametrize("alpha", [2.5, 3.5, 5.0])
def test_fit_recovers_a_pareto_tail_exponent(alpha: float) -> None:
    # numpy's pareto(a) + 1 has density ∝ x^-(a + 1) on x ≥ 1
    evals = np.random.default_rng(0).pareto(alpha - 1.0, 4000) + 1.0
    fit = fit_alpha(evals)
    assert fit.alpha == pytest.approx(alpha, rel=0.10)
    assert fit.n_tail >= 100


def test_esd_is_the_eigenvalues_of_wtw_over_n() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(20, 50)  # weight (50, 20): N = 50, M = 20
    (w,) = weight_matrices(lin)[""]
    assert w.shape == (50, 20)
    want = np.linalg.eigvalsh(w.T @ w / 50)
    assert np.allclose(esd([w]), np.sort(want))
    conv = nn.Conv2d(8, 16, 3)  # 9 slices of (16, 8)
    mats = weight_matrices(conv)[""]
    assert len(mats) == 9 and all(m.shape == (16, 8) for m in mats)
    k = conv.weight.detach().double().numpy()
    assert np.allclose(mats[4], k[:, :, 1, 1])
    assert len(esd(mats)) == 9 * 8


def test_small_layers_are_named_not_skipped_silently() -> None:
    net = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 64), nn.Linear(64, 4))
    layers = {s.name: s for s in layer_spectra(net)}
    assert layers["0"].fit is None and layers["3"].fit is None
    assert layers["0"].note == f"too small to fit: 3 eigenvalues < {MIN_EVALS}"
    assert layers["2"].fit is not None and np.isfinite(layers["2"].alpha)
    assert layers["0"].to_json()["alpha"] is None
    assert band_word(1.5).startswith("below 2") and band_word(4.0).startswith("in 2-6")
    assert band_word(float("nan")) == "not fitted"


def test_cli_tracks_alpha_per_epoch_then_reads_it_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["inspect", "spectrum", "--data", "digits", "--model", "mlp", "--epochs", "2"]
    assert main([*args, "model.options.width=64", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    json.dumps(res, allow_nan=False)
    data = res["data"]
    rows = {r["layer"]: r for r in data["layers"]}
    assert rows["features.block1.linear"]["shape"] == [64, 64]
    assert rows["head.fc"]["evals"] == 10
    assert data["track"]["epochs"] == [1, 2]
    assert set(data["track"]["alphas"][0]) == set(rows)
    folder = Path(res["dir"])
    assert {f["file"] for f in res["figures"]} == {
        "esd.png",
        "alpha.png",
        "alpha-over-training.png",
    }
    assert all((folder / f["file"]).with_suffix(".svg").exists() for f in res["figures"])
    assert main(["inspect", "spectrum", "--run", res["run_ids"][0], "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["data"]["track"] == data["track"]
