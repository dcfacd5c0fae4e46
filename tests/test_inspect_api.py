"""The Python API on a user's own nn.Module: a Target from the module itself, features by type,
the single-model residual analysis, training a user module with the recorder, and the recipes'
default configs and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.blocks import ResidualBlock
from trainlab.config import load_config
from trainlab.data.spec import Dataset, DataSpec
from trainlab.errors import ConfigError
from trainlab.inspect import (
    Probe,
    Recorder,
    from_config,
    from_model,
    hook_count,
    inspect_features,
    inspect_recorder,
    inspect_residual,
    residual,
    residual_flow,
)
from trainlab.inspect.flow import along_depth
from trainlab.inspect.recipes import default_config, run_inspection
from trainlab.track.store import Store

from conftest import BoringModel


class UserNet(nn.Module):
    """A user's residual net on 1-D signals: blocks found by their `branch` and `shortcut`."""

    def __init__(self, zero: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv1d(1, 4, 3, padding=1)
        self.b1 = ResidualBlock(4, 4, dims=1, zero_init=zero)
        self.b2 = ResidualBlock(4, 8, stride=2, dims=1, zero_init=zero)
        self.act = nn.Tanh()
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.b2(self.b1(self.stem(x)))))


def _signals(n: int = 96) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, 16, generator=g), torch.randint(0, 3, (n,), generator=g)
    spec = DataSpec("user-signals", "signal", (1, 16), 3, ("a", "b", "c"))
    return Dataset(spec, x[:48], y[:48], x[48:64], y[48:64], x[64:], y[64:])


def _files(result_dir: Path, figures: list) -> list[Path]:
    files = [result_dir / f.file for f in figures]
    assert files and all(f.exists() and f.with_suffix(".svg").exists() for f in files)
    return files


def test_features_of_a_user_module_by_type() -> None:
    model, ds = UserNet(), _signals()
    result = inspect_features(from_model(model, ds), Store(), types=(nn.Tanh, ResidualBlock))
    rows = result.summary.data["layers"]
    assert [r["layer"] for r in rows] == ["b1", "b2", "act"]
    with Probe(model, names=["act"]) as probe, torch.no_grad():
        model.eval()(ds.x_test)
    assert rows[2]["mean"] == pytest.approx(probe.table()[0]["mean"], abs=1e-6)
    assert rows[2]["min"] < 0  # tanh's negative half is kept
    assert len(_files(result.dir, result.summary.figures)) == 5  # hists, stats, 3 map grids
    with np.load(result.dir / "arrays.npz") as arrays:  # the maps behind the grids
        assert arrays["maps.act"].shape == (4, 8, 8) and arrays["inputs"].shape == (4, 1, 16)
    assert result.summary.run_ids == [] and hook_count(model) == 0


def test_saturated_share_of_unbounded_layers_is_the_zero_the_footnotes_state() -> None:
    model, ds = UserNet(), _signals()
    result = inspect_features(from_model(model, ds), Store(), types=(nn.Tanh, ResidualBlock))
    table = result.summary.tables[0]
    column = table.columns.index("saturated")
    assert [row[column] for row in table.rows[:2]] == [0.0, 0.0]  # b1, b2: no bounded activation
    assert "0 for unbounded activations" in table.note
    assert [r["bounded"] for r in result.summary.data["layers"]] == [False, False, True]
    want = "no saturated units in the layers ending in tanh / sigmoid (1 of 3)"
    assert result.summary.verdicts[1] == want


def test_single_model_residual_analysis_restores_the_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = {"depths": (8,), "more_depths": (), "samples": 32, "steps_1d": 5, "steps_2d": 3}
    monkeypatch.setitem(residual.BUDGETS, "quick", tiny)
    monkeypatch.setattr(residual, "LANDSCAPE_SAMPLES", 32)
    model, ds = UserNet(zero=True), _signals()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = inspect_residual(from_model(model, ds), Store())
    data = result.summary.data
    assert [r["ratio"] for r in data["flow"]["user:" + __name__ + ".UserNet"]] == [0.0, 0.0]
    assert [r["block"] for r in next(iter(data["lesion"].values()))] == ["none", "b1", "b2"]
    assert set(data["init_std"]) == {
        f"user:{__name__}.UserNet (per block) {i}" for i in ("xavier", "kaiming")
    }
    assert len(_files(result.dir, result.summary.figures)) == 6
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert hook_count(model) == 0 and not model.training
    assert residual_flow(model, ds.x_test)[0]["ratio"] == 0.0


def test_init_grad_norms_cover_every_valid_resnet_depth() -> None:
    # Depths 14, 26, 32, 44 are valid (6n+2) but outside the budget's (8, 20, 56): the study
    # once crashed with a KeyError on them after training. Every depth up to 56 is measured for
    # both nets, and the layers along depth are exactly `depth` (stem + 2 per block + head).
    base = load_config(None, ["model.name=resnet", "model.options.width=2", "train.batch_size=8"])
    ds = _signals()
    valid = tuple(range(8, 57, 6))
    assert all(residual.init_depths((8, 20, 56), d) == tuple(sorted({8, 20, 56, d})) for d in valid)
    norms = residual.init_grad_norms(base, ds, valid, ds.x_train[:8], ds.y_train[:8])
    assert sorted(norms) == list(valid)
    for d in valid:
        assert set(norms[d]) == {"resnet", "plainnet"}
        assert [len(along_depth(norms[d][net])) for net in residual.NETS] == [d, d]
        assert all(v > 0 for net in residual.NETS for _, v in norms[d][net])


def test_user_module_trained_with_the_recorder() -> None:
    store = Store()
    cfg = load_config(None, ["data.name=moons", "data.options.n=200", "train.epochs=2"])
    rec = Recorder(every=2)
    target = from_config(cfg, store, [rec], model=BoringModel(dim=2, classes=2))
    assert target.record is not None and target.cfg.model.name.endswith("BoringModel")
    assert rec.record().layers == ["features.0", "head"]
    result = inspect_recorder(store, target.record, rec.record())
    assert len(_files(result.dir, result.summary.figures)) == 2
    assert result.summary.data["steps"] == [2, 4]


def test_default_configs_and_errors() -> None:
    cfg = default_config("residual", ["model.name=plainnet"])
    assert cfg.model.options == {"depth": 20, "width": 8}  # plainnet takes the resnet's options
    assert default_config("attention", ["model.name=vit", "data.name=digits"]).model.options == {}
    assert default_config("features", budget="full").train.epochs == 20
    with pytest.raises(ConfigError, match="choose one of features"):
        default_config("nope")
    with pytest.raises(ConfigError, match="--budget"):
        run_inspection("features", Store(), budget="huge")
    with pytest.raises(ConfigError, match="resnet and plainnet"):
        run_inspection("residual", Store(), default_config("features"))
