"""Probes: hooks always removed, streaming statistics equal direct computation, bounded keeping,
selection errors, and the warnings for cases where hooks mislead."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.inspect.probes import MAX_KEEP, Probe, ProbeWarning, hook_count
from trainlab.models.layers import default_layers
from trainlab.train.activation_stats import ZERO_TOL, Histogram, Moments


def _mlp(act: nn.Module | None = None) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), act or nn.ReLU(), nn.Linear(8, 3))


def test_probe_leaves_no_hooks_even_after_an_error() -> None:
    model = _mlp()
    with Probe(model, grads=True, keep=2):
        model(torch.randn(4, 5)).sum().backward()
    assert hook_count(model) == 0
    with pytest.raises(RuntimeError), Probe(model, types=(nn.Linear,)):
        model(torch.randn(4, 7))  # wrong width: the forward fails inside the probe
    assert hook_count(model) == 0
    assert torch.backends.mha.get_fastpath_enabled()


def test_streaming_moments_equal_direct_statistics_over_batches() -> None:
    model = _mlp(nn.Tanh())
    xs = [torch.randn(16, 5), torch.randn(9, 5)]
    with Probe(model, names=["1"]) as probe, torch.no_grad():
        for x in xs:
            model(x)
    with torch.no_grad():
        out = torch.cat([model[1](model[0](x)) for x in xs])
    row = probe.table()[0]
    assert row["calls"] == 2
    assert row["mean"] == pytest.approx(float(out.mean()), abs=1e-6)
    assert row["std"] == pytest.approx(float(out.std(correction=0)), rel=1e-5)
    assert row["min"] == pytest.approx(float(out.min()))
    assert row["max"] == pytest.approx(float(out.max()))
    assert row["near_zero"] == pytest.approx(float((out.abs() <= ZERO_TOL).float().mean()))


def test_histogram_grows_its_range_and_keeps_negative_values() -> None:
    h = Histogram(bins=8)
    a, b = torch.linspace(-0.1, 0.1, 50), torch.tensor([-3.0, 5.0])
    h.update(a)
    h.update(b)
    assert h.counts.sum() == 52
    assert h.low <= -3.0 and h.high >= 5.0
    centres = (h.edges[:-1] + h.edges[1:]) / 2
    assert h.counts[centres < 0].sum() >= 26  # half of the first batch and -3 are negative
    ref, _ = np.histogram(torch.cat([a, b]).numpy(), bins=h.edges)
    assert (ref == h.counts).all()


def test_tanh_and_gelu_layers_do_not_look_empty() -> None:
    for act in (nn.Tanh(), nn.GELU()):
        model = _mlp(act)
        with Probe(model, names=["1"]) as probe, torch.no_grad():
            model(torch.randn(256, 5))
        counts = probe.stats["1"].hist.counts
        edges = probe.stats["1"].hist.edges
        assert counts[edges[1:] <= 0].sum() > 0  # the negative side is in the histogram
        assert (counts > 0).sum() >= 8  # spread over many bins, not one spike


def test_dead_and_saturated_unit_shares() -> None:
    lin = nn.Linear(2, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, 1.0, 50.0, 0.3]))
    relu = nn.Sequential(lin, nn.ReLU())
    with Probe(relu, names=["1"]) as probe:
        relu(torch.randn(10, 2))
    assert probe.table()[0]["dead"] == pytest.approx(0.25)  # unit 0 is always 0
    tanh = nn.Sequential(lin, nn.Tanh())
    with Probe(tanh, names=["1"]) as probe:
        tanh(torch.randn(10, 2))
    assert probe.table()[0]["saturated"] == pytest.approx(0.25)  # tanh(50) = 1
    with Probe(relu, names=["1"]) as probe:
        relu(torch.randn(10, 2))
    row = probe.table()[0]  # ReLU has no bound to sit at: no unit saturates (0, not NaN)
    assert row["saturated"] == 0.0 and row["bounded"] is False
    assert math.isnan(Probe(relu, names=["1"]).stats["1"].summary()["saturated"])  # never ran


def test_kept_tensors_are_bounded_copies() -> None:
    model = _mlp()
    with Probe(model, names=["0"], keep=3) as probe:
        for _ in range(3):
            model(torch.randn(2, 5))
    kept = probe.stats["0"].kept_tensor()
    assert kept is not None and kept.shape == (3, 8)
    assert Probe(model, keep=10_000).keep == MAX_KEEP


def test_select_by_type_and_unknown_name_error() -> None:
    model = _mlp()
    assert list(Probe(model, types=(nn.Linear,)).modules) == ["0", "2"]
    with pytest.raises(ConfigError, match="not a module of the model"):
        Probe(model, names=["nope"])


def test_gradient_statistics_of_outputs() -> None:
    model = _mlp()
    x = torch.randn(6, 5)
    with Probe(model, names=["2"], grads=True) as probe:
        model(x).sum().backward()
    g = probe.stats["2"].grad
    assert g.count == 18 and g.mean == pytest.approx(1.0)  # d sum / d output = 1


def test_warns_for_shared_inplace_and_skipped_modules() -> None:
    shared = nn.Linear(4, 4)
    twice = nn.Sequential(shared, nn.ReLU(inplace=True), shared)
    with pytest.warns(ProbeWarning) as record, Probe(twice, names=["0"]):
        twice(torch.randn(2, 4))
    messages = " ".join(str(w.message) for w in record)
    assert "in-place" in messages and "ran 2 times" in messages

    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.a(x)
            nn.functional.relu(h, inplace=True)  # invisible to a module-level check
            return self.b(h)

    model = Functional()
    with (
        pytest.warns(ProbeWarning, match="output of a was changed in place"),
        Probe(model) as probe,
        torch.no_grad(),
    ):
        model(torch.randn(16, 4))
    assert probe.table()[0]["min"] < 0  # taken before the ReLU overwrote it
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    with (
        pytest.warns(ProbeWarning, match="never ran"),
        Probe(layer, names=["self_attn.out_proj"]),
        torch.no_grad(),
    ):
        layer(torch.randn(2, 3, 8))


def test_default_layers_of_zoo_shaped_and_plain_models() -> None:
    class Zoo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            stage = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
            self.features = nn.Sequential(nn.Flatten(), stage, nn.ReLU())
            self.head = nn.Linear(4, 2)

    assert default_layers(Zoo()) == ["features.1.0", "features.1.1", "head"]
    assert default_layers(_mlp()) == ["0", "2"]


def test_moments_merge_is_exact() -> None:
    m = Moments()
    parts = [torch.randn(7) * 3 + 1, torch.randn(100), torch.tensor([4.0])]
    for p in parts:
        m.update(p)
    allv = torch.cat(parts).double()
    assert m.count == 108
    assert m.mean == pytest.approx(float(allv.mean()))
    assert m.std == pytest.approx(float(allv.std(correction=0)), rel=1e-6)
