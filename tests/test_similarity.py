"""Linear CKA: identity, invariances (orthogonal maps, isotropic scaling) and the lack of one
(general invertible maps), the minibatch estimator against the full one, and layer CKA of nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.inspect.similarity import (
    across_seeds,
    cka_matrix,
    hsic_unbiased,
    linear_cka,
    similarity_layers,
)


def _features(n: int = 500, p: int = 20, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # unequal column scales, so a general linear map can change the representation's geometry
    return torch.randn(n, p, generator=gen, dtype=torch.float64) * torch.linspace(0.2, 3.0, p)


def test_cka_of_a_representation_with_itself_is_one() -> None:
    x = _features()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling() -> None:
    x = _features()
    q, _ = torch.linalg.qr(
        torch.randn(20, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    y = _features(seed=2)[:, :7]
    base = linear_cka(x, y)
    assert 0.0 < base < 0.5  # independent features: far from 1
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x @ q * 0.01, x) == pytest.approx(1.0, abs=1e-10)


def test_cka_is_not_invariant_to_general_invertible_maps() -> None:
    x = _features()
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(20, 20, generator=gen, dtype=torch.float64) @ torch.diag(
        torch.logspace(-2, 1, 20, dtype=torch.float64)
    )
    assert torch.linalg.matrix_rank(a) == 20
    assert linear_cka(x @ a, x) < 0.9  # CKA is not CCA: an invertible map changes it


def test_unbiased_hsic_of_independent_features_is_near_zero() -> None:
    x, y = _features(n=2000, seed=4), _features(n=2000, seed=5)
    k, l_ = x @ x.T, y @ y.T
    ratio = hsic_unbiased(k, l_) / np.sqrt(hsic_unbiased(k, k) * hsic_unbiased(l_, l_))
    assert abs(ratio) < 0.02
    with pytest.raises(ValueError, match="at least 4"):
        hsic_unbiased(k[:3, :3], l_[:3, :3])


class _Twice(nn.Module):
    """Two linear layers; the second sees a noisy copy of the first's output."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(20, 16)
        self.b = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_minibatch_cka_is_close_to_the_full_cka() -> None:
    model, x = _Twice(), _features(n=2048).float()
    full = cka_matrix(model, x, layers_a=["a", "b"])
    mini = cka_matrix(model, x, layers_a=["a", "b"], batch_size=256)
    assert full.shape == mini.shape == (2, 2)
    np.testing.assert_allclose(np.diag(full), 1.0, atol=1e-12)
    np.testing.assert_allclose(mini, full, atol=0.03)
    np.testing.assert_allclose(mini, mini.T, atol=1e-12)


def test_cka_between_seeds_is_one_for_identical_nets_and_lower_for_others() -> None:
    x = _features(n=300).float()
    one, same = _Twice(), _Twice()
    torch.manual_seed(9)
    other = nn.Sequential()
    other.a, other.b = nn.Linear(20, 16), nn.Linear(16, 8)  # type: ignore[assignment]
    other.forward = lambda t: other.b(torch.relu(other.a(t)))  # type: ignore[method-assign]
    sims = across_seeds([one, same, other], [0, 0, 9], x, ["a", "b"])
    assert sims.pairs == [(0, 0), (0, 9), (0, 9)]
    np.testing.assert_allclose(sims.per_pair[0], 1.0, atol=1e-10)
    assert (sims.per_pair[1] < 1.0 - 1e-3).all()
    assert sims.rows()[0]["max"] == pytest.approx(1.0)
    assert sims.low[0] == pytest.approx(sims.per_pair[1, 0])


def test_cka_across_seeds_of_a_gru_compares_its_outputs_not_its_state_tuple() -> None:
    """A GRU layer returns (outputs, h_n); the demo's baselines study crashed on it."""
    from trainlab import data, models
    from trainlab.config import DataConfig

    ds = data.load(DataConfig(name="mnist1d"), 0, "cpu")
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(models.build("gru", ds.spec, dropout=0.0))
    layers = similarity_layers(nets[0])
    sims = across_seeds(nets, [0, 1], ds.x_test[:64], layers)
    assert sims.per_pair.shape == (1, len(layers))
    assert ((sims.per_pair > 0) & (sims.per_pair <= 1 + 1e-9)).all()


def test_similarity_layers_of_a_resnet_are_its_blocks_and_head() -> None:
    from trainlab import data, models
    from trainlab.config import DataConfig

    spec = data.load(DataConfig(name="digits"), 0, "cpu").spec
    layers = similarity_layers(models.build("resnet", spec, depth=8, width=4))
    assert layers[-1] == "head"
    assert [n for n in layers if "stage" in n][:1] == ["features.stage1.block1"]


def test_similarity_inspection_and_seed_similarity_of_a_study_variant(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from trainlab.inspect.recipes import default_config, run_inspection
    from trainlab.inspect.similarity import seed_similarity
    from trainlab.track.store import Store

    store = Store(Path(str(tmp_path)))
    cfg = default_config(
        "similarity", ["model.name=mlp", "model.options.width=16", "train.epochs=3"]
    )
    result = run_inspection("similarity", store, cfg)
    data = result.summary.data
    json.dumps(result.summary.to_json(), allow_nan=False)  # strict JSON
    assert {f.file for f in result.summary.figures} == {
        "cka-layers.png",
        "cka-across-seeds.png",
        "cka-epochs.png",
    }
    assert all(
        (result.dir / f.file).with_suffix(s).exists()
        for f in result.summary.figures
        for s in (".png", ".svg", ".pdf")
    )
    n = len(data["layers"])
    assert [data["within"][i][i] for i in range(n)] == pytest.approx([1.0] * n)
    assert [row[-1] for row in data["epochs"]] == pytest.approx([1.0] * n)  # final vs final
    assert len(list((result.dir / "trajectory" / "main").glob("epoch-*.pt"))) == 3
    # the same two seeds as a study variant: the plain function gives the inspection's numbers
    study = store.open_study("two-seeds", "grid", {})
    for run_id in result.summary.run_ids:
        store.link(study.id, run_id, "mlp")
    sims = seed_similarity(store, "two-seeds", "mlp")
    assert sims.seeds == [0, 1] and sims.layers == data["layers"]
    assert sims.mean.tolist() == pytest.approx([r["mean"] for r in data["across_seeds"]["rows"]])
    assert ((sims.mean > 0) & (sims.mean < 1)).all()
    with pytest.raises(ConfigError, match=r"variant=.nope. .*need at least 2 seeds"):
        seed_similarity(store, "two-seeds", "nope")
