"""Model zoo built from blocks: a plain dict registry, `build(name, spec, **options)`, `list_models()`."""

from trainlab.models.registry import ModelInfo, build, compatible, list_models, register_model

__all__ = ["ModelInfo", "build", "compatible", "list_models", "register_model"]
