"""Attribution maps through Captum (saliency, Integrated Gradients, Grad-CAM) over images, signals
and tokens (on the embedding output); decisive-token mass vs chance, the cascading
model-randomisation test (Adebayo et al. 2018) and agreement of maps across seeds.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from trainlab.blocks import ConvBlock, ResidualBlock
from trainlab.errors import ConfigError
from trainlab.inspect.probes import eval_mode
from trainlab.inspect.target import Inspection, Output, Target, from_run, study_name
from trainlab.plots import attribution as pa
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table

METHODS = ("saliency", "ig", "gradcam")
LABELS = {"saliency": "saliency", "ig": "Integrated Gradients", "gradcam": "Grad-CAM"}
IG_STEPS = 32  # Gauss-Legendre points on the path; completeness within 1% on our nets (tested)
RANDOM_IG_STEPS = 16  # fewer in the randomisation test: ranks, not sums, are compared there
SAMPLES = {"quick": 128, "full": 512}  # test inputs whose maps give the decisive-token mass
RANDOM_SAMPLES = {"quick": 16, "full": 64}  # test inputs of the randomisation test
FLAG_RHO = 0.5  # mean Spearman rho after every layer is re-initialised above this: flagged
KEEP = 4  # example inputs drawn
# Layers with their own weights, re-initialised one by one from the top in the cascading test;
# normalisation layers are left as trained (their reset is the identity, not a random draw).
WEIGHT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Embedding,
    nn.MultiheadAttention,
    nn.RNNBase,
)


def check_methods(methods: Sequence[str] | None) -> tuple[str, ...]:
    """`methods` (default: all of METHODS) without repeats; ConfigError naming a bad one."""
    for m in methods or ():
        if m not in METHODS:
            raise ConfigError(f"--method={m!r}: choose from {', '.join(METHODS)}")
    return tuple(dict.fromkeys(methods or METHODS))


def embedding_layer(model: nn.Module) -> str | None:
    """Name of the first nn.Embedding (where token attributions are taken), else None."""
    return next((n for n, m in model.named_modules() if isinstance(m, nn.Embedding)), None)


def gradcam_layer(model: nn.Module) -> str | None:
    """Name of the last conv feature map: the last ConvBlock / ResidualBlock (post-activation),
    else the last Conv1d/Conv2d; None for a net without convolutions."""
    blocks = [n for n, m in model.named_modules() if isinstance(m, ConvBlock | ResidualBlock)]
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    found = blocks or convs
    return found[-1] if found else None


def applicable(model: nn.Module, kind: str) -> tuple[str, ...]:
    """The METHODS that work on `model` for inputs of `kind` (Grad-CAM needs a conv layer)."""
    return tuple(
        m for m in METHODS if m != "gradcam" or (kind != "tokens" and gradcam_layer(model))
    )


@contextmanager
def embedded(model: nn.Module, tokens: torch.Tensor) -> Iterator[torch.Tensor]:
    """Within the block, `model` takes embeddings (B, T, D) in place of token ids (captum's
    interpretable embedding layer); yields the embeddings of `tokens`. Restored on exit."""
    name = embedding_layer(model)
    if name is None:
        raise ConfigError("token inputs need an nn.Embedding in the model to attribute on")
    from captum.attr import (
        configure_interpretable_embedding_layer,
        remove_interpretable_embedding_layer,
    )

    with warnings.catch_warnings():  # captum warns that it swaps the layer: that is the point
        warnings.simplefilter("ignore")
        layer = configure_interpretable_embedding_layer(model, name)
    try:
        yield layer.indices_to_embeddings(tokens).detach()
    finally:
        remove_interpretable_embedding_layer(model, layer)


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    method: str,
    kind: str,
    steps: int = IG_STEPS,
) -> torch.Tensor:
    """Attribution of logit `target` (B,) to each input position, in eval mode, on the CPU:
    images (B, H, W) and signals (B, L) summed over channels, tokens (B, T) summed over the
    embedding (attributed on the embedding output, baseline the zero embedding), vectors (B, D).
    Saliency: |gradient|; ig: Integrated Gradients from a zero baseline (summing to
    f(x) - f(0)); gradcam: Grad-CAM of `gradcam_layer`, upsampled to the input."""
    check_methods([method])
    with eval_mode(model), torch.enable_grad():
        if kind == "tokens":
            with embedded(model, x) as e:
                raw = _captum(model, e, target, method, steps)
        else:
            raw = _captum(model, x.float(), target, method, steps)
    if kind in ("image", "signal") and method != "gradcam":
        raw = raw.sum(1)  # over channels
    elif kind == "tokens":
        raw = raw.sum(-1)  # over the embedding
    return raw.detach().float().cpu()


def _captum(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, steps: int
) -> torch.Tensor:
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    x = x.detach().requires_grad_()  # captum would set it too, with a warning per call
    if method == "saliency":
        out: torch.Tensor = Saliency(model).attribute(x, target=target, abs=True)
        return out
    if method == "ig":
        ig = IntegratedGradients(model)
        out = ig.attribute(x, torch.zeros_like(x), target=target, n_steps=steps)
        return out
    name = gradcam_layer(model)
    if name is None or x.ndim not in (3, 4):
        raise ConfigError("--method=gradcam needs a conv net on images or signals")
    layer = model.get_submodule(name)
    cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    mode = "linear" if x.ndim == 3 else "bilinear"
    up: torch.Tensor = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), mode)
    return up[:, 0]


def decisive_share(maps: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over samples of the share of |attribution| on the decisive positions: maps and mask
    (B, T). Uniform maps give the chance share, mean k / T."""
    a = maps.abs().double()
    total = a.sum(1).clamp_min(1e-30)
    return float(((a * mask.to(a.dtype)).sum(1) / total).mean())


