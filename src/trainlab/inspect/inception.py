"""Inception branches: each branch's output for an input, where it sits in the concatenated
channels, its share of the block's activation energy, and how the shares move during training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab import models
from trainlab.blocks import Inception
from trainlab.errors import ConfigError
from trainlab.inspect.probes import batch_norms, eval_mode
from trainlab.inspect.target import SAMPLES, Inspection, Output, Target, study_name
from trainlab.models.layers import first_tensor
from trainlab.plots import inception as pi
from trainlab.plots.features import layer_label
from trainlab.track.store import Store
from trainlab.track.strictjson import dumps
from trainlab.track.summary import Summary, Table
from trainlab.train.loop import Callback
from trainlab.train.seed import seed_everything

SHARES_FILE = "branch_shares.json"  # BranchShares of a run, beside its checkpoint

BRANCH_LABELS = {
    "branch1x1": "1×1",
    "branch3x3": "3×3",
    "branch5x5": "5×5 (two 3×3)",
    "branch_pool": "pool + 1×1",
}


@dataclass
class BranchOutputs:
    """One Inception block's output and its branches' outputs for a batch (CPU tensors)."""

    block: str
    output: torch.Tensor  # (B, sum(c_i), *S)
    branches: dict[str, torch.Tensor]  # branch name -> (B, c_i, *S)
    slices: dict[str, slice]  # branch name -> its channels in `output`


def inception_blocks(model: nn.Module) -> dict[str, Inception]:
    """Every Inception block by name; ConfigError if there is none."""
    found = {n: m for n, m in model.named_modules() if isinstance(m, Inception)}
    if not found:
        raise ConfigError(
            f"{type(model).__name__} has no Inception blocks; use model.name=inception"
        )
    return found


def branch_outputs(
    model: nn.Module, x: torch.Tensor, batch_stats: bool = False
) -> list[BranchOutputs]:
    """Run `model(x)` once in eval mode with hooks on each Inception block and its branches.

    `batch_stats` normalises with the batch's statistics instead of the running ones (what a
    freshly initialised net does in training; its running statistics mean nothing yet).
    """
    blocks = inception_blocks(model)
    caught: dict[str, torch.Tensor] = {}
    handles = []

    def keep(key: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            out = first_tensor(output)
            if out is not None:
                caught[key] = out.detach().float().cpu()

        return hook

    try:
        for name, block in blocks.items():
            handles.append(block.register_forward_hook(keep(name)))
            for branch in block.branch_names:
                handles.append(
                    getattr(block, branch).register_forward_hook(keep(f"{name}:{branch}"))
                )
        with eval_mode(model), batch_norms(model, batch_stats):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return [
        BranchOutputs(
            block=name,
            output=caught[name],
            branches={b: caught[f"{name}:{b}"] for b in block.branch_names},
            slices=block.branch_slices,
        )
        for name, block in blocks.items()
        if name in caught
    ]


def energy_shares(b: BranchOutputs) -> dict[str, float]:
    """Each branch's share of the block output's energy Σ out² (over batch, channels, positions)."""
    energy = {name: float(t.pow(2).sum()) for name, t in b.branches.items()}
    total = sum(energy.values()) or 1.0
    return {name: e / total for name, e in energy.items()}


def channel_energy(b: BranchOutputs) -> np.ndarray:
    """Mean squared activation of each output channel: (sum(c_i),), the concatenated layout."""
    out = b.output
    return out.pow(2).mean(dim=[d for d in range(out.ndim) if d != 1]).numpy()


@dataclass
class BranchShares(Callback):
    """A training callback: branch energy shares of every Inception block on fixed inputs `x`
    after each epoch (eval mode); `initial_shares` gives the point before training."""

    x: torch.Tensor
    epochs: list[int] = field(default_factory=list)
    shares: list[dict[str, dict[str, float]]] = field(
        default_factory=list
    )  # block -> branch -> share

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        self._measure(epoch, model)

    def _measure(self, epoch: int, model: nn.Module) -> None:
        outs = branch_outputs(model, self.x.to(next(model.parameters()).device))
        self.epochs.append(epoch)
        self.shares.append({b.block: energy_shares(b) for b in outs})

    def save(self, folder: Path) -> Path:
        """Write the shares per epoch as SHARES_FILE into `folder` (a run's folder)."""
        path = folder / SHARES_FILE
        path.write_text(dumps({"epochs": self.epochs, "shares": self.shares}))
        return path

    @classmethod
    def load(cls, folder: Path) -> BranchShares | None:
        """The shares a run's folder holds (written while it trained), else None."""
        path = folder / SHARES_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(torch.empty(0), list(raw["epochs"]), list(raw["shares"]))

    def as_arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """epochs (E,) and block -> (E, 4) shares in branch order."""
        blocks: dict[str, list[list[float]]] = {}
        for snapshot in self.shares:
            for block, shares in snapshot.items():
                blocks.setdefault(block, []).append(list(shares.values()))
        return np.asarray(self.epochs), {k: np.asarray(v) for k, v in blocks.items()}


def _is_zoo(target: Target) -> bool:
    return target.cfg.model.name in {m.name for m in models.list_models()}


def initial_shares(target: Target, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Branch shares of the same zoo model at initialisation (rebuilt with the run's seed),
    normalised with batch statistics as in its first training step."""
    cfg = target.cfg
    seed_everything(cfg.seed)
    init = models.build(
        cfg.model.name, target.dataset.spec, dropout=cfg.regularize.dropout, **cfg.model.options
    ).to(x.device)
    return {b.block: energy_shares(b) for b in branch_outputs(init, x, batch_stats=True)}


def inspect_inception(
    target: Target, store: Store, shares: BranchShares | None = None, budget: str = "quick"
) -> Inspection:
    """Branch maps side by side, channel layout, energy shares per block and over training
    (per epoch from `shares`, or from the run's SHARES_FILE, if training was watched; else
    initialisation vs trained)."""
    x = target.dataset.x_test[: SAMPLES[budget]]
    outs = branch_outputs(target.model, x)
    out = Output(store, "inspect-inception", study_name("inception", target), {}, target.runs())
    for b in outs[:3]:
        stem = layer_label(b.block).replace(".", "-")
        maps = {BRANCH_LABELS[k]: v[0].numpy() for k, v in b.branches.items()}
        out.figure(
            pi.plot_branch_maps(x[0].float().cpu().numpy(), maps, b.block),
            f"branch-maps-{stem}",
            f"Branch outputs of {b.block} (input 0)",
        )
        layout = {BRANCH_LABELS[k]: s for k, s in b.slices.items()}
        out.figure(
            pi.plot_channel_layout(channel_energy(b), layout, b.block),
            f"channel-layout-{stem}",
            f"Concatenated channel layout of {b.block}",
        )
    final = {b.block: energy_shares(b) for b in outs}
    labels = list(BRANCH_LABELS.values())
    matrix = np.array([list(s.values()) for s in final.values()])
    counts = np.array([[s.stop - s.start for s in b.slices.values()] for b in outs], dtype=float)
    out.figure(
        pi.plot_branch_shares(
            list(final), matrix, labels, channel_shares=counts / counts.sum(1, keepdims=True)
        ),
        "branch-shares",
        "Branch energy shares",
    )
    start = initial_shares(target, x) if _is_zoo(target) else None
    if shares is None and target.record is not None:
        shares = BranchShares.load(target.record.dir)
    if shares is not None and shares.epochs:
        epochs, series = shares.as_arrays()
    else:
        epochs = np.array([len(target.epochs)])
        series = {k: np.array([list(v.values())]) for k, v in final.items()}
    if start is not None:
        epochs = np.concatenate([[0], epochs])
        series = {k: np.vstack([list(start[k].values()), v]) for k, v in series.items()}
    if len(epochs) > 1:  # a user's module seen once (no run, no history) has no "over training"
        out.figure(
            pi.plot_shares_over_training(epochs, series, labels),
            "shares-over-training",
            "Branch energy shares over training",
        )
    concat_error = max(
        float((torch.cat(list(b.branches.values()), 1) - b.output).abs().max()) for b in outs
    )
    widths = {b.block: [s.stop - s.start for s in b.slices.values()] for b in outs}
    rows: list[list[Any]] = []
    for k, v in final.items():
        rows.append([k, *v.values()])
        rows.append([f"{k} (share of channels)", *(w / sum(widths[k]) for w in widths[k])])
    table = Table(
        "Branch share of activation energy",
        ["block", *labels],
        rows,
        note=f"Σ out² per branch / Σ over the block's output, {len(x)} test inputs; a branch "
        "whose energy share exceeds its channel share has stronger channels than the others",
    )
    summary = Summary(
        kind="inspect-inception",
        title=f"Inception branches of {target.label} on {target.cfg.data.name}",
        text=[f"{len(outs)} Inception blocks; output = branches concatenated in order {labels}."],
        verdicts=[f"branch outputs concatenate to the block output (max error {concat_error:.1e})"],
        tables=[table],
        data={
            "shares": final,
            "epochs": epochs.tolist(),
            "shares_over_training": {k: v.tolist() for k, v in series.items()},
            "concat_error": concat_error,
            "channels": widths,
        },
    )
    out.arrays(
        input=x[0].float().cpu().numpy(),
        **{f"branch.{b.block}.{k}": v[0].numpy() for b in outs for k, v in b.branches.items()},
    )
    return out.finish(summary)
