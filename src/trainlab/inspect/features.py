"""Features: per-layer activation statistics, histograms and a few inputs' feature maps for the
blocks of a model (Dense, Conv, Residual, Inception, Attention), from one probe pass in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.blocks import (
    ConvBlock,
    Dense,
    Inception,
    MultiHeadSelfAttention,
    ResidualBlock,
    TransformerBlock,
)
from trainlab.inspect.probes import Probe, default_layers, eval_mode, select_modules

FEATURE_TYPES: tuple[type[nn.Module], ...] = (
    Dense,
    ConvBlock,
    ResidualBlock,
    Inception,
    TransformerBlock,
    MultiHeadSelfAttention,
    nn.TransformerEncoderLayer,
    nn.MultiheadAttention,
)
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Hardtanh,
    nn.Mish,
)
KEEP = 4  # inputs whose feature maps are kept (and drawn)


@dataclass
class FeatureInfo:
    """Numbers behind the feature figures; arrays are NumPy on the CPU."""

    layers: list[dict[str, Any]]  # one row per layer: mean, std, near_zero, dead, saturated, ...
    hists: dict[str, tuple[np.ndarray, np.ndarray]]  # layer -> (counts (bins,), edges (bins + 1,))
    maps: dict[
        str, np.ndarray
    ]  # layer -> kept outputs (k, C, L) | (k, C, H, W) | (k, T, D) | (k, F)
    inputs: np.ndarray  # (k, *input_shape): the inputs the maps belong to
    unit_axis: int  # channel axis of 3-D maps: 1 for (k, C, L), -1 for (k, T, D)


def feature_layers(model: nn.Module) -> list[str]:
    """Outermost blocks of FEATURE_TYPES; else the activation modules; else the weight layers."""
    for types in (FEATURE_TYPES, ACTIVATION_TYPES):
        found = select_modules(model, types=types, outermost=True)
        if found:
            return list(found)
    return default_layers(model)


def feature_info(
    model: nn.Module,
    x: torch.Tensor,
    names: Iterable[str] | None = None,
    types: tuple[type[nn.Module], ...] | None = None,
    keep: int = KEEP,
    batch_size: int = 256,
) -> FeatureInfo:
    """Probe `model` on inputs `x` (N, ...) in eval mode, batch by batch; keep the first `keep`.

    Layers: `names` and/or `types`, else `feature_layers(model)`. Statistics stream over all N.
    """
    chosen = list(names) if names is not None else None
    if chosen is None and types is None:
        chosen = feature_layers(model)
    probe = Probe(model, chosen, types, keep=keep, outermost=types is not None)
    with probe, eval_mode(model):
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    maps = {}
    for name, s in probe.stats.items():
        kept = s.kept_tensor()
        if kept is not None:
            maps[name] = kept.float().numpy()
    return FeatureInfo(
        layers=probe.table(),
        hists={n: (s.hist.counts.copy(), s.hist.edges) for n, s in probe.stats.items() if s.calls},
        maps=maps,
        inputs=x[:keep].detach().float().cpu().numpy(),
        unit_axis=probe.unit_axis,
    )
