"""Attention maps: rows sum to 1, equal an independent softmax(QKᵀ/√d) computation, explain the
module's own output (ours, nn.MultiheadAttention, inside nn.TransformerEncoderLayer on its fast
path), and leave no hooks; rollout, entropy and decisive mass on constructed weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainlab.blocks import MultiHeadSelfAttention, TransformerBlock
from trainlab.inspect.attention import (
    CHECK_TOL,
    attention_maps,
    chance_mass,
    decisive_mass,
    head_entropy,
    patch_attention,
    rollout,
)
from trainlab.inspect.probes import hook_count


class TwoBlocks(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.b1, self.b2 = TransformerBlock(dim, heads), TransformerBlock(dim, heads)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.b2(self.b1(x, mask), mask)


def _manual(attn: MultiHeadSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """softmax(QKᵀ/√d) from the packed projection's weight rows, not from the module's code."""
    d, h = attn.dim, attn.heads
    w, b = attn.qkv.weight, attn.qkv.bias
    q = (x @ w[:d].T + b[:d]).view(*x.shape[:2], h, d // h).transpose(1, 2)
    k = (x @ w[d : 2 * d].T + b[d : 2 * d]).view(*x.shape[:2], h, d // h).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h), dim=-1)


def test_our_block_maps_are_distributions_equal_to_a_manual_softmax() -> None:
    model = TwoBlocks()
    x = torch.randn(3, 5, 16)
    maps = attention_maps(model, x)
    assert [m.name for m in maps] == ["b1.attn", "b2.attn"]
    first = maps[0].weights
    assert first.shape == (3, 4, 5, 5)
    torch.testing.assert_close(first.sum(-1), torch.ones(3, 4, 5))
    with torch.no_grad():
        torch.testing.assert_close(first, _manual(model.b1.attn, model.b1.norm1(x)))
    assert all(m.error < CHECK_TOL for m in maps)  # the fused output is reproduced
    assert hook_count(model) == 0
    assert model.b1.attn.keep_weights is False


def test_masked_keys_get_no_attention() -> None:
    model = TwoBlocks()
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    maps = attention_maps(model, torch.randn(2, 5, 16), mask=causal)
    assert float(maps[0].weights.triu(1).abs().max()) == 0.0
    assert maps[1].error < CHECK_TOL


def test_torch_encoder_layer_on_its_fast_path_gives_per_head_weights() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True).eval()
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(3, 6, 16)
    pad = torch.zeros(3, 6, dtype=torch.bool)
    pad[0, 4:] = True
    assert torch.backends.mha.get_fastpath_enabled()
    maps = attention_maps(enc, x, src_key_padding_mask=pad)
    assert [m.name for m in maps] == ["layers.0.self_attn", "layers.1.self_attn"]
    w = maps[0].weights
    assert w.shape == (3, 4, 6, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 6))
    assert float(w[0, :, :, 4:].abs().max()) == 0.0  # padded keys
    attn = enc.layers[0].self_attn
    q_w, k_w, _ = attn.in_proj_weight.chunk(3)
    q_b, k_b, _ = attn.in_proj_bias.chunk(3)
    q = (x @ q_w.T + q_b).view(3, 6, 4, 4).transpose(1, 2)
    k = (x @ k_w.T + k_b).view(3, 6, 4, 4).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / 2.0 + torch.where(pad, -math.inf, 0.0)[:, None, None]
    torch.testing.assert_close(w, scores.softmax(-1).detach(), atol=1e-5, rtol=1e-4)
    assert all(m.error < CHECK_TOL for m in maps)
    assert hook_count(enc) == 0 and torch.backends.mha.get_fastpath_enabled()
    assert enc.training and not enc.layers[0].training  # each module's mode is restored


def test_user_mha_called_without_weights_and_sequence_first() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2)

    class User(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = mha

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, None, False)[0]  # need_weights=False, positionally

    maps = attention_maps(User(), torch.randn(5, 2, 8))  # (T, B, D)
    assert maps[0].weights.shape == (2, 2, 5, 5)
    assert maps[0].error < CHECK_TOL


def test_rollout_entropy_and_decisive_mass_on_constructed_weights() -> None:
    uniform = torch.full((1, 2, 4, 4), 0.25)
    assert torch.allclose(head_entropy(uniform), torch.full((2,), math.log(4)))
    roll = rollout([uniform, uniform])
    torch.testing.assert_close(roll.sum(-1), torch.ones(1, 4))
    onehot = torch.zeros(1, 1, 4, 4)
    onehot[..., 2] = 1.0
    keys = torch.tensor([[False, False, True, False]])
    assert decisive_mass(onehot, keys).item() == pytest.approx(1.0)
    assert decisive_mass(uniform, keys, query=0).tolist() == [0.25, 0.25]
    assert chance_mass(keys) == pytest.approx(0.25)
    grid = patch_attention(torch.softmax(torch.randn(2, 3, 5, 5), -1), (2, 2))
    assert grid.shape == (2, 3, 2, 2)
    torch.testing.assert_close(grid.sum((-1, -2)), torch.ones(2, 3))
