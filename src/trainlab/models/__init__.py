"""Model zoo built from blocks: a plain dict registry, `build(name, spec, **options)`, `list_models()`.

`list_models` reads a static catalog (no torch import); everything else imports the builders
when first used. `model.name` may also be the user's own class by import path (`file.py:Class`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainlab.models.catalog import ModelInfo, list_models

if TYPE_CHECKING:
    from trainlab.models.classifier import Classifier, Head
    from trainlab.models.registry import build, compatible, register_model

__all__ = [
    "Classifier",
    "Head",
    "ModelInfo",
    "build",
    "compatible",
    "list_models",
    "register_model",
]


def __getattr__(name: str) -> Any:
    if name in ("Classifier", "Head"):
        from trainlab.models import classifier

        return getattr(classifier, name)
    if name in ("build", "compatible", "register_model"):
        from trainlab.models import registry

        registry.register_all()
        return getattr(registry, name)
    raise AttributeError(f"module 'trainlab.models' has no attribute {name!r}")
