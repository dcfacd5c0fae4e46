"""Flight recorder: a training callback that, every N steps, records per-layer activation stats,
gradient and weight norms and the update-to-weight ratio; `save` writes them beside the run.

Activation statistics are of the activation *before* dropout: a layer that is or ends in a dropout
is read at the dropout's input, so dropout's mask never counts as dead units. "Near zero" is
relative to the layer's own scale: |a| < NEAR_ZERO_REL × RMS of that layer's activations in the
recorded forward (an absolute threshold would call a whole small-scale layer dead).
`trainlab.inspect.recorder` (`trainlab inspect recorder`) draws and stores a run's record.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.errors import ConfigError, StoreError
from trainlab.models.layers import default_layers, first_tensor, select_modules, unhook
from trainlab.track.strictjson import dumps
from trainlab.train.activation_stats import BINS, Histogram, Moments
from trainlab.train.loop import Callback, History

DEFAULT_EVERY = 25  # steps between records; overhead measured in benchmarks/recorder_overhead.py
MAX_RECORDS = 400  # then every other record is dropped and the interval doubles (bounded memory)
RECORD_FILE, META_FILE = "recorder.npz", "recorder.json"
NEAR_ZERO_REL = 1e-2  # |a| < 1e-2 x the layer's RMS counts as near zero
NEAR_ZERO_RULE = "near zero: |a| < 0.01 × the layer's RMS; read before dropout"
STATS = ("act_mean", "act_std", "act_near_zero", "grad_norm", "weight_norm", "update_ratio")


@dataclass
class FlightRecord:
    """What a recorder saw. Arrays are (S, L): S recorded steps × L layers; histograms (S, L, bins)
    over each record's own range [hist_low, hist_high]."""

    every: int
    layers: list[str]
    steps: np.ndarray  # (S,) optimizer steps, 1-based
    stats: dict[str, np.ndarray]  # STATS name -> (S, L)
    hist_counts: np.ndarray  # (S, L, bins) int64
    hist_low: np.ndarray  # (S, L)
    hist_high: np.ndarray  # (S, L)

    def save(self, folder: Path) -> Path:
        """Write recorder.npz (arrays) and recorder.json (layers, interval) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "steps": self.steps,
            "hist_counts": self.hist_counts,
            "hist_low": self.hist_low,
            "hist_high": self.hist_high,
            **self.stats,
        }
        np.savez_compressed(folder / RECORD_FILE, **arrays)  # type: ignore[arg-type]
        meta = {"every": self.every, "layers": self.layers, "stats": list(STATS)}
        (folder / META_FILE).write_text(dumps(meta, indent=1))
        return folder / RECORD_FILE


def load_record(folder: Path) -> FlightRecord:
    """Read a run folder's flight record; StoreError if the run was not recorded."""
    path, meta_path = folder / RECORD_FILE, folder / META_FILE
    if not path.exists() or not meta_path.exists():
        raise StoreError(
            f"{folder} has no flight record ({RECORD_FILE}); train with `trainlab run --record N` "
            "or pass a config to `trainlab inspect recorder`"
        )
    meta = json.loads(meta_path.read_text())
    with np.load(path) as z:
        return FlightRecord(
            every=int(meta["every"]),
            layers=list(meta["layers"]),
            steps=z["steps"],
            stats={k: z[k] for k in STATS},
            hist_counts=z["hist_counts"],
            hist_low=z["hist_low"],
            hist_high=z["hist_high"],
        )


