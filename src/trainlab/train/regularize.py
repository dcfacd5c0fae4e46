"""Explicit loss penalties: L1 and coupled L2 on weights (biases and norm parameters excluded)."""

from __future__ import annotations

import torch
from torch import nn

from trainlab.config import RegularizeConfig


def penalized_params(model: nn.Module) -> list[nn.Parameter]:
    """Weight matrices and kernels (ndim > 1): the parameters L1/L2 act on; not biases or norms."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim > 1]


def penalizes(params: list[nn.Parameter], cfg: RegularizeConfig) -> bool:
    """Whether `penalty` adds anything: some weights, and L1 or L2 on."""
    return bool(params) and (cfg.l1 != 0 or cfg.l2 != 0)


def penalty(params: list[nn.Parameter], cfg: RegularizeConfig) -> torch.Tensor | None:
    """l1 * sum|w| + l2 / 2 * sum w^2 over `params`, or None when both are off (no extra work)."""
    return penalty_term(params, cfg) if penalizes(params, cfg) else None


def penalty_term(params: list[nn.Parameter], cfg: RegularizeConfig) -> torch.Tensor:
    """l1 * sum|w| + l2 / 2 * sum w^2 over `params` (a non-empty list; see `penalizes`)."""
    total = params[0].new_zeros(())
    if cfg.l1:
        total = total + cfg.l1 * sum(p.abs().sum() for p in params)
    if cfg.l2:
        total = total + 0.5 * cfg.l2 * sum(p.pow(2).sum() for p in params)
    return total


def weight_norm(model: nn.Module) -> float:
    """Global L2 norm of the penalised weights (a regularization study's measure)."""
    with torch.no_grad():
        sq = sum(float(p.pow(2).sum()) for p in penalized_params(model))
    return float(sq) ** 0.5
