"""What `trainlab models` lists, as a static table: listing the zoo must not import torch (about
2 s). `tests/test_models.py` checks the table against the registered builders, so it cannot drift.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

KINDS = ("image", "signal", "tokens", "vector")


@dataclass(frozen=True)
class ModelInfo:
    """What `trainlab models` lists: the data kinds a model takes and its option names."""

    name: str
    kinds: tuple[str, ...]
    description: str
    options: tuple[str, ...]


CATALOG = (
    ModelInfo(
        "cnn",
        ("image", "signal"),
        "conv blocks + flatten + linear (1-D on signals)",
        ("width", "depth", "kernel", "norm"),
    ),
    ModelInfo(
        "gru",
        ("signal", "tokens"),
        "GRU over the sequence + linear readout",
        ("hidden", "layers", "bidirectional", "readout"),
    ),
    ModelInfo(
        "inception",
        ("image", "signal"),
        "conv stem + Inception blocks + global pool",
        ("width", "depth"),
    ),
    ModelInfo(
        "logreg",
        ("image", "signal", "vector"),
        "flatten + one linear layer (softmax regression)",
        (),
    ),
    ModelInfo(
        "mlp",
        ("image", "signal", "vector"),
        "flatten + `depth` hidden Dense layers",
        ("width", "depth", "activation", "norm"),
    ),
    ModelInfo(
        "plainnet",
        ("image", "signal"),
        "the resnet's layers with every skip removed",
        ("depth", "width"),
    ),
    ModelInfo(
        "resnet",
        ("image", "signal"),
        "pre-activation ResNet, depth 6n+2, three stages",
        ("depth", "width", "zero_init"),
    ),
    ModelInfo(
        "resnet18",
        ("image",),
        "ResNet-18 with the CIFAR stem (3×3 conv, no max-pool)",
        ("width",),
    ),
    ModelInfo(
        "transformer",
        ("tokens",),
        "token embedding + learned positions + encoder blocks",
        ("dim", "depth", "heads", "mlp_ratio", "pool"),
    ),
    ModelInfo(
        "vit",
        ("image",),
        "vision transformer: patch embedding + CLS + encoder blocks",
        ("patch", "dim", "depth", "heads", "mlp_ratio", "pool"),
    ),
    ModelInfo(
        "vit_tiny",
        ("image",),
        "ViT-Tiny for 32×32: patch 4, dim 192, 12 blocks, 3 heads",
        ("patch", "dim", "depth", "heads", "mlp_ratio", "pool"),
    ),
)


def list_models() -> list[ModelInfo]:
    """Every built-in model (and any registered in this process), sorted by name, without
    importing torch."""
    found = {m.name: m for m in CATALOG}
    registry = sys.modules.get("trainlab.models.registry")
    if registry is not None:  # models a user registered: listed once the registry is in use
        for info, _ in registry._MODELS.values():
            found.setdefault(info.name, info)
    return [found[n] for n in sorted(found)]
