import math

import pytest
import torch
from torch import nn

from trainlab.blocks import (
    ConvBlock,
    Dense,
    Inception,
    MultiHeadSelfAttention,
    PatchEmbed,
    ResidualBlock,
    TransformerBlock,
    make_activation,
)

# One sample's spatial size per dims: signals (L,), images (H, W).
SPATIAL = {1: (12,), 2: (6, 6)}


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("norm", [False, True])
def test_dense_maps_features_and_applies_dropout_only_in_training(norm: bool) -> None:
    layer = Dense(5, 7, norm=norm, activation="gelu", dropout=0.5)
    x = rand(4, 5)
    assert layer(x).shape == (4, 7)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    assert isinstance(layer.norm, nn.BatchNorm1d if norm else nn.Identity)


def test_unknown_activation_names_the_choices() -> None:
    with pytest.raises(ValueError, match="relu, gelu"):
        make_activation("relux")


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_block_keeps_or_halves_the_size(dims: int, stride: int) -> None:
    block = ConvBlock(3, 8, kernel=5, stride=stride, dims=dims)
    out = block(rand(2, 3, *SPATIAL[dims]))
    assert out.shape == (2, 8, *(math.ceil(s / stride) for s in SPATIAL[dims]))


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize(("in_ch", "out_ch", "stride"), [(4, 4, 1), (4, 8, 2), (4, 8, 1)])
def test_residual_block_shapes_and_projection(
    dims: int, in_ch: int, out_ch: int, stride: int
) -> None:
    block = ResidualBlock(in_ch, out_ch, stride, dims)
    out = block(rand(2, in_ch, *SPATIAL[dims]))
    assert out.shape == (2, out_ch, *(math.ceil(s / stride) for s in SPATIAL[dims]))
    needs_projection = in_ch != out_ch or stride != 1
    assert isinstance(block.shortcut, nn.Identity) is not needs_projection


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("train", [True, False])
def test_residual_block_with_zeroed_branch_is_exactly_the_identity(dims: int, train: bool) -> None:
    block = ResidualBlock(4, 4, 1, dims, zero_init=True).train(train)
    x = rand(3, 4, *SPATIAL[dims])
    assert torch.equal(block(x), x)


def test_zero_branch_after_training_init_gives_the_shortcut() -> None:
    block = ResidualBlock(4, 8, 2, dims=2)
    x = rand(3, 4, 6, 6)
    assert not torch.allclose(block(x), block.shortcut(x))
    block.zero_branch_()
    assert torch.equal(block(x), block.shortcut(x))


@pytest.mark.parametrize("dims", [1, 2])
def test_plain_block_returns_the_branch_alone(dims: int) -> None:
    block = ResidualBlock(4, 8, 2, dims, skip=False).eval()
    twin = ResidualBlock(4, 8, 2, dims, skip=True).eval()
    twin.load_state_dict(block.state_dict())  # same layers, same names
    x = rand(3, 4, *SPATIAL[dims])
    assert torch.equal(block(x), block.branch(x))
    assert torch.allclose(twin(x), block.branch(x) + block.shortcut(x))


@pytest.mark.parametrize("dims", [1, 2])
def test_inception_channels_are_the_sum_of_its_branches(dims: int) -> None:
    block = Inception(6, c1=4, c3=8, c5=2, cpool=3, dims=dims).eval()
    x = rand(2, 6, *SPATIAL[dims])
    out = block(x)
    assert block.branch_channels == (4, 8, 2, 3)
    assert out.shape == (2, 4 + 8 + 2 + 3, *SPATIAL[dims])
    slices = block.branch_slices
    assert list(slices) == ["branch1x1", "branch3x3", "branch5x5", "branch_pool"]
    for name, sl in slices.items():
        assert torch.equal(out[:, sl], getattr(block, name)(x)), name


