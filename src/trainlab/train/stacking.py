"""k models of one architecture as one module: each layer that holds parameters is replaced by a
stacked twin whose tensors carry a leading member axis, and one forward runs all k members.

Activations travel member-major as (k·B, ...): member j owns rows j·B .. (j+1)·B. Per-sample
layers (activations, dropout, pooling, flatten) run unchanged on that layout; a linear layer is
one batched matmul, a convolution one grouped convolution (groups = k), a batch norm one batch
norm over k·C channels, so each member gets its own statistics and running buffers. This does per
operator what `torch.func.vmap` does, without its per-call dispatch and batching rules (what that
gains, measured by `benchmarks/vectorized_seeds.py`: the README's "Throughput and scale-out").

`stack_modules` refuses (raising `Unsupported`, naming the module) any layer it does not know:
a layer that mixes samples other than batch norm, or holds parameters of its own, would silently
couple the members.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import stack_module_state
from torch.nn import functional as F


class Unsupported(Exception):
    """This group cannot train as one stacked model (raised before anything is stored)."""


# Layers without parameters that treat every sample on its own: safe on the (k·B, ...) layout.
PER_SAMPLE = (
    nn.Identity, nn.Flatten, nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.ELU,
    nn.LeakyReLU, nn.Softplus, nn.Mish, nn.Hardswish, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
)  # fmt: skip


def to_channels(x: torch.Tensor, k: int) -> torch.Tensor:
    """(k·B, C, ...) -> (B, k·C, ...): the members side by side as channel groups."""
    kb, c, *rest = x.shape
    return x.view(k, kb // k, c, *rest).transpose(0, 1).reshape(kb // k, k * c, *rest)


def from_channels(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, k·C, ...) -> (k·B, C, ...)."""
    b, kc, *rest = x.shape
    return x.view(b, k, kc // k, *rest).transpose(0, 1).reshape(k * b, kc // k, *rest)


class StackedLinear(nn.Module):
    """k `nn.Linear`: weight (k, out, in), bias (k, out); x (k·B, ..., in) -> (k·B, ..., out)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.k = weight.shape[0]
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead, width = x.shape[:-1], x.shape[-1]
        xs = x.reshape(self.k, -1, width)
        wt = self.weight.transpose(1, 2)
        y = torch.bmm(xs, wt) if self.bias is None else torch.baddbmm(self.bias[:, None], xs, wt)
        return y.reshape(*lead, y.shape[-1])


class StackedConv(nn.Module):
    """k `nn.Conv1d`/`nn.Conv2d` as one convolution with k times the groups."""

    def __init__(
        self, conv: nn.Conv1d | nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None
    ):
        super().__init__()
        if conv.padding_mode != "zeros":
            raise Unsupported(f"padding_mode {conv.padding_mode!r} (only 'zeros' is stacked)")
        self.k = weight.shape[0]
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)
        self.fn = F.conv1d if isinstance(conv, nn.Conv1d) else F.conv2d
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups = conv.groups * self.k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(-1, *self.weight.shape[2:])
        b = None if self.bias is None else self.bias.reshape(-1)
        y = self.fn(to_channels(x, self.k), w, b, self.stride, self.padding, self.dilation, self.groups)  # fmt: skip
        return from_channels(y, self.k)


class StackedBatchNorm(nn.Module):
    """k batch norms as one over k·C channels: each member normalises by its own batch and keeps
    its own running statistics (buffers (k, C), updated in place as `nn.BatchNorm` does)."""

    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:  # fmt: skip
        super().__init__()
        if not bn.track_running_stats or bn.momentum is None:
            raise Unsupported("a batch norm without running statistics or with momentum=None")
        self.k = b["running_mean"].shape[0]
        self.eps, self.momentum = bn.eps, bn.momentum
        self.weight = nn.Parameter(p["weight"]) if "weight" in p else None
        self.bias = nn.Parameter(p["bias"]) if "bias" in p else None
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, b[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        w = None if self.weight is None else self.weight.reshape(-1)
        b = None if self.bias is None else self.bias.reshape(-1)
        y = F.batch_norm(
            to_channels(x, self.k), self.running_mean.view(-1), self.running_var.view(-1),
            w, b, self.training, self.momentum, self.eps,
        )  # fmt: skip
        return from_channels(y, self.k)


def stack_modules(models: Sequence[nn.Module]) -> nn.Module:
    """One module computing all of `models` (same architecture) on (k·B, ...) inputs; its
    parameters and buffers keep the lone model's names, with a leading member axis."""
    if any(True for _ in models[0].parameters(recurse=False)):
        raise Unsupported(f"{type(models[0]).__name__} holds parameters outside its layers")
    params, buffers = stack_module_state(list(models))  # (k, ...) copies, detached
    stacked = copy.deepcopy(models[0])
    _replace(stacked, "", params, buffers)
    return stacked


def _replace(module: nn.Module, prefix: str, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> None:  # fmt: skip
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        own = {n: params[f"{path}.{n}"] for n, _ in child.named_parameters(recurse=False)}
        bufs = {n: buffers[f"{path}.{n}"] for n, _ in child.named_buffers(recurse=False)}
        if isinstance(child, nn.Linear):
            setattr(module, name, StackedLinear(own["weight"], own.get("bias")))
        elif isinstance(child, nn.Conv1d | nn.Conv2d):
            setattr(module, name, StackedConv(child, own["weight"], own.get("bias")))
        elif isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            setattr(module, name, StackedBatchNorm(child, own, bufs))
        elif isinstance(child, nn.Dropout) and child.p == 0:
            setattr(module, name, nn.Identity())  # the identity, without drawing a mask
        elif isinstance(child, nn.Flatten) and child.start_dim == 0:
            raise Unsupported(f"{path} flattens the batch axis")
        elif own or bufs:
            raise Unsupported(f"{path} ({type(child).__name__}) holds tensors of its own")
        elif not list(child.children()) and not isinstance(child, PER_SAMPLE):
            raise Unsupported(f"{path} ({type(child).__name__}) is not a known per-sample layer")
        else:
            _replace(child, f"{path}.", params, buffers)
