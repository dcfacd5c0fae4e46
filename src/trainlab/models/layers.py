"""A model's layers by name: the modules a probe or a recorder attaches to (by exact name from
`named_modules()` or by type), the default set a recorder watches, and a module's main output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trainlab.errors import ConfigError


def select_modules(
    model: nn.Module,
    names: Iterable[str] | None = None,
    types: tuple[type[nn.Module], ...] | None = None,
    outermost: bool = False,
) -> dict[str, nn.Module]:
    """Modules by exact name (as in `model.named_modules()`) and/or by type, in model order.

    `outermost` skips matches by type nested inside another match (Inception's inner ConvBlocks).
    """
    every = dict(model.named_modules())
    chosen: dict[str, nn.Module] = {}
    for name in names or ():
        if name not in every or name == "":
            near = [n for n in every if n and (name in n or n in name)][:8]
            hint = ", ".join(near or [n for n in every if n and "." not in n][:12])
            raise ConfigError(f"layer {name!r} is not a module of the model; e.g. {hint}")
        chosen[name] = every[name]
    if types:
        for name, module in every.items():
            if not isinstance(module, types) or not name:
                continue
            if outermost and any(name.startswith(c + ".") for c in chosen):
                continue
            chosen.setdefault(name, module)
    order = list(every)
    return dict(sorted(chosen.items(), key=lambda kv: order.index(kv[0])))


def first_tensor(output: Any) -> torch.Tensor | None:
    """The module's main output: the tensor itself, or the first tensor of a tuple/list."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def default_layers(model: nn.Module) -> list[str]:
    """The layers a recorder watches when none are named.

    Zoo models (with `features` and `head`): the parameterised children of `features` (a plain
    container of several such blocks, like a resnet stage, is opened one level) and the head.
    Other models: every leaf module with a weight matrix or kernel (Linear, Conv, Embedding).
    """
    features, head = getattr(model, "features", None), getattr(model, "head", None)
    if isinstance(features, nn.Module) and isinstance(head, nn.Module):
        names: list[str] = []
        for name, child in features.named_children():
            inner = [n for n, m in child.named_children() if _has_params(m)]
            if type(child) in (nn.Sequential, nn.ModuleList, nn.ModuleDict) and len(inner) > 1:
                names += [f"features.{name}.{n}" for n in inner]
            elif _has_params(child):
                names.append(f"features.{name}")
        if _has_params(head):
            names.append("head")
        if names:
            return names
    return [
        n
        for n, m in model.named_modules()
        if n and not list(m.children()) and any(p.ndim > 1 for p in m.parameters(recurse=False))
    ]


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def unhook(handles: list[Any], fastpath: bool | None) -> None:
    """Remove every hook in `handles` (the list is emptied) and put back the attention fast-path
    setting saved when they were attached (None: it was not changed)."""
    for handle in handles:
        handle.remove()
    handles.clear()
    if fastpath is not None:
        torch.backends.mha.set_fastpath_enabled(fastpath)
