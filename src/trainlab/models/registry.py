"""Model registry: name -> builder(spec, *, dropout, **options); options come from the signature.

Builders validate their option values with the `check_*` functions here, so every bad value raises
one `ConfigError` that names `model.options.X`, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from torch import nn

from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError
from trainlab.models.catalog import KINDS, ModelInfo
from trainlab.provenance import is_import_path

B = TypeVar("B", bound=Callable[..., nn.Module])

_MODELS: dict[str, tuple[ModelInfo, Callable[..., nn.Module]]] = {}


def _option_names(builder: Callable[..., nn.Module]) -> tuple[str, ...]:
    params = inspect.signature(builder).parameters.values()
    # `dropout` is set from regularize.dropout, not from model.options.
    return tuple(
        p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "dropout"
    )


def register_model(name: str, kinds: Iterable[str], description: str) -> Callable[[B], B]:
    """Decorator: register `builder(spec, *, dropout=0.0, **options) -> nn.Module` under `name`."""
    kinds = tuple(kinds)
    if unknown := set(kinds) - set(KINDS):
        raise ValueError(f"model {name!r}: unknown kinds {sorted(unknown)}; kinds are {KINDS}")

    def decorate(builder: B) -> B:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        if "dropout" not in inspect.signature(builder).parameters:
            raise ValueError(f"builder of model {name!r} must take a keyword `dropout`")
        _MODELS[name] = (ModelInfo(name, kinds, description, _option_names(builder)), builder)
        return builder

    return decorate


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


@functools.cache
def register_all() -> None:
    """Import the builder modules (registering their models) on first use, not at import time."""
    from trainlab.models import cnn, inception, mlp, recurrent, resnet, transformer  # noqa: F401


def _lookup(name: str) -> tuple[ModelInfo, Callable[..., nn.Module]]:
    register_all()
    if name not in _MODELS:
        names = sorted(_MODELS)
        raise ConfigError(
            f"model.name={name!r}: unknown model; {_suggest(name, names)}"
            f"choose one of {', '.join(names)}"
        )
    return _MODELS[name]


def registered_models() -> list[ModelInfo]:
    """Every registered model (built-ins and any registered later), sorted by name."""
    register_all()
    return [_MODELS[n][0] for n in sorted(_MODELS)]


def compatible(name: str, spec: DataSpec) -> bool:
    """Whether model `name` takes data of `spec.kind` (a user's model by import path: assumed)."""
    if is_import_path(name):
        return True
    return spec.kind in _lookup(name)[0].kinds


def build(name: str, spec: DataSpec, **options: Any) -> nn.Module:
    """Build model `name` for data `spec`; `dropout` and model options are keywords.

    Raises ConfigError for an unknown model, an option it doesn't take, data it can't take, or a
    bad option value. `name` may be an import path (`file.py:Class`, `pkg.mod:make`).
    """
    if is_import_path(name):
        from trainlab.models.user import build_from_path

        return build_from_path(name, spec, float(options.pop("dropout", 0.0)), options)
    info, builder = _lookup(name)
    allowed = (*info.options, "dropout")
    for key in options:
        if key not in allowed:
            raise ConfigError(
                f"model.options.{key}: not an option of model {name!r}; {_suggest(key, allowed)}"
                f"allowed: {', '.join(info.options) or '(none)'}"
            )
    if spec.kind not in info.kinds:
        raise ConfigError(
            f"model {name!r} does not take {spec.kind} data (dataset {spec.name!r}); "
            f"it takes: {', '.join(info.kinds)}"
        )
    dropout = options.get("dropout", 0.0)
    if not isinstance(dropout, int | float) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ConfigError(f"regularize.dropout={dropout!r}: must be a number in [0, 1)")
    return builder(spec, **options)


def check_int(option: str, value: object, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or ConfigError naming model.options.<option>."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"model.options.{option}={value!r}: must be an integer >= {minimum}")
    return value


def check_float(option: str, value: object, low: float, high: float) -> float:
    """`value` as a float in (low, high], or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise ConfigError(f"model.options.{option}={value!r}: must be a number in ({low}, {high}]")
    return float(value)


def check_bool(option: str, value: object) -> bool:
    """`value` as a bool (YAML true/false), or ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"model.options.{option}={value!r}: must be true or false")
    return value


def check_choice(option: str, value: object, choices: Iterable[str]) -> str:
    """`value` as one of `choices`, or ConfigError listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"model.options.{option}={value!r}: {_suggest(str(value), choices)}"
            f"choose one of {', '.join(choices)}"
        )
    return value


def option_error(option: str, value: object, allowed: str) -> ConfigError:
    """A ConfigError for a value that fails a model-specific rule; `allowed` says what passes."""
    return ConfigError(f"model.options.{option}={value!r}: {allowed}")
