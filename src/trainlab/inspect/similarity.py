"""Representation similarity by linear CKA (Kornblith et al. 2019): layer x layer within one net,
between two nets (seeds, resnet vs its plain twin, epochs of one training), and across the seeds
of a study variant. Full CKA on all inputs at once, or the minibatch estimator built on the
unbiased HSIC (Nguyen et al. 2021) when the inputs do not fit one Gram matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.inspect.features import feature_layers
from trainlab.inspect.probes import eval_mode

MIN_BATCH = 4  # the unbiased HSIC divides by n - 3


def _centered_gram(x: torch.Tensor) -> torch.Tensor:
    """H (X Xᵀ) H of features x (n, p), float64: the Gram matrix of the column-centred features."""
    x = x.flatten(1).double()
    x = x - x.mean(0, keepdim=True)
    return x @ x.T


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Full linear CKA of two representations of the same n inputs, x (n, p) and y (n, q):
    ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) with centred columns, in [0, 1]."""
    k, l_ = _centered_gram(x), _centered_gram(y)
    denom = float(k.norm() * l_.norm())
    return float((k * l_).sum()) / denom if denom > 0 else float("nan")


def hsic_unbiased(k: torch.Tensor, l_: torch.Tensor) -> float:
    """The unbiased HSIC estimator (Song et al. 2012) of two (n, n) Gram matrices, n >= 4."""
    n = k.shape[0]
    if n < MIN_BATCH:
        raise ValueError(f"unbiased HSIC needs at least {MIN_BATCH} samples, got {n}")
    k = k.double().clone()
    l_ = l_.double().clone()
    k.fill_diagonal_(0)
    l_.fill_diagonal_(0)
    ones_k, ones_l = k.sum(1), l_.sum(1)  # (n,) row sums: K1, L1
    trace = (k * l_).sum()
    total = ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2))
    cross = 2.0 * (ones_k @ ones_l) / (n - 2)
    return float((trace + total - cross) / (n * (n - 3)))


class MinibatchCKA:
    """Minibatch CKA of every pair (layer i of A, layer j of B): sums of unbiased HSIC over
    batches, CKA_ij = Σ HSIC(K_i, L_j) / √(Σ HSIC(K_i, K_i) Σ HSIC(L_j, L_j)) (Nguyen et al. 2021).
    Unbiased, so a value can fall slightly below 0; it converges to the population CKA."""

    def __init__(self, rows: int, cols: int) -> None:
        self.cross = np.zeros((rows, cols))
        self.self_a = np.zeros(rows)
        self.self_b = np.zeros(cols)
        self.batches = 0

    def update(self, feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> None:
        """Add one batch: the features of each layer of A and of B on the same inputs."""
        grams_a = [f.flatten(1).double() @ f.flatten(1).double().T for f in feats_a]
        grams_b = [f.flatten(1).double() @ f.flatten(1).double().T for f in feats_b]
        for i, k in enumerate(grams_a):
            self.self_a[i] += hsic_unbiased(k, k)
            for j, l_ in enumerate(grams_b):
                self.cross[i, j] += hsic_unbiased(k, l_)
        for j, l_ in enumerate(grams_b):
            self.self_b[j] += hsic_unbiased(l_, l_)
        self.batches += 1

    def value(self) -> np.ndarray:
        """(rows, cols) CKA; NaN where a layer's HSIC with itself is not positive (constant)."""
        denom = np.sqrt(np.outer(self.self_a, self.self_b))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.cross / denom
        out[~(denom > 0)] = np.nan
        return out


def similarity_layers(model: nn.Module) -> list[str]:
    """The layers CKA compares: the model's blocks (`feature_layers`) and its head, if it has one."""
    layers = feature_layers(model)
    names = dict(model.named_modules())
    if "head" in names and "head" not in layers:
        layers.append("head")
    return layers


@contextmanager
def _collect(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Forward hooks that keep each named layer's output (flattened, on the CPU); always removed."""
    modules = dict(model.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        raise ConfigError(
            f"layer {missing[0]!r} not in the model; choose from {', '.join(list(modules)[1:21])}"
        )
    kept: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    handles = [
        modules[n].register_forward_hook(
            lambda _m, _i, out, n=n: kept[n].append(out.detach().flatten(1).float().cpu())
        )
        for n in layers
    ]
    try:
        yield kept
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def activations(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str], batch_size: int = 256
) -> list[torch.Tensor]:
    """Each layer's output on inputs x (N, ...) in eval mode, flattened to (N, features), CPU."""
    device = next(model.parameters()).device
    with eval_mode(model), _collect(model, layers) as kept:
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size].to(device))
    return [torch.cat(kept[n]) for n in layers]