def rank_correlation(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> np.ndarray:
    """Spearman rho of |a| vs |b| per sample, (B, ...) each -> (B,); NaN where a map is constant."""
    x = np.abs(np.asarray(a, dtype=np.float64)).reshape(len(a), -1)
    y = np.abs(np.asarray(b, dtype=np.float64)).reshape(len(b), -1)
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    den = np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def weight_layers(model: nn.Module) -> list[str]:
    """Modules with their own weights (WEIGHT_TYPES), top (logits) first."""
    names = [n for n, m in model.named_modules() if isinstance(m, WEIGHT_TYPES)]
    return [n for n in reversed(names) if not any(o.startswith(n + ".") for o in names)]


@dataclass
class Randomisation:
    """The cascading model-randomisation test: after step k, layers[:k + 1] are re-initialised."""

    layers: list[str]
    rho: dict[str, list[float]]  # method -> mean Spearman rho (trained vs randomised) per step
    flagged: list[str]  # methods whose maps stay similar (rho > FLAG_RHO) with every layer random

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "rho": {k: [_finite(v) for v in vs] for k, vs in self.rho.items()},
            "flagged": self.flagged,
            "flag_rho": FLAG_RHO,
        }


def cascading_randomisation(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    methods: Sequence[str],
    kind: str,
    seed: int = 0,
) -> Randomisation:
    """Re-initialise the weight layers from the top down (each by its own `reset_parameters`,
    seeded), one more per step, and compare each method's maps with the trained model's
    (Spearman rank correlation of |maps| per input, mean over inputs). `model` is not touched."""
    layers = weight_layers(model)
    base = {m: attribute(model, x, target, m, kind, RANDOM_IG_STEPS) for m in methods}
    twin = copy.deepcopy(model)
    rho: dict[str, list[float]] = {m: [] for m in methods}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in layers:
            _reset(twin.get_submodule(name))
            for m in methods:
                r = rank_correlation(base[m], attribute(twin, x, target, m, kind, RANDOM_IG_STEPS))
                rho[m].append(float(np.nanmean(r)) if np.isfinite(r).any() else float("nan"))
    flagged = [m for m in methods if rho[m] and rho[m][-1] > FLAG_RHO]
    return Randomisation(layers, rho, flagged)


def _reset(module: nn.Module) -> None:
    # nn.MultiheadAttention has only the private name
    name = "reset_parameters" if hasattr(module, "reset_parameters") else "_reset_parameters"
    getattr(module, name)()


@dataclass
class SeedAgreement:
    """Rank correlation of attribution maps between models trained with different seeds."""

    method: str
    pairs: list[tuple[int, int, float]]  # (model i, model j, mean Spearman rho over inputs)

    @property
    def mean(self) -> float:
        values = [r for *_, r in self.pairs if np.isfinite(r)]
        return float(np.mean(values)) if values else float("nan")

    @property
    def min(self) -> float:
        values = [r for *_, r in self.pairs if np.isfinite(r)]
        return float(np.min(values)) if values else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "pairs": [[i, j, _finite(r)] for i, j, r in self.pairs],
            "mean": _finite(self.mean),
            "min": _finite(self.min),
        }


def seed_agreement(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    method: str = "ig",
) -> SeedAgreement:
    """Each pair of `models` (the seeds of one variant): the mean over inputs `x` of the Spearman
    rank correlation of their `method` maps for logits `target`."""
    if len(models) < 2:
        raise ConfigError(f"seed agreement needs at least 2 models, got {len(models)}")
    maps = [attribute(m, x, target, method, kind) for m in models]
    pairs = [
        (i, j, float(np.nanmean(rank_correlation(maps[i], maps[j]))))
        for i, j in itertools.combinations(range(len(maps)), 2)
    ]
    return SeedAgreement(method, pairs)


