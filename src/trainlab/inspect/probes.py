"""Probes: forward hooks (and gradient hooks) on modules chosen by name or type, as a context
manager that always removes them. They keep streaming statistics; whole tensors only if asked.
"""

from __future__ import annotations

import itertools
import warnings
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from trainlab.errors import ConfigError
from trainlab.models.layers import first_tensor, select_modules, unhook
from trainlab.train.activation_stats import BINS, Histogram, Moments, UnitCounts

MAX_KEEP = 64  # kept samples per module at most: a probe on a large model can't exhaust memory
_BOUNDED: dict[type[nn.Module], tuple[float, float]] = {
    nn.Tanh: (-1.0, 1.0),
    nn.Sigmoid: (0.0, 1.0),
    nn.Softsign: (-1.0, 1.0),
    nn.Hardsigmoid: (0.0, 1.0),
}
_PASSTHROUGH = (nn.Dropout, nn.Identity, nn.Flatten)


class ProbeWarning(UserWarning):
    """A hook may mislead here: shared modules, in-place ops, fused paths that skip hooks."""


@dataclass
class LayerStats:
    """What a probe learned about one module's output (and its gradient, if asked)."""

    name: str
    kind: str  # the module's class name
    bounds: tuple[float, float] | None  # output range of a bounded last activation (tanh, sigmoid)
    moments: Moments = field(default_factory=Moments)
    units: UnitCounts = field(default_factory=UnitCounts)
    hist: Histogram = field(default_factory=Histogram)
    grad: Moments = field(default_factory=Moments)  # of d loss / d output
    calls: int = 0
    shape: tuple[int, ...] = ()  # output shape of the last call, batch included
    kept: list[torch.Tensor] = field(default_factory=list)  # CPU clones, (k, ...) each

    def summary(self) -> dict[str, Any]:
        """Per-layer numbers: mean, std, min, max, near-zero share, dead and saturated unit shares."""
        m = self.moments
        return {
            "layer": self.name,
            "kind": self.kind,
            "shape": list(self.shape[1:]),
            "mean": m.mean,
            "std": m.std,
            "min": m.min,
            "max": m.max,
            "near_zero": m.near_zero_share,
            "dead": self.units.dead_share(),
            # A unit of an unbounded activation (ReLU, GELU, a linear layer) has no bound to sit
            # at, so none saturates: its share is 0, not missing (`bounded` says which applied).
            "saturated": self.units.saturated_share(),  # counts stay 0 without bounds
            "bounded": self.bounds is not None,
            "calls": self.calls,
        }

    def kept_tensor(self) -> torch.Tensor | None:
        """The kept outputs concatenated on the batch axis, or None."""
        return torch.cat(self.kept) if self.kept else None


def activation_bounds(module: nn.Module) -> tuple[float, float] | None:
    """Output range if the module ends in a bounded activation (tanh, sigmoid, hardtanh), else None."""
    leaves = [m for m in module.modules() if not list(m.children())] or [module]
    for leaf in reversed(leaves):
        if isinstance(leaf, _PASSTHROUGH):
            continue
        if isinstance(leaf, nn.Hardtanh):
            return (float(leaf.min_val), float(leaf.max_val))
        for cls, bounds in _BOUNDED.items():
            if isinstance(leaf, cls):
                return bounds
        return None
    return None


