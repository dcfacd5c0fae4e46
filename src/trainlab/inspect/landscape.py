"""Loss landscapes (Li et al. 2018): slices along filter-normalised random directions or along the
first two PCA directions of a training trajectory (saved epoch by epoch), a simple curvature
summary, and sharpness as the top Hessian eigenvalue (power iteration on Hessian-vector products).
Random directions leave biases and norm parameters fixed; the model's weights are restored after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.errors import ConfigError
from trainlab.inspect.probes import eval_mode
from trainlab.inspect.flow import restored
from trainlab.train.callbacks import Callback


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
    out = loss_plane(model, x, y, d1, d2, alphas, alphas.copy() if dims == 2 else None)
    if dims == 1:
        return Slice(alphas, None, out.loss[:, 0], out.acc[:, 0])
    return out


def loss_plane(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    d1: list[torch.Tensor],
    d2: list[torch.Tensor] | None,
    alphas: np.ndarray,
    betas: np.ndarray | None,
) -> Slice:
    """Loss and accuracy on θ + α·d1 + β·d2 over the grid alphas x betas (one tensor per
    parameter in each direction; `d2`=None: a line, loss of shape (n, 1)), in eval mode;
    weights, buffers and mode are restored after."""
    grid_b = betas if betas is not None else np.zeros(1)
    loss = np.zeros((len(alphas), len(grid_b)))
    acc = np.zeros_like(loss)
    with restored(model), eval_mode(model):
        params = list(model.parameters())
        theta = [p.detach().clone() for p in params]
        for i, a in enumerate(alphas):
            for j, b in enumerate(grid_b):
                for p, t, u, k in zip(params, theta, d1, d2 or d1, strict=True):
                    p.copy_(t + float(a) * u + (float(b) * k if d2 is not None else 0.0))
                loss[i, j], acc[i, j] = _evaluate(model, x, y)
    return Slice(np.asarray(alphas), betas, loss, acc)


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


STATE_GLOB = "epoch-*.pt"


class EpochStates(Callback):
    """A training callback: the model's state_dict after each epoch, as `folder/epoch-NNN.pt`
    (the trajectory the PCA plane and the per-epoch sharpness are computed from)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(STATE_GLOB):  # a new training replaces the old trajectory
            old.unlink()

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        torch.save(model.state_dict(), self.folder / f"epoch-{epoch:03d}.pt")


def load_states(folder: Path, device: str = "cpu") -> list[dict[str, torch.Tensor]]:
    """The state_dicts `EpochStates` saved in `folder`, first epoch first."""
    return [
        torch.load(p, map_location=device, weights_only=True)
        for p in sorted(folder.glob(STATE_GLOB))
    ]


def _flat(model: nn.Module, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's parameters (not buffers) as they are in `state`, as one float64 vector."""
    return torch.cat(
        [state[n].detach().double().flatten().cpu() for n, _ in model.named_parameters()]
    )


def _unflat(model: nn.Module, v: torch.Tensor) -> list[torch.Tensor]:
    """A flat vector cut back into one tensor per parameter (dtype and device of the model's)."""
    out, at = [], 0
    for p in model.parameters():
        out.append(v[at : at + p.numel()].view_as(p).to(p.device, p.dtype))
        at += p.numel()
    return out


@dataclass
class Trajectory:
    """The first two PCA directions of a training trajectory (Li et al. 2018, §7) and each saved
    epoch's coordinates in that plane, the final weights at the origin."""

    d1: list[torch.Tensor]  # one tensor per parameter, unit norm over all of them together
    d2: list[torch.Tensor]
    coords: np.ndarray  # (epochs, 2): (θ_e − θ_final)·d1, (θ_e − θ_final)·d2
    explained: np.ndarray  # (2,): share of the trajectory's squared length along d1, d2


def pca_trajectory(model: nn.Module, states: list[dict[str, torch.Tensor]]) -> Trajectory:
    """PCA of the rows θ_e − θ_final over the saved epochs (all parameters; buffers are not
    directions). `model` gives the parameter order and holds the final weights' shapes; the
    last state is the final one."""
    if len(states) < 3:
        raise ConfigError(
            f"train.epochs={len(states)}: a trajectory plane needs at least 3 saved epochs"
        )
    final = _flat(model, states[-1])
    m = torch.stack([_flat(model, s) - final for s in states[:-1]])  # (E-1, P)
    _, sv, vh = torch.linalg.svd(m, full_matrices=False)
    d1, d2 = vh[0], vh[1]
    power = sv**2
    explained = (power[:2] / power.sum().clamp_min(1e-300)).numpy()
    coords = np.stack([(m @ d1).numpy(), (m @ d2).numpy()], axis=1)
    coords = np.vstack([coords, np.zeros((1, 2))])  # the final weights: the origin
    return Trajectory(_unflat(model, d1), _unflat(model, d2), coords, explained)


def project(
    model: nn.Module,
    states: list[dict[str, torch.Tensor]],
    d1: list[torch.Tensor],
    d2: list[torch.Tensor],
) -> np.ndarray:
    """(epochs, 2) least-squares coordinates of θ_e − θ_final in the span of d1, d2 (any two
    independent directions, e.g. the random filter-normalised ones)."""
    final = _flat(model, states[-1])
    basis = torch.stack([torch.cat([t.double().flatten().cpu() for t in d]) for d in (d1, d2)], 1)
    rows = torch.stack([_flat(model, s) - final for s in states])  # (E, P)
    sol = torch.linalg.lstsq(basis, rows.T).solution  # (2, E)
    return sol.T.numpy()


def hessian_top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: list[torch.Tensor],
    iters: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
) -> float:
    """The Hessian eigenvalue of largest magnitude of `loss_fn()` in `params`, by power iteration
    on Hessian-vector products (double backward); stops when it changes by less than `tol`
    (relative) between two iterations."""
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in params]
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    value = 0.0
    for _ in range(iters):
        norm = torch.sqrt(sum((u * u).sum() for u in v))
        v = [u / norm for u in v]
        hv = torch.autograd.grad(grads, params, v, retain_graph=True)
        new = float(sum((h * u).sum() for h, u in zip(hv, v, strict=True)))
        v = [h.detach() for h in hv]
        if value != 0.0 and abs(new - value) <= tol * abs(value):
            return new
        value = new
    return value


def sharpness(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, iters: int = 100, tol: float = 1e-3
) -> float:
    """Top Hessian eigenvalue of the cross-entropy on the fixed batch (x, y) in the weights of
    `model`, eval mode (batch norm on its running statistics, so the loss is a function of the
    weights alone). Parameters and mode are restored after."""
    with restored(model), eval_mode(model), torch.enable_grad():
        params = [p for p in model.parameters() if p.requires_grad]
        return hessian_top_eigenvalue(
            lambda: F.cross_entropy(model(x), y), params, iters=iters, tol=tol
        )