def seed_agreement_of_runs(
    store: Store, run_ids: Sequence[str], method: str = "ig", samples: int = 64
) -> SeedAgreement:
    """`seed_agreement` of finished runs on one dataset: every model on the first `samples` test
    inputs of the first run's split (seeds may split the pool differently; the inputs are the
    same for all models, which is what a comparison of maps needs)."""
    targets = [from_run(store, r, "cpu") for r in run_ids]
    names = {t.cfg.data.name for t in targets}
    if len(names) > 1:
        raise ConfigError(f"runs {', '.join(run_ids)}: one dataset needed, got {sorted(names)}")
    ds = targets[0].dataset
    x, y = ds.x_test[:samples], ds.y_test[:samples]
    return seed_agreement([t.model for t in targets], x, y, ds.spec.kind, method)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def inspect_attribution(
    target: Target,
    store: Store,
    methods: Sequence[str] | None = None,
    budget: str = "quick",
) -> Inspection:
    """Maps of each method on example inputs, the share of attribution on the decisive tokens vs
    chance (sequence tasks), and the cascading randomisation test. Maps explain the true label."""
    ds, model = target.dataset, target.model
    kind = ds.spec.kind
    asked = check_methods(methods)
    usable = applicable(model, kind)
    if methods:
        for m in asked:
            if m not in usable:
                raise ConfigError(
                    f"--method={m}: needs a conv net on images or signals; "
                    f"this model/data takes {', '.join(usable)}"
                )
    chosen = [m for m in asked if m in usable]
    x, y = ds.x_test[: SAMPLES[budget]], ds.y_test[: SAMPLES[budget]]
    maps = {m: attribute(model, x, y, m, kind) for m in chosen}
    out = Output(
        store,
        "inspect-attribution",
        study_name("attribution", target),
        {"methods": chosen},
        target.runs(),
    )
    names = ds.spec.token_names
    tokens = (
        [[names[int(t)] for t in row] for row in x[:KEEP]] if kind == "tokens" and names else None
    )
    mask = ds.extras.get("decisive_mask_test")
    marks = mask[:KEEP].cpu().numpy() if mask is not None else None
    out.figure(
        pa.plot_attribution_maps(
            x[:KEEP].float().cpu().numpy(),
            {LABELS[m]: v[:KEEP].numpy() for m, v in maps.items()},
            kind,
            tokens=tokens,
            decisive=marks,
            classes=[ds.spec.class_names[int(c)] for c in y[:KEEP]],
        ),
        "attribution-maps",
        "Attribution maps of each method (first test inputs, true label)",
    )
    data: dict[str, Any] = {"methods": chosen, "kind": kind, "samples": len(x)}
    verdicts: list[str] = []
    tables: list[Table] = []
    if mask is not None and kind == "tokens":
        m_cpu = mask[: len(x)].cpu()
        share = {m: decisive_share(v, m_cpu) for m, v in maps.items()}
        chance = float(m_cpu.float().mean())
        data.update(decisive_share=share, chance=chance)
        out.figure(
            pa.plot_decisive_share([LABELS[m] for m in share], list(share.values()), chance),
            "decisive-share",
            "Share of attribution on the decisive tokens vs chance",
        )
        verdicts.append(
            "attribution on decisive tokens: "
            + ", ".join(f"{LABELS[m]} {s:.2f}" for m, s in share.items())
            + f" vs chance {chance:.2f}"
        )
        tables.append(
            Table(
                "Attribution share on decisive tokens",
                ["method", "share", "chance", "ratio"],
                [[LABELS[m], s, chance, s / chance] for m, s in share.items()],
                note=f"mean over {len(x)} test inputs of sum |a| on decisive / sum |a|",
            )
        )
    n = RANDOM_SAMPLES[budget]
    rand = cascading_randomisation(model, x[:n], y[:n], chosen, kind, seed=target.cfg.seed)
    data["randomisation"] = rand.to_json()
    out.figure(
        pa.plot_randomisation(rand.layers, {LABELS[m]: r for m, r in rand.rho.items()}, FLAG_RHO),
        "randomisation",
        "Cascading model randomisation (Adebayo et al. 2018)",
    )
    for m in chosen:
        last = rand.rho[m][-1] if rand.rho[m] else float("nan")
        word = "FLAGGED: maps barely depend on the weights" if m in rand.flagged else "passes"
        verdicts.append(
            f"randomisation test, {LABELS[m]}: rho {last:.2f} with all "
            f"{len(rand.layers)} weight layers re-initialised ({word})"
        )
    tables.append(
        Table(
            "Cascading randomisation: Spearman rho vs trained maps",
            ["re-initialised down to", *[LABELS[m] for m in chosen]],
            [
                [layer, *[_finite(rand.rho[m][k]) for m in chosen]]
                for k, layer in enumerate(rand.layers)
            ],
            note=f"{n} test inputs; rank correlation of |maps|; flagged above {FLAG_RHO} at the end",
        )
    )
    summary = Summary(
        kind="inspect-attribution",
        title=f"Attribution of {target.label} on {target.cfg.data.name}",
        text=[
            f"{', '.join(LABELS[m] for m in chosen)} (Captum) on {len(x)} test inputs, eval mode,"
            " for the true label."
            + (" Tokens: attributed on the embedding output." if kind == "tokens" else "")
        ],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    out.arrays(inputs=x[:KEEP].float().cpu().numpy(), **{m: v.numpy() for m, v in maps.items()})
    return out.finish(summary)
