"""Inception branches and residual flow on numbers: channels add up, branch maps are slices of
the output, a zero branch is the identity, lesions, gradient norms, init std and the landscape
(filter-normalised directions, weights restored, curvature of a known quadratic)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.blocks import Inception, ResidualBlock
from trainlab.errors import ConfigError
from trainlab.inspect.flow import (
    init_std,
    layer_grad_norms,
    lesion,
    residual_blocks,
    residual_flow,
    restored,
)
from trainlab.inspect.inception import branch_outputs, channel_energy, energy_shares
from trainlab.inspect.landscape import curvature, filter_normalized_direction, loss_slice
from trainlab.inspect.probes import hook_count


def _inception_net(dims: int = 2) -> nn.Module:
    torch.manual_seed(0)
    pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
    return nn.Sequential(
        OrderedDict(
            block1=Inception(1, 4, 6, 2, 3, dims=dims),
            block2=Inception(15, 2, 2, 2, 2, dims=dims),
            pool=pool,
            flat=nn.Flatten(),
            fc=nn.Linear(8, 3),
        )
    )


@pytest.mark.parametrize("dims", [1, 2])
def test_inception_channels_are_the_sum_of_branches_and_maps_are_slices(dims: int) -> None:
    model = _inception_net(dims)
    x = torch.randn(2, 1, *([7, 7] if dims == 2 else [20]))
    outs = branch_outputs(model, x)
    assert [b.block for b in outs] == ["block1", "block2"]
    b = outs[0]
    assert b.output.shape[1] == sum(t.shape[1] for t in b.branches.values()) == 15
    for name, sl in b.slices.items():
        torch.testing.assert_close(b.output[:, sl], b.branches[name])
    shares = energy_shares(b)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert channel_energy(b).shape == (15,)
    assert hook_count(model) == 0


class Net(nn.Module):
    def __init__(self, skip: bool = True, zero: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv1d(1, 4, 3, padding=1)
        self.b1 = ResidualBlock(4, 4, dims=1, skip=skip, zero_init=zero)
        self.b2 = ResidualBlock(4, 8, stride=2, dims=1, skip=skip, zero_init=zero)
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.b2(self.b1(self.stem(x))))


def test_zero_branch_residual_block_is_the_identity() -> None:
    block = ResidualBlock(4, 4, dims=1, zero_init=True).eval()
    x = torch.randn(3, 4, 10)
    torch.testing.assert_close(block(x), x)
    rows = residual_flow(Net(zero=True), torch.randn(3, 1, 16))
    assert [r["ratio"] for r in rows] == [0.0, 0.0]  # ‖F(x)‖/‖x‖ = 0
    assert all(r["skip"] for r in rows)
    plain = residual_flow(Net(skip=False), torch.randn(3, 1, 16))
    assert all(r["ratio"] > 0 and not r["skip"] for r in plain)


def test_lesion_removes_one_block_at_a_time() -> None:
    x, y = torch.randn(20, 1, 16), torch.randint(0, 3, (20,))
    rows = lesion(Net(zero=True), x, y)
    assert [r["block"] for r in rows] == ["none", "b1", "b2"]
    assert rows[1]["drop"] == 0.0  # a zero branch: removing it changes nothing
    plain = lesion(Net(skip=False), x, y)
    assert np.isnan(plain[2]["acc"])  # a plain block that changes shape cannot be removed
    assert not np.isnan(plain[1]["acc"])
    with pytest.raises(ConfigError, match="no residual blocks"):
        residual_blocks(nn.Linear(2, 2))


def test_grad_norms_leave_weights_buffers_and_grads_untouched() -> None:
    model = Net()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    norms = layer_grad_norms(model, torch.randn(8, 1, 16), torch.randint(0, 3, (8,)))
    assert norms[0][0] == "stem.weight" and norms[-1][0] == "head.2.weight"
    assert all(v > 0 for _, v in norms)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert all(p.grad is None for p in model.parameters())
    plain = [
        n
        for n, _ in layer_grad_norms(
            Net(skip=False), torch.randn(8, 1, 16), torch.zeros(8, dtype=torch.long)
        )
    ]
    assert "b2.shortcut.weight" not in plain  # unused in a plain block


def test_kaiming_keeps_a_deep_relu_signal_and_xavier_shrinks_it() -> None:
    torch.manual_seed(0)
    layers = OrderedDict((f"l{i}", nn.Sequential(nn.Linear(64, 64), nn.ReLU())) for i in range(12))
    model = nn.Sequential(layers)
    stds = init_std(model, torch.randn(512, 64), list(layers), ("xavier", "kaiming"))
    assert stds["xavier"][-1] < 0.1 * stds["xavier"][0]
    assert 0.3 < stds["kaiming"][-1] / stds["kaiming"][0] < 3.0


def test_filter_normalised_direction_and_restored_weights() -> None:
    model = Net()
    d = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    for p, u in zip(model.parameters(), d, strict=True):
        if p.ndim <= 1:
            assert float(u.abs().max()) == 0.0  # biases and norm parameters stay fixed
        else:
            torch.testing.assert_close(u.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 1, 16), torch.randint(0, 3, (16,))
    line = loss_slice(model, x, y, dims=1, steps=5)
    plane = loss_slice(model, x, y, dims=2, steps=3)
    assert line.loss.shape == (5,) and plane.loss.shape == (3, 3)
    assert line.loss[2] == pytest.approx(plane.loss[1, 1], rel=1e-5)  # both centres = θ
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    with pytest.raises(RuntimeError), restored(model):
        next(model.parameters()).data.zero_()
        raise RuntimeError
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_curvature_of_a_known_quadratic() -> None:
    a = np.linspace(-1, 1, 41)
    c = curvature(a, 2.0 + 0.5 * a + 1.5 * a**2)
    assert c["curvature"] == pytest.approx(3.0)
    assert c["loss0"] == pytest.approx(2.0)
    assert c["sharpness"] == pytest.approx(0.5 * 0.25 + 1.5 * 0.0625)
