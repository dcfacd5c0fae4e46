"""Model zoo built from blocks: a plain dict registry, `build(name, spec, **options)`, `list_models()`."""

# Importing the builder modules registers their models.
from trainlab.models import cnn, inception, mlp, recurrent, resnet, transformer  # noqa: F401
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import ModelInfo, build, compatible, list_models, register_model

__all__ = [
    "Classifier",
    "Head",
    "ModelInfo",
    "build",
    "compatible",
    "list_models",
    "register_model",
]