def cka_matrix(
    model_a: nn.Module,
    x: torch.Tensor,
    model_b: nn.Module | None = None,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """CKA of every layer of `model_a` (rows) with every layer of `model_b` (columns; default
    `model_a` itself) on the inputs x (N, ...), eval mode. `batch_size`=None: full linear CKA on
    all N at once (N x N Gram matrices); else the minibatch estimator over batches of that size
    (batches shorter than 4 dropped)."""
    model_b = model_b if model_b is not None else model_a
    la = list(layers_a) if layers_a is not None else similarity_layers(model_a)
    lb = list(layers_b) if layers_b is not None else similarity_layers(model_b)
    if batch_size is None:
        grams_a = [_centered_gram(f) for f in activations(model_a, x, la)]
        same = model_b is model_a and lb == la
        grams_b = grams_a if same else [_centered_gram(f) for f in activations(model_b, x, lb)]
        out = np.zeros((len(la), len(lb)))
        for (i, k), (j, l_) in itertools.product(enumerate(grams_a), enumerate(grams_b)):
            denom = float(k.norm() * l_.norm())
            out[i, j] = float((k * l_).sum()) / denom if denom > 0 else np.nan
        return out
    acc = MinibatchCKA(len(la), len(lb))
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        if len(xb) < MIN_BATCH:
            break
        acc.update(activations(model_a, xb, la), activations(model_b, xb, lb))
    return acc.value()


@dataclass
class SeedSimilarity:
    """CKA between the same layer of each pair of seeds: per layer mean, min and max over pairs."""

    layers: list[str]
    seeds: list[int]
    pairs: list[tuple[int, int]]  # (seed a, seed b) in the order of `per_pair`
    per_pair: np.ndarray  # (pairs, layers)

    @property
    def mean(self) -> np.ndarray:
        return self.per_pair.mean(0)

    @property
    def low(self) -> np.ndarray:
        return self.per_pair.min(0)

    @property
    def high(self) -> np.ndarray:
        return self.per_pair.max(0)

    def rows(self) -> list[dict[str, object]]:
        """One JSON-able row per layer: layer, mean, min, max (NaN as None)."""
        return [
            {"layer": n, "mean": finite(m), "min": finite(lo), "max": finite(hi)}
            for n, m, lo, hi in zip(self.layers, self.mean, self.low, self.high, strict=True)
        ]


def finite(v: float) -> float | None:
    """`v` as a float, or None when it is NaN or infinite (strict JSON)."""
    v = float(v)
    return v if np.isfinite(v) else None


def across_seeds(
    nets: Sequence[nn.Module],
    seeds: Sequence[int],
    x: torch.Tensor,
    layers: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> SeedSimilarity:
    """CKA of each layer with the same layer of every other net (same architecture, other seed):
    the diagonal of `cka_matrix` for each of the n(n-1)/2 pairs."""
    if len(nets) < 2:
        raise ConfigError(f"across seeds: need at least 2 runs, got {len(nets)}")
    names = list(layers) if layers is not None else similarity_layers(nets[0])
    pairs, rows = [], []
    for a, b in itertools.combinations(range(len(nets)), 2):
        m = cka_matrix(nets[a], x, nets[b], names, names, batch_size)
        rows.append(np.diag(m))
        pairs.append((int(seeds[a]), int(seeds[b])))
    return SeedSimilarity(names, [int(s) for s in seeds], pairs, np.asarray(rows))
