"""Residual flow, the tools of the residual inspection: per block ‖F(x)‖/‖x‖ and activation size
vs depth, per-layer gradient norms, lesions (one block removed at test time) and the activation
std per layer at initialisation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.errors import ConfigError
from trainlab.inspect.probes import Probe, batch_norms, eval_mode

INITS = ("default", "xavier", "kaiming")  # weight inits `init_std` compares


def residual_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """Modules with a `branch` and a `shortcut` (our ResidualBlock, or a user's block shaped alike)."""
    found = {
        n: m
        for n, m in model.named_modules()
        if isinstance(getattr(m, "branch", None), nn.Module)
        and isinstance(getattr(m, "shortcut", None), nn.Module)
    }
    if not found:
        raise ConfigError(
            f"{type(model).__name__} has no residual blocks (modules with `branch` and `shortcut`); "
            "use model.name=resnet or plainnet"
        )
    return found


def part(block: nn.Module, name: str) -> nn.Module:
    """A block's `branch` or `shortcut` submodule."""
    sub = getattr(block, name)
    assert isinstance(sub, nn.Module)
    return sub


def reference(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What F(x) is compared with: shortcut(x) in a residual block, x itself in a plain one."""
    out: torch.Tensor = part(block, "shortcut")(x) if getattr(block, "skip", True) else x
    return out


def _rms(t: torch.Tensor) -> torch.Tensor:
    """Per-sample root mean square: (B, ...) -> (B,)."""
    return t.flatten(1).pow(2).mean(1).sqrt()


def residual_flow(
    model: nn.Module, x: torch.Tensor, batch_stats: bool = False
) -> list[dict[str, Any]]:
    """Per residual block, in eval mode: mean over samples of ‖F(x)‖/‖ref‖ (`ratio`, ref as in
    `reference`), and the RMS of the block's input and output (activation size vs depth).

    `batch_stats`: batch norm uses the batch's statistics (for a net at initialisation).
    """
    blocks = residual_blocks(model)
    rows: dict[str, dict[str, Any]] = {}
    handles = []

    def hook(name: str) -> Any:
        def fn(block: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            inp = args[0]
            f = part(block, "branch")(inp)
            ref = reference(block, inp)
            ratio = f.flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(1e-12)
            rows[name] = {
                "block": name,
                "ratio": float(ratio.mean()),
                "in_rms": float(_rms(inp).mean()),
                "out_rms": float(_rms(out).mean()),
                "skip": bool(getattr(block, "skip", True)),
            }

        return fn

    try:
        handles = [b.register_forward_hook(hook(n)) for n, b in blocks.items()]
        with eval_mode(model), batch_norms(model, batch_stats):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return [rows[n] for n in blocks if n in rows]


@contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Whatever happens inside, the model's parameters, buffers and mode are put back after."""
    state = copy.deepcopy(model.state_dict())
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        model.load_state_dict(state)
        for m, was in modes:
            m.training = was


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every weight matrix or kernel (ndim > 1), in model order."""
    return [(n, p) for n, p in model.named_parameters() if p.ndim > 1 and p.requires_grad]


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[tuple[str, float]]:
    """‖∂loss/∂W‖ of every weight layer on one batch, in training mode (batch-norm statistics of
    the batch), first layer first. Weights, buffers, grads and mode are restored."""
    grads_before = {n: p.grad for n, p in model.named_parameters()}
    with restored(model):
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        # Unused weights (a plain block's projection) have no gradient and are left out.
        out = [(n, float(p.grad.norm())) for n, p in weight_layers(model) if p.grad is not None]
    for n, p in model.named_parameters():
        p.grad = grads_before[n]
    return out


def lesion(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> list[dict[str, Any]]:
    """Test accuracy with one block removed at a time (Veit et al. 2016): a residual block then
    passes only shortcut(x); a plain block passes x on (impossible if it changes shape: NaN)."""
    base = _accuracy(model, x, y, batch_size)
    rows: list[dict[str, Any]] = [{"block": "none", "acc": base, "drop": 0.0}]
    for name, block in residual_blocks(model).items():
        impossible: list[bool] = []

        def skip_block(
            m: nn.Module,
            args: tuple[torch.Tensor, ...],
            out: torch.Tensor,
            flag: list[bool] = impossible,
        ) -> torch.Tensor | None:
            ref = reference(m, args[0])
            if ref.shape != out.shape:
                flag.append(True)
                return None
            return ref

        handle = block.register_forward_hook(skip_block)
        try:
            acc = _accuracy(model, x, y, batch_size)
        finally:
            handle.remove()
        acc = math.nan if impossible else acc
        rows.append({"block": name, "acc": acc, "drop": base - acc})
    return rows


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    with eval_mode(model):
        correct = sum(
            int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
            for i in range(0, len(x), batch_size)
        )
    return correct / len(x)


def reinit(model: nn.Module, init: str) -> nn.Module:
    """A copy of `model` with every Linear/Conv weight drawn by `init` (xavier: Glorot normal,
    kaiming: He normal for ReLU, default: as built) and their biases zeroed."""
    if init not in INITS:
        raise ConfigError(f"init={init!r}: choose one of {', '.join(INITS)}")
    twin = copy.deepcopy(model)
    if init == "default":
        return twin
    for m in twin.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            if init == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return twin


def init_std(
    model: nn.Module, x: torch.Tensor, layers: list[str], inits: tuple[str, ...] = INITS
) -> dict[str, list[float]]:
    """Activation std of each of `layers` on `x` for each init (training-mode batch norm, as in
    the first training step): init -> [std per layer]. The model itself is not touched."""
    out: dict[str, list[float]] = {}
    for init in inits:
        twin = reinit(model, init).train()
        with Probe(twin, layers, histograms=False, warn=False) as probe, torch.no_grad():
            twin(x)
        out[init] = [probe.stats[n].moments.std for n in layers]
    return out


def first_last_ratio(norms: list[tuple[str, float]]) -> float:
    """‖∂L/∂W‖ of the first weight layer over that of the last (the head)."""
    return norms[0][1] / norms[-1][1] if norms and norms[-1][1] > 0 else math.nan


def grad_norms(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> list[tuple[str, float]]:
    """Per weight layer, the mean of ‖∂L/∂W‖ over the batches of `batch_size` in `x` (training
    mode, as the optimizer sees them: one batch's norm is noisy, and batch norm makes it depend
    on the batch size)."""
    runs = [
        layer_grad_norms(model, x[i : i + batch_size], y[i : i + batch_size])
        for i in range(0, len(x), batch_size)
    ]
    return [(name, float(np.mean([r[j][1] for r in runs]))) for j, (name, _) in enumerate(runs[0])]


def along_depth(norms: list[tuple[str, float]]) -> list[float]:
    """The norms of the layers on the main path, input side first: shortcut projections run in
    parallel to a block (and are unused in a plain net), so layer k means the same in both nets."""
    return [v for name, v in norms if ".shortcut." not in f".{name}"]


def mean_drop(rows: list[dict[str, Any]]) -> float:
    """Mean accuracy drop over the lesions of one net (blocks that can't be removed left out)."""
    drops = [r["drop"] for r in rows if r["block"] != "none" and r["drop"] == r["drop"]]
    return float(np.mean(drops)) if drops else math.nan
