"""The inspections behind `trainlab inspect features|attention|recorder`: each takes a trained
Target (or a run's flight record), computes the numbers, draws the figures, stores a Summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.blocks import PatchEmbed
from trainlab.inspect.attention import (
    attention_maps,
    chance_mass,
    decisive_mass,
    head_entropy,
    patch_attention,
    rollout,
)
from trainlab.inspect.features import KEEP, feature_info
from trainlab.inspect.recorder import FlightRecord
from trainlab.inspect.target import Inspection, Output, Target, study_name
from trainlab.plots import attention as pa
from trainlab.plots import features as pf
from trainlab.plots import recorder as pr
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table

SAMPLES = {"quick": 256, "full": 1024}  # test inputs an inspection runs through the model


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
    tokens = _token_rows(target, x[:KEEP])
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
        note=f"{len(x)} test inputs, eval mode; dead/saturated: share of units that are near 0 / saturated on >= 99% of values",
    )
    worst = max(info.layers, key=lambda r: r["dead"] if r["dead"] == r["dead"] else -1.0)
    sat = max(
        info.layers, key=lambda r: r["saturated"] if r["saturated"] == r["saturated"] else -1.0
    )
    verdicts = [
        f"most dead units: {worst['layer']} ({worst['dead']:.0%})"
        if worst["dead"] > 0
        else f"no dead units in any of the {len(info.layers)} layers"
    ]
    if sat["saturated"] > 0:  # NaN (no bounded activation) compares False
        verdicts.append(f"most saturated units: {sat['layer']} ({sat['saturated']:.0%})")
    elif sat["saturated"] == 0:
        verdicts.append("no saturated units in the layers ending in tanh / sigmoid")
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


def _token_rows(target: Target, x: torch.Tensor) -> list[list[str]] | None:
    names = target.dataset.spec.token_names
    if target.dataset.spec.kind != "tokens" or names is None:
        return None
    return [[names[int(t)] for t in row] for row in x]


def prefix_tokens(model: nn.Module) -> int:
    """Tokens before the data tokens (a CLS token): the first `prefix_tokens` attribute found."""
    for m in model.modules():
        value = getattr(m, "prefix_tokens", None)
        if isinstance(value, int):
            return value
    return 0


def _image_title(prefix: int) -> str:
    first = "position 0 is the class token" if prefix == 1 else f"positions 0..{prefix - 1} lead"
    return (
        f"Attention maps per layer and head (input 0, eval mode): {first}, then patches row by "
        "row\neach layer on its own colour scale; white line on the colour bar = uniform attention"
    )


def inspect_attention(
    target: Target, store: Store, budget: str = "quick", patch: int | None = None
) -> Inspection:
    """Per-layer, per-head maps, rollout, entropy; decisive-token mass on sequence tasks; class
    token (or `patch`) attention over the patch grid for images."""
    x = target.dataset.x_test[: SAMPLES[budget]]
    maps = attention_maps(target.model, x)
    layers = [m.name for m in maps]
    weights = [m.weights for m in maps]
    prefix = prefix_tokens(target.model)
    out = Output(
        store,
        "inspect-attention",
        study_name("attention", target),
        {"patch": patch},
        target.runs(),
    )
    tokens = _token_rows(target, x[:1])
    t = weights[0].shape[-1]
    mask = target.dataset.extras.get("decisive_mask_test")
    marked = [prefix + int(i) for i in mask[0].nonzero().flatten()] if mask is not None else []
    out.figure(
        pa.plot_attention_grid(
            layers,
            [w[0].numpy() for w in weights],
            tokens[0] if tokens else None,
            highlight=marked if tokens else (),
            title=None if tokens or not prefix else _image_title(prefix),
        ),
        "attention-maps",
        "Attention maps per layer and head (input 0)",
    )
    roll = rollout(weights) if all(w.shape[-1] == t for w in weights) else None
    if roll is not None:
        out.figure(
            pa.plot_rollout(
                roll[0].numpy(),
                tokens[0] if tokens else None,
                title=""
                if tokens or not prefix
                else "Attention rollout across layers (Abnar & Zuidema 2020)\n"
                "position 0 is the class token, then patches row by row",
                highlight=marked if tokens else (),
            ),
            "attention-rollout",
            "Attention rollout (input 0)",
        )
    entropy = torch.stack([head_entropy(w) for w in weights]).numpy()  # (L, H)
    out.figure(
        pa.plot_head_entropy(layers, entropy, t), "head-entropy", "Per-head attention entropy"
    )
    data: dict[str, Any] = {
        "layers": layers,
        "entropy": entropy.tolist(),
        "max_entropy": float(np.log(t)),
        "row_sum_error": max(float((w.sum(-1) - 1).abs().max()) for w in weights),
        "check_error": max(m.error for m in maps),
    }
    verdicts = [f"maps reproduce the modules' outputs to {data['check_error']:.1e} (max abs error)"]
    tables = [
        Table(
            "Per-head entropy (nats)",
            ["layer", *[f"head {h}" for h in range(entropy.shape[1])]],
            [[n, *row] for n, row in zip(layers, entropy.tolist(), strict=True)],
            note=f"uniform = log {t} = {np.log(t):.3f}",
        )
    ]
    if mask is not None and target.dataset.spec.kind == "tokens":
        keys = torch.cat(
            [torch.zeros(len(x), prefix, dtype=torch.bool), mask[: len(x)].cpu()], dim=1
        )
        query = 0 if prefix else None
        mass = torch.stack([decisive_mass(w, keys, query) for w in weights]).numpy()  # (L, H)
        chance = chance_mass(keys)
        roll_mass = (
            float(decisive_mass(roll[:, None], keys, query)[0])
            if roll is not None
            else float("nan")
        )
        title = f"Attention mass on decisive tokens vs chance (rollout: {roll_mass:.2f})"
        out.figure(pa.plot_decisive_mass(layers, mass, chance, title), "decisive-mass", title)
        best = np.unravel_index(np.argmax(mass), mass.shape)
        data.update(
            decisive_mass=mass.tolist(),
            chance=chance,
            rollout_mass=roll_mass,
            query="cls" if prefix else "all rows",
        )
        verdicts.append(
            f"attention mass on decisive tokens: best head {layers[best[0]]} h{best[1]} {mass[best]:.2f}, "
            f"rollout {roll_mass:.2f} vs chance {chance:.2f}"
        )
        tables.append(
            Table(
                "Attention mass on decisive tokens",
                ["layer", *[f"head {h}" for h in range(mass.shape[1])]],
                [[n, *row] for n, row in zip(layers, mass.tolist(), strict=True)],
                note=f"query: {'CLS token' if prefix else 'mean over all positions'}; chance (uniform) = {chance:.3f}",
            )
        )
    embed = next((m for m in target.model.modules() if isinstance(m, PatchEmbed)), None)
    if embed is not None and target.dataset.spec.kind == "image":
        q = prefix + patch if patch is not None else 0
        grids = {
            f"{pf.layer_label(n)} (head mean)": patch_attention(w, embed.grid, q, prefix)
            .mean(1)
            .numpy()[:KEEP]
            for n, w in zip(layers, weights, strict=True)
        }
        if roll is not None:
            grids["rollout"] = patch_attention(roll[:, None], embed.grid, q, prefix)[:, 0].numpy()[
                :KEEP
            ]
        who = "class token" if patch is None else f"patch {patch}"
        out.figure(
            pa.plot_patch_attention(
                x[:KEEP].float().cpu().numpy(), grids, f"Attention of the {who} over the patches"
            ),
            "patch-attention",
            f"Attention of the {who} over the patch grid",
        )
    summary = Summary(
        kind="inspect-attention",
        title=f"Attention of {target.label} on {target.cfg.data.name}",
        text=[
            f"{len(maps)} attention layers, {entropy.shape[1]} heads, {len(x)} test inputs, eval mode."
        ],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    arrays = {f"weights.{n}": w[0].numpy() for n, w in zip(layers, weights, strict=True)}
    if roll is not None:
        arrays["rollout"] = roll[0].numpy()
    out.arrays(input=x[0].cpu().numpy(), **arrays)
    return out.finish(summary)


def inspect_recorder(store: Store, run: Any, flight: FlightRecord, label: str = "") -> Inspection:
    """Figures of a run's flight record: each statistic vs step per layer, histograms over time."""
    out = Output(
        store,
        "inspect-recorder",
        f"recorder-{run.id}",
        {"every": flight.every},
        {label or run.id: run},
    )
    out.figure(
        pr.plot_recorder_stats(flight.steps, flight.layers, flight.stats),
        "recorder-stats",
        "Per-layer statistics vs step",
    )
    out.figure(
        pr.plot_colorful_dimension(
            flight.steps, flight.layers, flight.hist_counts, flight.hist_low, flight.hist_high
        ),
        "colorful-dimension",
        "Activation histograms over training",
    )
    last = {k: v[-1].tolist() for k, v in flight.stats.items()} if len(flight.steps) else {}
    rows = [[layer, *(last[k][j] for k in last)] for j, layer in enumerate(flight.layers)]
    summary = Summary(
        kind="inspect-recorder",
        title=f"Flight record of run {run.id}",
        text=[
            f"{len(flight.steps)} records, every {flight.every} steps, {len(flight.layers)} layers."
        ],
        verdicts=recorder_verdicts(flight),
        tables=[
            Table(
                f"Last record (step {int(flight.steps[-1]) if len(flight.steps) else 0})",
                ["layer", *last],
                rows,
            )
        ],
        data={
            "steps": flight.steps.tolist(),
            "layers": flight.layers,
            "stats": {k: v.tolist() for k, v in flight.stats.items()},
        },
    )
    return out.finish(summary)


def recorder_verdicts(flight: FlightRecord) -> list[str]:
    """Plain words for a flight record: the layer with most near-zero activations and the range
    of update-to-weight ratios, first record vs last."""
    if not len(flight.steps):
        return ["nothing was recorded (fewer steps than the interval)"]
    first, last = int(flight.steps[0]), int(flight.steps[-1])
    zero, ratio = flight.stats["act_near_zero"], flight.stats["update_ratio"]
    j = int(np.nanargmax(zero[-1])) if np.isfinite(zero[-1]).any() else 0
    return [
        f"share of activations near 0, {flight.layers[j]}: {zero[0, j]:.2f} at step {first} -> "
        f"{zero[-1, j]:.2f} at step {last}",
        f"update / weight ratio at step {first}: {np.nanmin(ratio[0]):.2g}..{np.nanmax(ratio[0]):.2g}"
        f" across layers; at step {last}: {np.nanmin(ratio[-1]):.2g}..{np.nanmax(ratio[-1]):.2g}",
    ]
