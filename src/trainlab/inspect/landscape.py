"""Loss landscapes (Li et al. 2018): slices along filter-normalised random directions or along the
first two PCA directions of a training trajectory (saved epoch by epoch), a simple curvature
summary, and sharpness as the top Hessian eigenvalue (power iteration on Hessian-vector products).
Random directions leave biases and norm parameters fixed; the model's weights are restored after.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.errors import ConfigError, StoreError
from trainlab.inspect.flow import restored
from trainlab.inspect.probes import eval_mode
from trainlab.inspect.target import Inspection, Output, Target, from_config, from_run
from trainlab.plots import landscape as pl
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table
from trainlab.train.callbacks import Callback


def finite(v: float) -> float | None:
    """`v` as a float, or None when it is NaN or infinite (strict JSON)."""
    v = float(v)
    return v if np.isfinite(v) else None


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
    params: Sequence[torch.Tensor],
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
    found = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    # a parameter the loss never uses (a plain net's unused shortcut projection) has a zero row
    # and column in the Hessian: leave it out
    used = [i for i, g in enumerate(found) if g is not None]
    params, v = [params[i] for i in used], [v[i] for i in used]
    grads = [g for g in found if g is not None]
    value = 0.0
    for _ in range(iters):
        norm = torch.sqrt(torch.stack([(u * u).sum() for u in v]).sum())
        v = [u / norm for u in v]
        hv = torch.autograd.grad(grads, params, v, retain_graph=True, materialize_grads=True)
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


TRAJECTORY_DIR = "trajectory"  # <inspection folder>/trajectory/<label>/epoch-NNN.pt
TRAINED_FILE = "run.json"  # which run the saved epochs belong to


def trained_with_states(
    cfg: RunConfig, store: Store, folder: Path
) -> tuple[Target, list[dict[str, torch.Tensor]]]:
    """`cfg` trained with its state saved after every epoch into `folder` (an inspection's own
    folder); a finished training whose states are all there is reused, not trained again."""
    mark = folder / TRAINED_FILE
    if mark.exists():
        run_id = json.loads(mark.read_text())["run_id"]
        if store.find_run(cfg.hash(), ("finished",)) is not None:
            with contextlib.suppress(StoreError):
                target = from_run(store, run_id)
                states = load_states(folder, str(target.dataset.x_train.device))
                if target.cfg.hash() == cfg.hash() and len(states) == cfg.train.epochs:
                    return target, states
    mark.unlink(missing_ok=True)
    stored = store.find_run(cfg.hash(), ("finished",))
    if stored is not None:  # its weights are the last epoch's only (model.pt): a path needs all
        print(
            f"run {stored.id} keeps only its final weights, not one set per epoch: training its "
            f"config again ({cfg.train.epochs} epochs, same seed) with the state saved after each",
            file=sys.stderr,
        )
    target = from_config(cfg, store, [EpochStates(folder)])
    assert target.record is not None
    mark.write_text(json.dumps({"run_id": target.record.id}))
    return target, load_states(folder, str(target.dataset.x_train.device))


DIRECTIONS = ("pca", "random")
# steps: plane resolution per axis (odd, so the final weights are a grid point); samples: training
# inputs the plane's loss is evaluated on; hessian_samples: the fixed batch sharpness is measured
# on; iters: most power iterations per eigenvalue.
BUDGETS: dict[str, dict[str, int]] = {
    "quick": {"steps": 13, "samples": 512, "hessian_samples": 256, "iters": 30},
    "full": {"steps": 25, "samples": 2000, "hessian_samples": 1000, "iters": 100},
}
PAD = 1.3  # the plane spans the projected path times this, in each direction


def check_directions(directions: str) -> str:
    """`directions` if it is one of DIRECTIONS, else ConfigError."""
    if directions not in DIRECTIONS:
        raise ConfigError(f"--directions={directions!r}: choose one of {', '.join(DIRECTIONS)}")
    return directions


def _at(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of `model` holding `state` (the model itself is left alone)."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    return twin


def trajectory_plane(
    model: nn.Module,
    states: list[dict[str, torch.Tensor]],
    x: torch.Tensor,
    y: torch.Tensor,
    directions: str = "pca",
    steps: int = 13,
) -> dict[str, Any]:
    """The loss on the plane through the final weights (the last state) spanned by the
    trajectory's PCA directions or two filter-normalised random ones, and the saved epochs'
    coordinates on it: alphas, betas, loss, acc, path (epochs, 2), explained (PCA only)."""
    final = _at(model, states[-1])
    explained: list[float] = []
    if check_directions(directions) == "pca":
        traj = pca_trajectory(final, states)
        d1, d2, path = traj.d1, traj.d2, traj.coords
        explained = [float(v) for v in traj.explained]
    else:
        gen = torch.Generator().manual_seed(0)
        d1 = filter_normalized_direction(final, gen)
        d2 = filter_normalized_direction(final, gen)
        path = project(final, states, d1, d2)
    span = np.maximum(np.abs(path).max(0) * PAD, 1e-3 if directions == "pca" else 1.0)
    plane = loss_plane(
        final,
        x,
        y,
        d1,
        d2,
        np.linspace(-span[0], span[0], steps),
        np.linspace(-span[1], span[1], steps),
    )
    return {
        "alphas": plane.alphas,
        "betas": plane.betas,
        "loss": plane.loss,
        "acc": plane.acc,
        "path": path,
        "explained": explained,
    }


def sharpness_per_epoch(
    model: nn.Module,
    states: list[dict[str, torch.Tensor]],
    x: torch.Tensor,
    y: torch.Tensor,
    iters: int,
) -> list[float]:
    """Top Hessian eigenvalue of the training loss on the fixed batch (x, y) at each saved epoch."""
    return [sharpness(_at(model, s), x, y, iters=iters) for s in states]


def inspect_landscape(
    nets: Mapping[str, tuple[Target, list[dict[str, torch.Tensor]]]],
    store: Store,
    name: str,
    budget: str = "quick",
    directions: str = "pca",
) -> Inspection:
    """Each net's loss on its trajectory plane with the saved epochs drawn on it, and its
    sharpness (top Hessian eigenvalue) per saved epoch; label -> (target, states from
    `EpochStates`/`load_states`). A user's own module: `from_model(...)` and its saved states."""
    check_directions(directions)
    b = BUDGETS[budget]
    runs = {k: t.record for k, (t, _) in nets.items() if t.record is not None}
    out = Output(
        store, "inspect-landscape", name, {"budget": budget, "directions": directions}, runs
    )
    planes, sharp, data = {}, {}, {}
    for label, (target, states) in nets.items():
        ds = target.dataset
        x, y = ds.x_train[: b["samples"]], ds.y_train[: b["samples"]]
        xh, yh = ds.x_train[: b["hessian_samples"]], ds.y_train[: b["hessian_samples"]]
        plane = trajectory_plane(target.model, states, x, y, directions, b["steps"])
        sharp[label] = sharpness_per_epoch(target.model, states, xh, yh, b["iters"])
        if directions == "pca":
            ex = plane["explained"]
            axes = (f"PC1 ({ex[0]:.0%} of the path)", f"PC2 ({ex[1]:.0%})")
        else:
            axes = ("α (random direction 1, filter norms)", "β (random direction 2)")
        planes[label] = (plane["alphas"], plane["betas"], plane["loss"], plane["path"], axes)
        data[label] = {
            "alphas": plane["alphas"].tolist(),
            "betas": plane["betas"].tolist(),
            "loss": plane["loss"].tolist(),
            "path": plane["path"].tolist(),
            "explained": plane["explained"],
            "sharpness": [finite(v) for v in sharp[label]],
        }
    kind = (
        "first two PCA directions of the trajectory"
        if directions == "pca"
        else "two random filter-normalised directions"
    )
    out.figure(
        pl.plot_trajectory_planes(
            planes, f"Loss on the plane of the {kind}; numbers: epochs, ★ = final weights"
        ),
        "trajectory-plane",
        f"Training loss on the plane of the {kind}, with the saved epochs",
    )
    epochs = {k: list(range(1, len(v) + 1)) for k, v in sharp.items()}
    out.figure(
        pl.plot_sharpness({k: (epochs[k], v) for k, v in sharp.items()}),
        "sharpness",
        "Top Hessian eigenvalue of the training loss per epoch",
    )
    longest = max(len(v) for v in sharp.values())
    table = Table(
        "Sharpness per epoch (top Hessian eigenvalue)",
        ["epoch", *sharp],
        [
            [e, *(v[e - 1] if e <= len(v) else math.nan for v in sharp.values())]
            for e in range(1, longest + 1)
        ],
        note=f"power iteration on Hessian-vector products, cross-entropy on a fixed batch of "
        f"{b['hessian_samples']} training samples, eval-mode batch norm",
    )
    verdicts = [
        "top Hessian eigenvalue (largest |λ|; < 0: negative curvature dominates), first → last epoch: "
        + ", ".join(
            f"{k} {v[0]:.3g} → {v[-1]:.3g} (max {max(v):.3g} at epoch {int(np.argmax(v)) + 1})"
            for k, v in sharp.items()
        )
    ]
    if directions == "pca":
        verdicts.append(
            "share of the trajectory in its PCA plane: "
            + ", ".join(f"{k} {sum(d['explained']):.0%}" for k, d in data.items())
        )
    summary = Summary(
        kind="inspect-landscape",
        title="Loss landscape along the training trajectory: " + " vs ".join(nets),
        text=[
            f"Plane through the final weights spanned by the {kind} (Li et al. 2018), loss on "
            f"{b['samples']} training samples, eval mode; sharpness per saved epoch."
        ],
        verdicts=verdicts,
        tables=[table],
        data={"directions": directions, "nets": data},
    )
    return out.finish(summary)


def landscape_study(
    configs: Mapping[str, RunConfig],
    store: Store,
    name: str,
    budget: str = "quick",
    directions: str = "pca",
) -> Inspection:
    """Train each config (label -> config) with its state saved every epoch into the
    inspection's folder (reused when all there) and run `inspect_landscape` on them."""
    check_directions(directions)
    for cfg in configs.values():  # before training, not after it
        if directions == "pca" and cfg.train.epochs < 3:
            raise ConfigError(
                f"train.epochs={cfg.train.epochs}: a trajectory plane needs at least 3 saved epochs"
            )
    study = store.open_study(
        name, "inspect-landscape", {"budget": budget, "directions": directions}
    )
    nets = {
        label: trained_with_states(cfg, store, study.dir / TRAJECTORY_DIR / label)
        for label, cfg in configs.items()
    }
    return inspect_landscape(nets, store, name, budget, directions)