def test_inception_five_by_five_branch_is_two_threes_after_a_reduce() -> None:
    block = Inception(6, 4, 8, 2, 3, dims=2)
    convs = [m for m in block.branch5x5.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1), (3, 3), (3, 3)]
    pool = block.branch_pool.pool
    assert isinstance(pool, nn.MaxPool2d) and pool.kernel_size == 3 and pool.stride == 1


def attention(dropout: float = 0.0) -> MultiHeadSelfAttention:
    torch.manual_seed(0)
    return MultiHeadSelfAttention(dim=16, heads=4, dropout=dropout).eval()


def test_attention_shapes_and_rows_sum_to_one() -> None:
    attn = attention()
    out, weights = attn(rand(3, 5, 16), return_weights=True)
    assert out.shape == (3, 5, 16) and weights.shape == (3, 4, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 5), atol=1e-6)
    assert (weights >= 0).all()


def test_attention_weights_are_softmax_of_scaled_query_key_products() -> None:
    attn = attention()
    x = rand(2, 6, 16)
    _, weights = attn(x, return_weights=True)
    q, k, _ = attn.qkv_heads(x)  # each (B, H, T, D/H)
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(16 / 4), dim=-1)
    assert torch.allclose(weights, expected, atol=1e-6)


def causal(t: int) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).tril()


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float"])
def test_fused_and_explicit_attention_agree(mask_kind: str) -> None:
    attn = attention(dropout=0.3)  # eval mode: dropout must be off in both paths
    x = rand(2, 7, 16)
    mask = {
        "none": None,
        "bool": causal(7),
        "float": torch.zeros(7, 7).masked_fill(~causal(7), -math.inf),
    }[mask_kind]
    fused = attn(x, mask)
    explicit, weights = attn(x, mask, return_weights=True)
    assert torch.allclose(fused, explicit, atol=1e-5)
    if mask is not None:
        assert (weights[..., ~causal(7)] == 0).all()


def test_keep_weights_stores_a_detached_copy() -> None:
    attn = attention()
    x = rand(
        2,
        5,
        16,
    ).requires_grad_()
    fused = attn(x)
    assert attn.last_weights is None
    attn.keep_weights = True
    out = attn(x)
    assert attn.last_weights is not None and attn.last_weights.shape == (2, 4, 5, 5)
    assert not attn.last_weights.requires_grad
    assert torch.allclose(out, fused, atol=1e-5)


def test_attention_dropout_acts_only_in_training() -> None:
    attn = attention(dropout=0.5)
    x = rand(2, 5, 16)
    assert torch.equal(attn(x), attn(x))
    attn.train()
    torch.manual_seed(1)
    a = attn(x, return_weights=True)[0]
    b = attn(x, return_weights=True)[0]
    assert not torch.allclose(a, b)


def test_transformer_block_keeps_shape_and_exposes_attention() -> None:
    block = TransformerBlock(dim=16, heads=2, mlp_ratio=2.0, dropout=0.1).eval()
    x = rand(3, 9, 16)
    out = block(x)
    assert out.shape == x.shape
    block.attn.keep_weights = True
    assert torch.allclose(block(x), out, atol=1e-5)
    assert block.attn.last_weights is not None
    assert block.attn.last_weights.shape == (3, 2, 9, 9)


def test_patch_embed_tokens_follow_the_grid_row_major() -> None:
    embed = PatchEmbed(in_ch=3, patch=4, dim=10, image_size=(8, 12))
    assert embed.grid == (2, 3) and embed.num_patches == 6
    x = rand(2, 3, 8, 12)
    out = embed(x)
    assert out.shape == (2, 6, 10)
    y = x.clone()
    y[:, :, 4:8, 4:8] += 1.0  # patch at grid row 1, column 1 -> token 1 * 3 + 1
    changed = (embed(y) - out).abs().sum(dim=(0, 2)) > 0
    assert changed.tolist() == [False, False, False, False, True, False]


def test_patch_embed_rejects_a_patch_that_does_not_divide_the_image() -> None:
    with pytest.raises(ValueError, match="must divide"):
        PatchEmbed(1, 3, 8, 8)