class Recorder(Callback):
    """Every `every` optimizer steps, per layer: activation mean / std / share near zero (from the
    training forward of that step), gradient norm, weight norm and ‖Δw‖/‖w‖ of that step.

    Hooks are attached only for the forward of a recording step (at the end of the step before,
    when the weights are also copied for the update ratio), so other steps cost nothing.
    `layers` are module names (default: `default_layers(model)`); norms are over all parameters
    of a layer, weights and biases together.
    """

    def __init__(
        self, every: int = DEFAULT_EVERY, layers: list[str] | None = None, bins: int = BINS
    ) -> None:
        if every < 1:
            raise ConfigError(f"recorder every={every}: must be a number of steps >= 1")
        self.every, self.bins = every, bins
        self.layers = layers
        self._params: list[list[nn.Parameter]] = []
        self._before: list[torch.Tensor] | None = None  # weights before a recording step, flat
        self._steps: list[int] = []
        self._rows: list[np.ndarray] = []  # each (len(STATS), L)
        self._hists: list[list[Histogram]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        # This record's activation statistics per layer: moments, histogram, [near-zero, count].
        self._moments: dict[str, Moments] = {}
        self._hist: dict[str, Histogram] = {}
        self._near: dict[str, list[float]] = {}
        self._modules: dict[str, nn.Module] = {}
        self._fastpath: bool | None = None

    def _setup(self, model: nn.Module) -> None:
        self.layers = self.layers or default_layers(model)
        self._modules = select_modules(model, self.layers)
        self._params = [
            [p for p in self._modules[n].parameters() if p.requires_grad] for n in self.layers
        ]

    def on_step(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        if not self._params:
            self._setup(model)
        if self._before is not None:
            if step % self.every == 0:
                self._record(step)
            self._disarm()
        if (step + 1) % self.every == 0:
            self._arm()

    def on_end(self, model: nn.Module, history: History) -> None:
        self._disarm()

    def _arm(self) -> None:
        with torch.no_grad():
            self._before = [p.detach().clone() for ps in self._params for p in ps]
        self._moments = {name: Moments() for name in self._modules}
        self._hist = {name: Histogram(self.bins) for name in self._modules}
        self._near = {name: [0.0, 0.0] for name in self._modules}
        self._fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)  # the fused path skips submodule hooks
        for name, module in self._modules.items():
            self._handles.extend(_tap(module, functools.partial(self._observe, name)))

    def _disarm(self) -> None:
        unhook(self._handles, self._fastpath)
        self._fastpath, self._before = None, None

    def _observe(self, name: str, x: torch.Tensor) -> None:
        if not torch.is_grad_enabled() or not x.is_floating_point() or x.numel() == 0:
            return  # a validation pass during training
        with torch.no_grad():  # float64 sums (E[x²] - mean² keeps its digits); one transfer
            f = x.detach().reshape(-1).double()
            low, high = torch.aminmax(f)
            total, squares, lo, hi = torch.stack([f.sum(), torch.dot(f, f), low, high]).tolist()
            n = f.numel()
            m = total / n
            near, _ = near_zero(f, math.sqrt(squares / n))
        self._moments[name].merge(n, m, max(0.0, squares / n - m * m), lo, hi)
        self._hist[name].update(x, lo, hi)
        self._near[name][0] += near
        self._near[name][1] += n

    def _record(self, step: int) -> None:
        assert self._before is not None and self.layers is not None
        row = np.full((len(STATS), len(self.layers)), np.nan)
        hists = []
        with torch.no_grad():
            grads = [[p.grad for p in ps if p.grad is not None] for ps in self._params]
            params: list[torch.Tensor] = [p for ps in self._params for p in ps]
            diffs = list(torch._foreach_sub(params, self._before)) if params else []
            sizes = [len(ps) for ps in self._params]
            # The four norms of every layer from one batched norm and one transfer.
            g_norms, w_norms, d_norms, b_norms = _norms(
                [grads, _split(params, sizes), _split(diffs, sizes), _split(self._before, sizes)]
            )
            row[3], row[4] = g_norms, w_norms
            with np.errstate(invalid="ignore", divide="ignore"):  # a layer without weights: nan
                row[5] = d_norms / b_norms
            row[3, [not g for g in grads]] = math.nan  # no gradient reached the layer
        for j, name in enumerate(self.layers):
            m = self._moments[name]
            if m.count:
                near, count = self._near[name]
                row[0:3, j] = m.mean, m.std, near / count
            hists.append(self._hist[name])
        self._steps.append(step)
        self._rows.append(row)
        self._hists.append(hists)
        if len(self._steps) >= MAX_RECORDS:
            self._steps, self._rows = self._steps[1::2], self._rows[1::2]
            self._hists = self._hists[1::2]
            self.every *= 2

    def record(self) -> FlightRecord:
        """Everything recorded so far as arrays."""
        layers = list(self.layers or [])
        s, n_layers = len(self._steps), len(layers)
        rows = np.stack(self._rows) if self._rows else np.zeros((0, len(STATS), n_layers))
        counts = np.zeros((s, n_layers, self.bins), dtype=np.int64)
        low, high = np.full((s, n_layers), np.nan), np.full((s, n_layers), np.nan)
        for i, hists in enumerate(self._hists):
            for j, h in enumerate(hists):
                if h.counts.size:
                    counts[i, j], low[i, j], high[i, j] = h.counts, h.low, h.high
        return FlightRecord(
            every=self.every,
            layers=layers,
            steps=np.asarray(self._steps, dtype=np.int64),
            stats={k: rows[:, i, :] for i, k in enumerate(STATS)},
            hist_counts=counts,
            hist_low=low,
            hist_high=high,
        )

    def save(self, folder: Path) -> Path:
        """Write the record into `folder` (a run's folder); `load_record(folder)` reads it back."""
        return self.record().save(folder)


def near_zero(x: torch.Tensor, rms: float | None = None) -> tuple[int, int]:
    """(near-zero count, count) of `x` under the relative rule: |a| < NEAR_ZERO_REL × RMS(x);
    `rms`: RMS(x) when the caller has it. An all-zero tensor is all near zero."""
    x = x.detach() if x.dtype == torch.float64 else x.detach().float()
    if rms is None:
        rms = float(x.pow(2).mean().sqrt())
    if rms == 0.0:
        return x.numel(), x.numel()
    return int(torch.count_nonzero(x.abs() < NEAR_ZERO_REL * rms)), x.numel()


def _dropouts(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def _tap(module: nn.Module, observe: Callable[[torch.Tensor], None]) -> list[Any]:
    """Hooks that hand `observe` the module's output, or, where the module is or contains a
    dropout, the input of the last dropout that ran in its forward (the activation before the
    mask). Returns the hook handles."""
    drops = _dropouts(module)
    if not drops:

        def out_hook(m: nn.Module, args: Any, output: Any) -> None:
            t = first_tensor(output)
            if t is not None:
                observe(t)

        return [module.register_forward_hook(out_hook)]
    slot: list[torch.Tensor | None] = [None]

    def start(m: nn.Module, args: Any) -> None:
        slot[0] = None

    def before_drop(m: nn.Module, args: Any) -> None:
        slot[0] = first_tensor(args)

    def end(m: nn.Module, args: Any, output: Any) -> None:
        t = slot[0] if slot[0] is not None else first_tensor(output)
        if t is not None:
            observe(t)

    handles = [module.register_forward_pre_hook(start)]
    handles += [d.register_forward_pre_hook(before_drop) for d in drops]
    handles.append(module.register_forward_hook(end))
    return handles


def _split(flat: Sequence[torch.Tensor], sizes: Sequence[int]) -> list[list[torch.Tensor]]:
    """`flat` cut into consecutive groups of `sizes`."""
    bounds = np.cumsum([0, *sizes])
    return [list(flat[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


def _norms(families: Sequence[Sequence[Sequence[torch.Tensor]]]) -> list[np.ndarray]:
    """Per family of groups of tensors, the global L2 norm of each group (0 for an empty group),
    all from one batched norm over every tensor and one transfer, not a sync per tensor."""
    flat = [t for groups in families for g in groups for t in g]
    squares = torch.stack(torch._foreach_norm(flat)).double().pow(2).cpu().numpy() if flat else None
    out, i = [], 0
    for groups in families:
        norms = np.zeros(len(groups))
        for j, g in enumerate(groups):
            if g:
                assert squares is not None  # some tensor, so `flat` was not empty
                norms[j] = math.sqrt(float(squares[i : i + len(g)].sum()))
                i += len(g)
        out.append(norms)
    return out
