"""Flight recorder: statistics equal a hand computation on a tiny model, hooks exist only around
recording steps, memory stays bounded, and the record survives a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.inspect.probes import hook_count
from trainlab.train import History
from trainlab.train import recorder as rec_mod
from trainlab.train.loop import fit
from trainlab.train.recorder import NEAR_ZERO_REL, STATS, Recorder, load_record

from conftest import BoringModel


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _train(model: nn.Module, rec: Recorder, steps: int, x: torch.Tensor, y: torch.Tensor) -> list:
    """SGD steps on one fixed batch; returns the weights before each step (by hand)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = []
    for step in range(1, steps + 1):
        before.append([p.detach().clone() for p in model.parameters()])
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.on_step(step, model, loss)
    rec.on_end(model, History())  # as fit does: the hooks and the MHA fast-path flag restored
    return before


def test_recorder_statistics_match_a_hand_computation() -> None:
    model = Tiny()
    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    rec = Recorder(every=2)
    before = _train(model, rec, 2, x, y)
    r = rec.record()
    assert r.layers == ["features.0", "head"]
    assert r.steps.tolist() == [2]
    w0 = before[1]  # weights during step 2 (its forward), in parameters() order
    lin = w0[0], w0[1]
    act = x @ lin[0].T + lin[1]  # output of features.0 in step 2's forward
    assert r.stats["act_mean"][0, 0] == pytest.approx(float(act.mean()), rel=1e-5)
    assert r.stats["act_std"][0, 0] == pytest.approx(float(act.std(correction=0)), rel=1e-5)
    rms = act.pow(2).mean().sqrt()
    zero = float((act.abs() < NEAR_ZERO_REL * rms).float().mean())  # relative to the layer's RMS
    assert r.stats["act_near_zero"][0, 0] == pytest.approx(zero)
    params = list(model.parameters())
    for j, idx in enumerate([(0, 1), (2, 3)]):
        g = torch.cat([params[i].grad.flatten() for i in idx])
        w = torch.cat([params[i].detach().flatten() for i in idx])
        w_before = torch.cat([w0[i].flatten() for i in idx])
        assert r.stats["grad_norm"][0, j] == pytest.approx(float(g.norm()), rel=1e-5)
        assert r.stats["weight_norm"][0, j] == pytest.approx(float(w.norm()), rel=1e-5)
        ratio = float((w - w_before).norm() / w_before.norm())
        assert r.stats["update_ratio"][0, j] == pytest.approx(ratio, rel=1e-4)


def test_hooks_live_only_around_recording_steps() -> None:
    model = Tiny()
    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    rec = Recorder(every=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    counts = []
    for step in range(1, 11):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.on_step(step, model, loss)
        counts.append(hook_count(model))
    assert [c > 0 for c in counts] == [False, False, False, True, False] * 2
    rec.on_end(model, None)  # type: ignore[arg-type]
    assert hook_count(model) == 0
    assert rec.record().steps.tolist() == [5, 10]


def test_record_is_bounded_and_thins_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rec_mod, "MAX_RECORDS", 4)
    model = Tiny()
    rec = Recorder(every=1)
    _train(model, rec, 12, torch.randn(8, 3), torch.tensor([0, 1] * 4))
    r = rec.record()
    assert len(r.steps) <= 4
    assert rec.every > 1
    assert (np.diff(r.steps) > 0).all()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = Tiny()
    rec = Recorder(every=2)
    _train(model, rec, 6, torch.randn(8, 3), torch.tensor([0, 1] * 4))
    rec.save(tmp_path)
    loaded, direct = load_record(tmp_path), rec.record()
    assert loaded.layers == direct.layers and loaded.every == 2
    for k in STATS:
        np.testing.assert_allclose(loaded.stats[k], direct.stats[k])
    assert loaded.hist_counts.shape == (3, 2, direct.hist_counts.shape[2])
    assert (loaded.hist_counts.sum(2) == 8 * np.array([4, 2])).all()  # 8 samples × units


def test_recorder_in_fit_ignores_validation_passes(blobs: Dataset) -> None:
    cfg = RunConfig().with_overrides({"train.epochs": 2, "train.batch_size": 36})
    model = BoringModel()
    rec = Recorder(every=2)  # 144 samples / 36 = 4 steps per epoch: step 4 ends an epoch
    fit(model, blobs, cfg, [rec])
    r = rec.record()
    assert r.steps.tolist() == [2, 4, 6, 8]
    assert (r.hist_counts[:, 0].sum(1) == 36 * 16).all()  # one training batch, never val data
    assert hook_count(model) == 0


class Dropped(nn.Module):
    """A linear layer and a sigmoid (values far from 0), a dropout-only layer, then the head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Linear(3, 64), nn.Sigmoid(), nn.Dropout(0.5))
        self.head = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_dropout_zeros_are_not_near_zero_activations() -> None:
    model = Dropped()
    x, y = torch.randn(32, 3), torch.tensor([0, 1] * 16)
    rec = Recorder(every=1, layers=["features.1", "features.2"])
    _train(model, rec, 3, x, y)
    r = rec.record()
    assert r.steps.tolist() == [2, 3]
    assert (r.stats["act_near_zero"][:, 1] == 0.0).all()  # the dropout-only layer: mask excluded
    with torch.no_grad():
        dropped = model.features(x)
    assert float((dropped == 0).float().mean()) > 0.3  # the mask an output probe would count
    # Read before dropout, the dropout layer shows exactly its input's (the sigmoid's) statistics.
    np.testing.assert_allclose(r.stats["act_std"][:, 1], r.stats["act_std"][:, 0], rtol=1e-6)
    np.testing.assert_allclose(r.stats["act_mean"][:, 1], r.stats["act_mean"][:, 0], rtol=1e-6)


def test_near_zero_is_relative_to_the_layer_scale() -> None:
    small = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 1e-3
    near, count = rec_mod.near_zero(small)
    expected = float((small.abs() < 0.01 * small.pow(2).mean().sqrt()).sum())
    assert count == 1000 and near == expected and near < 20  # not "all near zero" as |a|<1e-2 said
    assert rec_mod.near_zero(torch.zeros(5)) == (5, 5)
