"""The user's own models: by import path (`file.py:Class`, `pkg.mod:Class`, or a function that
returns an nn.Module) from a config, and classes, factories or instances passed to `trainlab.run`.

A file is imported under a private module name keyed by its path and modification time, so worker
processes import the same file and an edited file is imported again.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from trainlab.config import RunConfig
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError
from trainlab.provenance import (
    code_digests,
    is_file_target,
    is_import_path,
    load_object,
    split_import_path,
)

UserModel = nn.Module | type[nn.Module] | Callable[..., nn.Module]  # what trainlab.run takes
SPEC_KEYWORDS = ("num_classes", "input_shape", "spec")  # passed from the data when taken


def build_from_path(
    name: str, spec: DataSpec, dropout: float, options: dict[str, Any]
) -> nn.Module:
    """Build the class or factory `name` with `options`, passing num_classes / input_shape / spec
    (and dropout) when its signature takes them."""
    obj = load_object(name)
    return construct(obj, spec, dropout, options, f"model.name={name!r}")


def construct(
    obj: Any, spec: DataSpec, dropout: float, options: dict[str, Any], what: str
) -> nn.Module:
    """Call a class or factory with the options and the spec keywords it takes."""
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ConfigError(f"{what}: {obj.__qualname__} is a class but not a torch.nn.Module")
    if not callable(obj):
        raise ConfigError(f"{what}: {obj!r} is not a class or a function returning an nn.Module")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    if not open_kwargs:
        for key in options:
            if key not in params:
                takes = [n for n in named if n not in (*SPEC_KEYWORDS, "dropout", "self")]
                raise ConfigError(
                    f"model.options.{key}: not an argument of {what.split('=', 1)[-1]}; "
                    f"it takes: {', '.join(takes) or '(none)'}"
                )
    kwargs = dict(options)
    given = {"num_classes": spec.num_classes, "input_shape": spec.input_shape, "spec": spec}
    for key, value in given.items():
        if key in params and key not in kwargs:
            kwargs[key] = value
    if "dropout" in params:
        kwargs.setdefault("dropout", dropout)
    elif dropout:
        raise ConfigError(f"regularize.dropout={dropout}: {what} takes no `dropout` argument")
    try:
        model = obj(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{what} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def describe(obj: Any) -> str:
    """`module.QualName` of a class, factory or instance."""
    kind = obj if isinstance(obj, type) or inspect.isfunction(obj) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def qualified_name(name: str) -> str:
    """The qualified name of what import path `name` builds: `Class` for a file (its module name
    is private), `pkg.mod.Class` for a module."""
    obj = load_object(name)
    if is_file_target(split_import_path(name)[0]):
        return str(getattr(obj, "__qualname__", split_import_path(name)[1]))
    return describe(obj)


def require_instance(model: object, where: str) -> None:
    """ConfigError when a class (or a function) is given where a built module is needed."""
    if model is not None and not isinstance(model, nn.Module):
        what = model.__qualname__ if isinstance(model, type) else type(model).__name__
        raise ConfigError(
            f"{where}: needs an instance of your module (e.g. {what}(...)), got {what}"
            if isinstance(model, type)
            else f"{where}: needs a torch.nn.Module instance, got {what}"
        )


def adopt(
    model: nn.Module | type[nn.Module] | Callable[..., nn.Module],
    spec: DataSpec,
    dropout: float,
    options: dict[str, Any],
) -> nn.Module:
    """What `trainlab.run(cfg, model=...)` trains, called after seeding.

    A class or factory is built now (so the seed governs its initial weights). An instance is
    re-initialised under the seed: `reset_parameters()` on every submodule that has one; a warning
    names the parameter-holding modules that have none (their weights stay as they came).
    """
    if isinstance(model, nn.Module):
        return reinitialise(model)
    return construct(model, spec, dropout, options, f"model={describe(model)}")


def reinitialise(model: nn.Module) -> nn.Module:
    """Call `reset_parameters()` on every submodule that has it; warn about the others."""
    missed = []
    for name, module in model.named_modules():
        # nn.MultiheadAttention names its initialiser `_reset_parameters`.
        reset = getattr(module, "reset_parameters", None) or getattr(
            module, "_reset_parameters", None
        )
        if callable(reset):
            reset()
        elif any(True for _ in module.parameters(recurse=False)):
            missed.append(name or type(module).__name__)
    if missed:
        warnings.warn(
            f"{type(model).__name__}: modules without reset_parameters() keep the weights they "
            f"came with, so the seed does not govern them: {', '.join(missed)}; pass the class "
            "or a factory instead",
            stacklevel=3,
        )
    return model


def adopt_user_model(
    cfg: RunConfig, model: nn.Module | type[nn.Module] | Callable[..., nn.Module], spec: DataSpec
) -> tuple[RunConfig, nn.Module]:
    """`trainlab.run(cfg, model=...)`, after seeding: build a class or factory (or re-initialise
    an instance, see `adopt`) and record it in the config as `user:<module>.<QualName>` with a
    digest of its architecture, so its runs share a hash only with runs of the same architecture."""
    built = adopt(model, spec, cfg.regularize.dropout, {})
    arch = hashlib.sha256(repr(built).encode()).hexdigest()[:12]
    name = f"user:{describe(model)}"
    return cfg.with_overrides({"model.name": name, "model.options": {"arch": arch}}), built


def code_record(cfg: RunConfig) -> dict[str, str]:
    """What a run records about the user's code and files (beside the environment): import path,
    qualified name and sha256 of the model source and of the data function or file."""
    out: dict[str, str] = {}
    digests = code_digests(cfg.model.name, cfg.data.name, cfg.data.options)
    if is_import_path(cfg.model.name):
        out |= {
            "model_import": cfg.model.name,
            "model_class": qualified_name(cfg.model.name),
            "model_sha256": digests["model_sha256"],
        }
    if is_import_path(cfg.data.name):
        out |= {"data_import": cfg.data.name, "data_code_sha256": digests["data_code_sha256"]}
    if "data_sha256" in digests:
        out["data_sha256"] = digests["data_sha256"]
    return out
