"""Features: per-layer activation statistics, histograms and a few inputs' feature maps for the
blocks of a model (Dense, Conv, Residual, Inception, Attention), from one probe pass in eval mode;
`inspect_features` (`trainlab inspect features`) draws and stores them for a Target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.blocks import (
    ConvBlock,
    Dense,
    Inception,
    MultiHeadSelfAttention,
    ResidualBlock,
    TransformerBlock,
)
from trainlab.inspect.probes import Probe, eval_mode
from trainlab.inspect.target import SAMPLES, Inspection, Output, Target, study_name, token_rows
from trainlab.models.layers import default_layers, select_modules
from trainlab.plots import features as pf
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table

FEATURE_TYPES: tuple[type[nn.Module], ...] = (
    Dense,
    ConvBlock,
    ResidualBlock,
    Inception,
    TransformerBlock,
    MultiHeadSelfAttention,
    nn.TransformerEncoderLayer,
    nn.MultiheadAttention,
)
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Hardtanh,
    nn.Mish,
)
KEEP = 4  # inputs whose feature maps are kept (and drawn)


@dataclass
class FeatureInfo:
    """Numbers behind the feature figures; arrays are NumPy on the CPU."""

    layers: list[dict[str, Any]]  # one row per layer: mean, std, near_zero, dead, saturated, ...
    hists: dict[str, tuple[np.ndarray, np.ndarray]]  # layer -> (counts (bins,), edges (bins + 1,))
    maps: dict[
        str, np.ndarray
    ]  # layer -> kept outputs (k, C, L) | (k, C, H, W) | (k, T, D) | (k, F)
    inputs: np.ndarray  # (k, *input_shape): the inputs the maps belong to
    unit_axis: int  # channel axis of 3-D maps: 1 for (k, C, L), -1 for (k, T, D)


def feature_layers(model: nn.Module) -> list[str]:
    """Outermost blocks of FEATURE_TYPES; else the activation modules; else the weight layers."""
    for types in (FEATURE_TYPES, ACTIVATION_TYPES):
        found = select_modules(model, types=types, outermost=True)
        if found:
            return list(found)
    return default_layers(model)


def feature_info(
    model: nn.Module,
    x: torch.Tensor,
    names: Iterable[str] | None = None,
    types: tuple[type[nn.Module], ...] | None = None,
    keep: int = KEEP,
    batch_size: int = 256,
) -> FeatureInfo:
    """Probe `model` on inputs `x` (N, ...) in eval mode, batch by batch; keep the first `keep`.

    Layers: `names` and/or `types`, else `feature_layers(model)`. Statistics stream over all N.
    """
    chosen = list(names) if names is not None else None
    if chosen is None and types is None:
        chosen = feature_layers(model)
    probe = Probe(model, chosen, types, keep=keep, outermost=types is not None)
    with probe, eval_mode(model):
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    maps = {}
    for name, s in probe.stats.items():
        kept = s.kept_tensor()
        if kept is not None:
            maps[name] = kept.float().numpy()
    return FeatureInfo(
        layers=probe.table(),
        hists={n: (s.hist.counts.copy(), s.hist.edges) for n, s in probe.stats.items() if s.calls},
        maps=maps,
        inputs=x[:keep].detach().float().cpu().numpy(),
        unit_axis=probe.unit_axis,
    )


def inspect_features(
    target: Target,
    store: Store,
    layers: list[str] | None = None,
    budget: str = "quick",
    types: tuple[type[nn.Module], ...] | None = None,
) -> Inspection:
    """Histograms, per-layer statistics and feature-map grids of the model's blocks: the modules
    named `layers` and/or of `types`, else `feature_layers(model)`."""
    x = target.dataset.x_test[: SAMPLES[budget]]
    info = feature_info(target.model, x, names=layers, types=types, keep=KEEP)
    out = Output(
        store,
        "inspect-features",
        study_name("features", target),
        {"layers": layers, "types": [t.__name__ for t in types or ()]},
        target.runs(),
    )
    out.figure(
        pf.plot_activation_histograms(
            info.hists, kinds={r["layer"]: r["kind"] for r in info.layers}
        ),
        "activation-histograms",
        "Activation histograms per layer",
    )
    out.figure(
        pf.plot_layer_stats(info.layers),
        "layer-stats",
        "Per-layer mean, std, dead and saturated units",
    )
    tokens = token_rows(target, x[:KEEP])
    names = list(info.maps)
    shown = [
        names[i]
        for i in sorted({round(j) for j in np.linspace(0, len(names) - 1, min(4, len(names)))})
    ]
    for name in shown:
        fig = pf.plot_feature_maps(
            info.inputs, info.maps[name], name, info.unit_axis, tokens=tokens
        )
        out.figure(
            fig, f"feature-maps-{pf.layer_label(name).replace('.', '-')}", f"Feature maps: {name}"
        )
    cols = ["layer", "kind", "mean", "std", "near_zero", "dead", "saturated"]
    table = Table(
        "Per-layer activation statistics",
        cols,
        [[r[c] for c in cols] for r in info.layers],
        note=f"{len(x)} test inputs, eval mode; dead/saturated: share of units that are near 0 / "
        "at the bounds of tanh / sigmoid on >= 99% of their values (0 for unbounded "
        "activations, which have no bound to saturate at)",
    )
    worst = max(info.layers, key=lambda r: r["dead"] if r["dead"] == r["dead"] else -1.0)
    verdicts = [
        f"most dead units: {worst['layer']} ({worst['dead']:.0%})"
        if worst["dead"] > 0
        else f"no dead units in any of the {len(info.layers)} layers"
    ]
    bounded = [r for r in info.layers if r["bounded"]]
    sat = max(bounded, key=lambda r: r["saturated"], default=None)
    if sat is not None and sat["saturated"] > 0:
        verdicts.append(f"most saturated units: {sat['layer']} ({sat['saturated']:.0%})")
    elif sat is not None:
        verdicts.append(
            f"no saturated units in the layers ending in tanh / sigmoid ({len(bounded)} of "
            f"{len(info.layers)})"
        )
    summary = Summary(
        kind="inspect-features",
        title=f"Features of {target.label} on {target.cfg.data.name}",
        text=[f"Activation statistics of {len(info.layers)} layers over {len(x)} test inputs."],
        verdicts=verdicts,
        tables=[table],
        data={
            "layers": info.layers,
            "hists": {
                k: {"counts": c.tolist(), "edges": e.tolist()} for k, (c, e) in info.hists.items()
            },
        },
    )
    out.arrays(inputs=info.inputs, **{f"maps.{k}": v for k, v in info.maps.items()})
    return out.finish(summary)
