"""Representation similarity by linear CKA (Kornblith et al. 2019): layer x layer within one net,
between two nets (seeds, resnet vs its plain twin, epochs of one training), and across the seeds
of a study variant. Full CKA on all inputs at once, or the minibatch estimator built on the
unbiased HSIC (Nguyen et al. 2021) when the inputs do not fit one Gram matrix.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure
from torch import nn

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.inspect.features import feature_layers
from trainlab.inspect.landscape import TRAJECTORY_DIR, finite, trained_with_states
from trainlab.inspect.probes import eval_mode
from trainlab.inspect.target import Inspection, Output, Target, from_config, from_run, study_name
from trainlab.models.layers import first_tensor
from trainlab.plots import similarity as pl
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table

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

    def keep(name: str, out: Any) -> None:
        main = first_tensor(out)  # a GRU gives (outputs, h_n): its outputs are the layer's
        if main is None:
            raise ConfigError(f"layer {name!r} outputs no tensor ({type(out).__name__})")
        kept[name].append(main.detach().flatten(1).float().cpu())

    handles = [
        modules[n].register_forward_hook(lambda _m, _i, out, n=n: keep(n, out)) for n in layers
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


# samples: test inputs CKA is measured on; batch: None = full CKA on all of them at once, else
# the minibatch estimator over batches of this size; seeds: nets trained per config (the first
# is the config's own seed, the others seed+1, seed+2, ...).
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"samples": 512, "batch": None, "seeds": 2},
    "full": {"samples": 4096, "batch": 256, "seeds": 3},
}


def _stage(layer: str) -> str:
    """The stage a block belongs to (features.stage2.block1 -> stage2), else the layer itself."""
    parts = [p for p in layer.split(".") if p.startswith("stage")]
    return parts[0] if parts else layer


def per_stage(layers: Sequence[str], values: np.ndarray) -> dict[str, float | None]:
    """Mean of per-layer values over the layers of each stage, in model order."""
    groups: dict[str, list[float]] = {}
    for n, v in zip(layers, values, strict=True):
        groups.setdefault(_stage(n), []).append(float(v))
    return {k: finite(float(np.mean(v))) for k, v in groups.items()}


def epoch_similarity(
    model: nn.Module,
    states: Sequence[dict[str, torch.Tensor]],
    x: torch.Tensor,
    layers: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """(layers, epochs) CKA of each layer at each saved epoch with the same layer of the final
    weights (the last state): which layers settle first."""
    names = list(layers) if layers is not None else similarity_layers(model)
    final = copy.deepcopy(model)
    final.load_state_dict(states[-1])
    cols = []
    for s in states:
        at = copy.deepcopy(model)
        at.load_state_dict(s)
        cols.append(np.diag(cka_matrix(at, x, final, names, names, batch_size)))
    return np.stack(cols, axis=1)


def _matrix(m: np.ndarray) -> list[list[float | None]]:
    return [[finite(v) for v in row] for row in m]


def inspect_similarity(
    target: Target,
    store: Store,
    budget: str = "quick",
    *,
    seeds: Sequence[Target] = (),
    twin: Target | None = None,
    states: Sequence[dict[str, torch.Tensor]] = (),
    name: str | None = None,
) -> Inspection:
    """Linear CKA of `target`'s layers with each other; with `seeds` (same architecture, other
    seeds) layer x layer against the first and per layer across all; with `twin` (another net,
    e.g. the plain twin) layer x layer between the two; with `states` (saved epochs, last =
    final) each layer per epoch against its final self. Works on a user's module (`from_model`)."""
    b = BUDGETS[budget]
    model, x = target.model, target.dataset.x_test[: b["samples"]]
    layers = similarity_layers(model)
    nets = {target.label: target}
    nets.update({f"{t.label} seed {t.cfg.seed}": t for t in seeds})
    if twin is not None:
        nets[twin.label] = twin
    runs = {k: t.record for k, t in nets.items() if t.record is not None}
    how = "full linear CKA" if b["batch"] is None else f"minibatch CKA (batches of {b['batch']})"
    out = Output(
        store,
        "inspect-similarity",
        name or study_name("similarity", target),
        {"budget": budget},
        runs,
    )
    within = cka_matrix(model, x, batch_size=b["batch"])
    panels: dict[str, Any] = {f"{target.label} with itself": (within, layers, layers)}
    data: dict[str, Any] = {"layers": layers, "within": _matrix(within), "method": how}
    verdicts: list[str] = []
    tables: list[Table] = []
    if seeds:
        other = seeds[0].model
        cross = cka_matrix(model, x, other, layers, layers, b["batch"])
        panels[f"seed {target.cfg.seed} vs seed {seeds[0].cfg.seed}"] = (cross, layers, layers)
        data["seeds"] = _matrix(cross)
    if twin is not None:
        tl = similarity_layers(twin.model)
        cross = cka_matrix(model, x, twin.model, layers, tl, b["batch"])
        panels[f"{target.label} (rows) vs {twin.label} (columns)"] = (cross, layers, tl)
        data["twin"] = {"label": twin.label, "layers": tl, "cka": _matrix(cross)}
        if tl == layers:
            stages = per_stage(layers, np.diag(cross))
            data["twin"]["per_stage"] = stages
            verdicts.append(
                f"CKA {target.label} vs {twin.label}, same block, mean per stage: "
                + ", ".join(
                    f"{k} {v:.2f}" if v is not None else f"{k} n/a" for k, v in stages.items()
                )
            )
            tables.append(
                Table(
                    f"CKA {target.label} vs {twin.label} per stage",
                    ["stage", "CKA"],
                    [[k, v] for k, v in stages.items()],
                    note=f"{how} on {len(x)} test inputs; mean over the blocks of a stage of the CKA between the same block of the two nets",
                )
            )
    out.figure(
        pl.plot_cka_heatmaps(panels, f"Linear CKA between layers ({how}, {len(x)} test inputs)"),
        "cka-layers",
        "Linear CKA between layers",
    )
    if seeds:
        sims = across_seeds(
            [model, *(t.model for t in seeds)],
            [target.cfg.seed, *(t.cfg.seed for t in seeds)],
            x,
            layers,
            b["batch"],
        )
        data["across_seeds"] = {"seeds": sims.seeds, "rows": sims.rows()}
        out.figure(
            pl.plot_seed_similarity(
                {
                    f"{target.label}, {len(sims.seeds)} seeds": (
                        layers,
                        sims.mean,
                        sims.low,
                        sims.high,
                    )
                }
            ),
            "cka-across-seeds",
            "CKA of each layer across seeds",
        )
        verdicts.append(seed_verdict(sims))
        tables.append(seed_table(sims, how, len(x)))
    if states:
        by_epoch = epoch_similarity(model, states, x, layers, b["batch"])
        epochs = [str(e) for e in range(1, len(states) + 1)]
        out.figure(
            pl.plot_cka_heatmaps(
                {f"{target.label}: layer at epoch e vs final": (by_epoch, layers, epochs)},
                "CKA of each layer with its final self over training",
                "epoch",
            ),
            "cka-epochs",
            "CKA of each layer at each epoch with the final weights",
        )
        data["epochs"] = _matrix(by_epoch)
        first = by_epoch[:, 0]
        verdicts.append(
            f"after epoch 1, CKA with the final net: {layers[int(np.nanargmax(first))]} highest ({np.nanmax(first):.2f}), {layers[int(np.nanargmin(first))]} lowest ({np.nanmin(first):.2f})"
        )
    summary = Summary(
        kind="inspect-similarity",
        title=f"Representation similarity (linear CKA) of {target.label} on {target.cfg.data.name}",
        text=[
            f"{how} (Kornblith et al. 2019{'' if b['batch'] is None else '; unbiased HSIC, Nguyen et al. 2021'}) of {len(layers)} layers on {len(x)} test inputs, eval mode."
        ],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    return out.finish(summary)


def seed_verdict(sims: SeedSimilarity) -> str:
    """Which layers the seeds agree on most and least, in one line."""
    m = sims.mean
    hi, lo = int(np.nanargmax(m)), int(np.nanargmin(m))
    return (
        f"CKA across {len(sims.seeds)} seeds ({len(sims.pairs)} pairs), same layer: highest "
        f"{sims.layers[hi]} {m[hi]:.2f}, lowest {sims.layers[lo]} {m[lo]:.2f} "
        f"(range over pairs {sims.low[lo]:.2f}–{sims.high[lo]:.2f})"
    )


def seed_table(sims: SeedSimilarity, how: str, n: int) -> Table:
    return Table(
        "CKA of each layer across seeds",
        ["layer", "mean", "min", "max"],
        [[r["layer"], r["mean"], r["min"], r["max"]] for r in sims.rows()],
        note=f"{how} on {n} test inputs; over the {len(sims.pairs)} pairs of seeds {sims.seeds}",
    )


def seed_similarity(
    store: Store,
    study: str,
    variant: str,
    samples: int = 512,
    layers: Sequence[str] | None = None,
    batch_size: int | None = None,
    role: str | None = None,
) -> SeedSimilarity:
    """For the finished runs of one variant of a stored study (its seeds), the CKA between the
    same layer of each pair of seeds, per layer: "these seeds learn the same features in block 1,
    not in block 3". Inputs: the first `samples` test inputs of the first run's split. `role`:
    only the runs of that role (`final`: not the tuning runs of other settings)."""
    record = store.get_study(study)
    links = [lk for lk in store.study_links(record.id, role) if lk.variant == variant]
    runs = {lk.run.id: lk.run for lk in links if lk.run.status == "finished"}
    if len(runs) < 2:
        found = sorted({lk.variant for lk in store.study_links(record.id)})
        raise ConfigError(
            f"variant={variant!r} of study {record.name!r}: {len(runs)} finished run(s); need at "
            f"least 2 seeds (variants: {', '.join(found) or 'none'})"
        )
    targets = [from_run(store, rid) for rid in runs]
    x = targets[0].dataset.x_test[:samples]
    return across_seeds(
        [t.model for t in targets], [t.cfg.seed for t in targets], x, layers, batch_size
    )


def plot_seed_similarity(sims: SeedSimilarity, label: str) -> MplFigure:
    """The figure of `seed_similarity`: layer on x, CKA across seeds on y (mean, min–max band)."""
    return pl.plot_seed_similarity(
        {f"{label} ({len(sims.seeds)} seeds)": (sims.layers, sims.mean, sims.low, sims.high)}
    )


def similarity_study(
    base: RunConfig,
    store: Store,
    budget: str = "quick",
    given: Target | None = None,
    twin_cfg: RunConfig | None = None,
) -> Inspection:
    """Train (or reuse) `base` with its states saved every epoch in the inspection's folder, its
    other seeds, and `twin_cfg` (e.g. the plain twin); run `inspect_similarity` on them. `given`:
    an already trained net of `base` (from `--run`), compared instead of the trained one."""
    b = BUDGETS[budget]
    name = f"similarity-{base.data.name}-{base.hash()}"
    study = store.open_study(name, "inspect-similarity", {"budget": budget})
    main, states = trained_with_states(base, store, study.dir / TRAJECTORY_DIR / "main")
    main = given if given is not None else main
    seeds = [
        from_config(base.with_overrides({"seed": base.seed + k}), store, reuse=True)
        for k in range(1, b["seeds"])
    ]
    twin = from_config(twin_cfg, store, reuse=True) if twin_cfg is not None else None
    return inspect_similarity(main, store, budget, seeds=seeds, twin=twin, states=states, name=name)