class Probe:
    """Forward hooks on modules of `model` chosen by `names` and/or `types` (all leaves if neither).

        with Probe(model, types=(nn.Conv2d,)) as probe:
            model(x)
        probe.table()  # per-layer mean, std, near-zero, dead, saturated

    Streaming statistics only, unless `keep` > 0: then the first `keep` samples (<= MAX_KEEP) of
    each output are kept on the CPU. `grads=True` also tracks d loss / d output on backward.
    `unit_axis` is the channel/feature axis of 3-D outputs: 1 for (B, C, L) signals, -1 for
    (B, T, D) tokens; by default 1 if the model has a Conv1d. The MHA fused fast path (which skips
    submodule hooks) is switched off while the probe is active. `training_only` ignores forwards
    run without autograd (a validation pass during training).

    With `warn` (default), ProbeWarning says where hooks can mislead: a module that ran more
    often than the model (shared or reused), one that never ran (a fused path skipped it), and
    outputs changed in place after their hook (an in-place sibling, or an in-place op in a
    forward, caught when a later probed module runs or the forward ends).
    """

    def __init__(
        self,
        model: nn.Module,
        names: Iterable[str] | None = None,
        types: tuple[type[nn.Module], ...] | None = None,
        *,
        keep: int = 0,
        grads: bool = False,
        histograms: bool = True,
        unit_axis: int | None = None,
        bins: int = BINS,
        outermost: bool = False,
        training_only: bool = False,
        warn: bool = True,
    ) -> None:
        self.model = model
        names = list(names) if names is not None else None
        if names is None and types is None:
            modules = {n: m for n, m in model.named_modules() if n and not list(m.children())}
        else:
            modules = select_modules(model, names, types, outermost)
        if not modules:
            raise ConfigError("the probe selected no modules; pass names=[...] or types=(...)")
        self.modules = modules
        self.keep = min(max(0, keep), MAX_KEEP)
        self.grads, self.histograms = grads, histograms
        self.training_only, self.warn = training_only, warn
        has_conv1d = any(isinstance(m, nn.Conv1d) for m in model.modules())
        self.unit_axis = unit_axis if unit_axis is not None else (1 if has_conv1d else -1)
        self.stats = {
            n: LayerStats(n, type(m).__name__, activation_bounds(m), hist=Histogram(bins))
            for n, m in modules.items()
        }
        self.forwards = 0  # calls of the root model while attached
        # Outputs seen in the current forward, to catch in-place changes after the hook (weak
        # references: a probe never keeps an activation alive) and the modules where it happened.
        self._seen: list[tuple[str, weakref.ref[torch.Tensor], int]] = []
        self.overwritten: set[str] = set()
        self._handles: list[RemovableHandle] = []
        self._fastpath: bool | None = None
        self._inplace_known: set[str] = set()
        self.active = True  # set False to pause recording without removing the hooks

    def reset(self) -> None:
        """Forget what was recorded (new LayerStats objects; old ones stay valid for whoever
        holds them), e.g. before attaching the same probe again."""
        self.stats = {
            n: LayerStats(n, s.kind, s.bounds, hist=Histogram(s.hist.bins))
            for n, s in self.stats.items()
        }
        self.forwards = 0
        self._seen.clear()
        self.overwritten.clear()

    def __enter__(self) -> Probe:
        self.attach()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.detach(check=exc_type is None)  # after an error, missing calls say nothing

    def attach(self) -> None:
        """Register the hooks (prefer `with Probe(...)`, which always removes them)."""
        if self._handles:
            return
        if self.warn:
            self._inplace_known = warn_inplace(self.model, self.modules)
        self._fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        self._handles.append(self.model.register_forward_pre_hook(self._count_forward))
        if self.warn:
            self._handles.append(self.model.register_forward_hook(self._check_versions))
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def detach(self, check: bool = True) -> None:
        """Remove every hook and restore the fast-path setting; warn about misleading cases."""
        unhook(self._handles, self._fastpath)
        self._fastpath = None
        if self.warn and check:
            self._warn_calls()

    def _live(self) -> bool:
        return self.active and not (self.training_only and not torch.is_grad_enabled())

    def _count_forward(self, module: nn.Module, args: Any) -> None:
        if self._live():
            self.forwards += 1

    def _check_versions(self, module: nn.Module, args: Any, output: Any) -> None:
        self._scan()
        self._seen.clear()

    def _scan(self) -> None:
        """Flag earlier outputs of this forward changed in place since their hook ran. Run at
        every hook and at the end of the forward; a tensor already freed is not checked."""
        alive = []
        for name, ref, version in self._seen:
            t = ref()
            if t is None:
                continue
            if t._version != version:
                self.overwritten.add(name)
            else:
                alive.append((name, ref, version))
        self._seen = alive

    def _hook(self, name: str) -> Any:
        stats = self.stats[name]

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            out = first_tensor(output)
            if out is None or not self._live() or not out.is_floating_point():
                return
            self.observe(stats, out)

        return hook

    def observe(self, stats: LayerStats, out: torch.Tensor) -> None:
        """Fold one output (B, ...) into `stats`; called from the hook."""
        if self.warn and not out.is_inference():  # inference tensors have no version counter
            self._scan()
            self._seen.append((stats.name, weakref.ref(out), out._version))
        stats.calls += 1
        stats.shape = tuple(out.shape)
        with torch.no_grad():
            stats.moments.update(out, stats.bounds)
            if out.ndim >= 2:
                axis = 1 if out.ndim != 3 else self.unit_axis
                stats.units.update(out, axis, stats.bounds)
            if self.histograms:
                stats.hist.update(out)
            have = sum(len(k) for k in stats.kept)
            if have < self.keep:
                stats.kept.append(out[: self.keep - have].detach().to("cpu", copy=True))
        if self.grads and out.requires_grad:
            out.register_hook(lambda g: stats.grad.update(g))

    def table(self) -> list[dict[str, Any]]:
        """One summary row per probed module that was called, in model order."""
        return [s.summary() for s in self.stats.values() if s.calls]

    def _warn_calls(self) -> None:
        if not self.forwards:
            return
        later = sorted(self.overwritten - self._inplace_known)
        if later:
            warnings.warn(
                f"the output of {', '.join(later)} was changed in place later in the forward "
                "(e.g. F.relu(x, inplace=True) or x += ...): statistics were taken before the "
                "change, but gradient statistics and anything read from the tensor later differ",
                ProbeWarning,
                stacklevel=3,
            )
        for name, s in self.stats.items():
            if s.calls > self.forwards:
                warnings.warn(
                    f"{name} ran {s.calls} times in {self.forwards} forward passes (a shared or "
                    "reused module): its statistics mix every call",
                    ProbeWarning,
                    stacklevel=3,
                )
            elif s.calls == 0:
                warnings.warn(
                    f"{name} never ran while the model did: a fused fast path or custom forward "
                    "may skip it (e.g. nn.TransformerEncoderLayer's fused kernel), so it has no stats",
                    ProbeWarning,
                    stacklevel=3,
                )


