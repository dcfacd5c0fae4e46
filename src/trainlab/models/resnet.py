"""CIFAR-style pre-activation ResNet (depth 6n+2, three stages), its plain twin without skips, and
ResNet-18 with the CIFAR stem."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from trainlab.blocks import BasicBlock, ResidualBlock
from trainlab.blocks.conv import conv_layer, global_avg_pool, norm_layer
from trainlab.data.spec import DataSpec
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import check_bool, check_int, option_error, register_model


def _resnet(
    spec: DataSpec, depth: int, width: int, dropout: float, skip: bool, zero_init: bool
) -> nn.Module:
    """features = stem -> stage1..3 (n blocks each) -> norm -> act -> pool -> flatten; head = dropout -> linear.

    Stage k has width * 2**(k-1) channels; stages 2 and 3 start with stride 2. Shapes for a
    (B, C, 28, 28) image with width 16: stem (B, 16, 28, 28), stage1 (B, 16, 28, 28),
    stage2 (B, 32, 14, 14), stage3 (B, 64, 7, 7), features (B, 64). Signals use 1-D convs.
    """
    depth = check_int("depth", depth, minimum=8)
    width = check_int("width", width)
    if (depth - 2) % 6:
        raise option_error("depth", depth, "must be 6n+2 (8, 14, 20, 26, 32, 44, 56, ...)")
    n = (depth - 2) // 6
    dims = len(spec.input_shape) - 1
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        stem=conv_layer(dims, spec.input_shape[0], width, 3, bias=False)
    )
    in_ch = width
    for stage in (1, 2, 3):
        out_ch = width * 2 ** (stage - 1)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for b in range(1, n + 1):
            stride = 2 if stage > 1 and b == 1 else 1
            blocks[f"block{b}"] = ResidualBlock(in_ch, out_ch, stride, dims, skip, zero_init)
            in_ch = out_ch
        layers[f"stage{stage}"] = nn.Sequential(blocks)
    # Pre-activation blocks end in a conv, so the net needs one last norm + activation.
    layers["norm"] = norm_layer(dims, in_ch)
    layers["act"] = nn.ReLU()
    layers["pool"] = global_avg_pool(dims)
    layers["flatten"] = nn.Flatten()
    return Classifier(nn.Sequential(layers), Head(in_ch, spec.num_classes, dropout))


@register_model("resnet", ("image", "signal"), "pre-activation ResNet, depth 6n+2, three stages")
def resnet(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    depth: int = 20,  # 6n+2 layers with weights: n residual blocks of 2 convs per stage
    width: int = 16,  # channels of stage 1; stages 2 and 3 double it
    zero_init: bool = False,  # zero each branch's last conv: every block starts as the identity
) -> nn.Module:
    """ResNet-{depth} (He et al. 2016) with pre-activation blocks."""
    return _resnet(spec, depth, width, dropout, True, check_bool("zero_init", zero_init))


@register_model("plainnet", ("image", "signal"), "the resnet's layers with every skip removed")
def plainnet(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    depth: int = 20,
    width: int = 16,
) -> nn.Module:
    """The resnet with skip=False: same layers, names and parameters (projections unused).

    No zero_init option: a plain block with a zeroed branch would output zeros.
    """
    return _resnet(spec, depth, width, dropout, False, False)


@register_model("resnet18", ("image",), "ResNet-18 with the CIFAR stem (3×3 conv, no max-pool)")
def resnet18(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    width: int = 64,  # channels of stage 1; stages 2..4 double it (64-128-256-512)
) -> nn.Module:
    """ResNet-18 (He et al. 2016) as trained on CIFAR-10 (e.g. github.com/kuangliu/pytorch-cifar):
    features = stem (3×3 conv, norm, relu; no max-pool) -> stage1..4 (two BasicBlocks each,
    stride 1, 2, 2, 2) -> pool -> flatten; head = dropout -> linear. 11,173,962 parameters for
    10 classes. Shapes for (B, 3, 32, 32): stem (B, 64, 32, 32), stage1 (B, 64, 32, 32),
    stage2 (B, 128, 16, 16), stage3 (B, 256, 8, 8), stage4 (B, 512, 4, 4), features (B, 512).
    """
    width = check_int("width", width)
    stem = OrderedDict(
        conv=conv_layer(2, spec.input_shape[0], width, 3, bias=False),
        norm=norm_layer(2, width),
        act=nn.ReLU(),
    )
    layers: OrderedDict[str, nn.Module] = OrderedDict(stem=nn.Sequential(stem))
    in_ch = width
    for stage in (1, 2, 3, 4):
        out_ch = width * 2 ** (stage - 1)
        stride = 1 if stage == 1 else 2
        layers[f"stage{stage}"] = nn.Sequential(
            OrderedDict(block1=BasicBlock(in_ch, out_ch, stride), block2=BasicBlock(out_ch, out_ch))
        )
        in_ch = out_ch
    layers["pool"] = global_avg_pool(2)
    layers["flatten"] = nn.Flatten()
    return Classifier(nn.Sequential(layers), Head(in_ch, spec.num_classes, dropout))
