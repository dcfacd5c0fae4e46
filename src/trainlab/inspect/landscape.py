"""Loss-landscape slices along filter-normalised random directions (Li et al. 2018) and a simple
curvature summary. Biases and norm parameters stay fixed; the model's weights are restored after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.inspect.flow import restored
from trainlab.inspect.probes import eval_mode


@dataclass
class Slice:
    """Loss (and accuracy) on a 1-D line or a 2-D plane through the trained weights."""

    alphas: np.ndarray  # (n,) steps along direction 1, in units of the filter norms
    betas: np.ndarray | None  # (m,) along direction 2 (2-D only)
    loss: np.ndarray  # (n,) or (n, m)
    acc: np.ndarray  # same shape as loss


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """A Gaussian direction, one tensor per parameter, each filter (output row of a weight) scaled
    to the norm of the same filter of the weights. Parameters with ndim <= 1 get zeros."""
    out = []
    for p in model.parameters():
        if p.ndim <= 1:
            out.append(torch.zeros_like(p))
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        w_norm = p.detach().flatten(1).norm(dim=1)  # (out,) one norm per filter
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        out.append(d * (w_norm / d_norm).view(-1, *([1] * (p.ndim - 1))))
    return out


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def loss_slice(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dims: int = 1,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
) -> Slice:
    """Loss on θ + α·d1 (+ β·d2) for α, β in [-span, span], `steps` points each, in eval mode
    (batch norm uses its running statistics). Weights, buffers and mode are restored after."""
    gen = torch.Generator().manual_seed(seed)
    d1 = filter_normalized_direction(model, gen)
    d2 = filter_normalized_direction(model, gen) if dims == 2 else None
    alphas = np.linspace(-span, span, steps)
    betas = alphas.copy() if dims == 2 else np.zeros(1)
    loss = np.zeros((steps, len(betas)))
    acc = np.zeros_like(loss)
    with restored(model), eval_mode(model):
        params = list(model.parameters())
        theta = [p.detach().clone() for p in params]
        for i, a in enumerate(alphas):
            for j, b in enumerate(betas):
                for p, t, u, k in zip(params, theta, d1, d2 or d1, strict=True):
                    p.copy_(t + float(a) * u + (float(b) * k if d2 is not None else 0.0))
                loss[i, j], acc[i, j] = _evaluate(model, x, y)
    if dims == 1:
        return Slice(alphas, None, loss[:, 0], acc[:, 0])
    return Slice(alphas, betas, loss, acc)


def curvature(alphas: np.ndarray, loss: np.ndarray, radius: float = 0.25) -> dict[str, float]:
    """Quadratic fit L ≈ c + bα + ½kα² over |α| <= radius: `curvature` k; `sharpness` is the
    largest rise over the centre loss within the radius; `loss0` the loss at α = 0."""
    near = np.abs(alphas) <= radius + 1e-12
    if near.sum() < 3:
        near = np.argsort(np.abs(alphas))[:3]
    a, lo = alphas[near], loss[near]
    k2, _, _ = np.polyfit(a, lo, 2)
    centre = float(loss[np.argmin(np.abs(alphas))])
    return {"curvature": float(2 * k2), "sharpness": float(lo.max() - centre), "loss0": centre}