def warn_inplace(model: nn.Module, modules: dict[str, nn.Module]) -> set[str]:
    """One warning listing probed modules that work in place or whose output the next sibling
    overwrites in place (statistics are taken inside the hook, so they stay right; gradients and
    anything read later may not); returns their names. In-place ops inside a forward show up
    only when it runs (`Probe` compares tensor versions after each forward)."""
    found: list[str] = []
    for parent_name, parent in model.named_modules():
        children = list(parent.named_children())
        for (name, _), (next_name, nxt) in itertools.pairwise(children):
            full = f"{parent_name}.{name}" if parent_name else name
            if full in modules and getattr(nxt, "inplace", False):
                found.append(f"{full} (overwritten by {next_name})")
    found += [f"{n} (in-place itself)" for n, m in modules.items() if getattr(m, "inplace", False)]
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        warnings.warn(
            f"in-place activations touch probed outputs: {shown}; statistics are taken inside "
            "the hook and kept tensors are copies, but gradient hooks and input stats may mislead",
            ProbeWarning,
            stacklevel=4,
        )
    return {name.split(" ")[0] for name in found}


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd for a look inside; every module's own mode is restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, was in modes:
            m.training = was


@contextmanager
def batch_norms(model: nn.Module, on: bool) -> Iterator[None]:
    """If `on`: batch-norm layers use batch statistics (their running ones are left untouched)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not on or not norms:
        yield
        return
    saved = [
        (m, m.momentum, m.training, {k: v.clone() for k, v in m.named_buffers()}) for m in norms
    ]
    for m in norms:
        m.train()
    try:
        yield
    finally:
        for m, momentum, training, buffers in saved:
            m.momentum, m.training = momentum, training
            for k, v in buffers.items():
                getattr(m, k).copy_(v)


def hook_count(model: nn.Module) -> int:
    """Forward (pre-)hooks and backward hooks still registered anywhere in `model` (tests use this)."""
    total = 0
    for m in model.modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
        ):
            total += len(getattr(m, attr, {}))
    return total
