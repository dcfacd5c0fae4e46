"""The residual-flow study behind `trainlab inspect residual`: resnet vs its plain twin — gradient
norms vs depth at initialisation, training curves, per-block flow, lesions, loss-landscape
slices and activation std at initialisation (Xavier vs Kaiming).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import nn

from trainlab import data as data_registry
from trainlab import models
from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.inspect.features import feature_layers
from trainlab.inspect.landscape import curvature, loss_slice
from trainlab.inspect.residual import init_std, layer_grad_norms, lesion, residual_flow
from trainlab.inspect.target import Inspection, Output, Target, from_config
from trainlab.plots import flow as pl
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table
from trainlab.train.seed import resolve_device, seed_everything

NETS = ("resnet", "plainnet")
# depths: gradient norms at init (cheap); more_depths: also trained, for the training curves
# (the config's depth is always trained and analysed in full); samples: test inputs for flow and lesions; steps_*: landscape resolution per axis.
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {
        "depths": (8, 20, 56),
        "more_depths": (),
        "samples": 512,
        "steps_1d": 21,
        "steps_2d": 9,
    },
    "full": {
        "depths": (8, 20, 56),
        "more_depths": (8, 56),
        "samples": 2000,
        "steps_1d": 41,
        "steps_2d": 21,
    },
}
GRAD_BATCH = 128  # training samples in the one batch the gradient norms are measured on
LANDSCAPE_SAMPLES = 512  # training samples the landscape loss is evaluated on


def twin_config(base: RunConfig, net: str, depth: int) -> RunConfig:
    """`base` with model.name=net and depth; zero_init is a resnet-only option."""
    options = {
        k: v for k, v in base.model.options.items() if not (net == "plainnet" and k == "zero_init")
    }
    options["depth"] = depth
    return base.with_overrides(
        {"model.name": net, "model.options": options, "name": f"{net}-{depth}"}
    )


def build(cfg: RunConfig, dataset: Dataset) -> nn.Module:
    """The config's model at initialisation (seeded as a run would be)."""
    seed_everything(cfg.seed)
    model = models.build(
        cfg.model.name, dataset.spec, dropout=cfg.regularize.dropout, **cfg.model.options
    )
    return model.to(dataset.x_train.device)


def first_last_ratio(norms: list[tuple[str, float]]) -> float:
    """‖∂L/∂W‖ of the first weight layer over that of the last (the head)."""
    return norms[0][1] / norms[-1][1] if norms and norms[-1][1] > 0 else math.nan


def residual_study(
    base: RunConfig, store: Store, budget: str = "quick", given: Target | None = None
) -> Inspection:
    """Train (or reuse finished runs of) resnet and plainnet like `base` and compare their flow.

    `given` is an already trained net (from `--run`); its twin is trained to match it.
    """
    b = BUDGETS[budget]
    depth = int(base.model.options.get("depth", 20))
    train_depths = (depth, *[d for d in b["more_depths"] if d != depth])
    dataset = data_registry.load(base.data, base.seed, resolve_device(base.train.device))
    xg, yg = dataset.x_train[:GRAD_BATCH], dataset.y_train[:GRAD_BATCH]

    init_ratio: dict[str, list[float]] = {net: [] for net in NETS}
    init_norms: dict[str, list[tuple[str, float]]] = {}
    for d in b["depths"]:
        for net in NETS:
            norms = layer_grad_norms(build(twin_config(base, net, d), dataset), xg, yg)
            init_ratio[net].append(first_last_ratio(norms))
            if d == depth:
                init_norms[net] = norms

    trained: dict[str, Target] = {}
    for d in train_depths:
        for net in NETS:
            cfg = twin_config(base, net, d)
            if given is not None and given.cfg.model.name == net and d == depth:
                trained[f"{net}-{d}"] = given
            else:
                trained[f"{net}-{d}"] = from_config(cfg, store, reuse=True)
    main = {net: trained[f"{net}-{depth}"] for net in NETS}
    runs = {k: t.record for k, t in trained.items() if t.record is not None}
    out = Output(
        store,
        "inspect-residual",
        f"residual-{base.data.name}-{base.hash()}",
        {"budget": budget, "depths": b["depths"]},
        runs,
    )

    after = {net: layer_grad_norms(t.model, xg, yg) for net, t in main.items()}
    trained_ratio: dict[str, dict[int, float]] = {net: {} for net in NETS}
    for key, t in trained.items():
        net, d = key.rsplit("-", 1)
        norms = after[net] if int(d) == depth else layer_grad_norms(t.model, xg, yg)
        trained_ratio[net][int(d)] = first_last_ratio(norms)
    out.figure(
        pl.plot_grad_ratio_vs_depth(b["depths"], init_ratio, trained_ratio),
        "grad-ratio-vs-depth",
        "Gradient norm first/last layer vs depth at initialisation and after training",
    )
    series = {}
    for net in NETS:
        series[f"{net}-{depth} init"] = [v for _, v in init_norms[net]]
        series[f"{net}-{depth} trained"] = [v for _, v in after[net]]
    out.figure(
        pl.plot_grad_norms(series),
        "grad-norms",
        "Per-layer gradient norms at initialisation and after training",
    )
    out.figure(
        pl.plot_training_curves({k: t.epochs for k, t in trained.items()}),
        "training-curves",
        "Training curves",
    )

    xt, yt = dataset.x_test[: b["samples"]], dataset.y_test[: b["samples"]]
    flow = {f"{net} init": residual_flow(build(main[net].cfg, dataset), xt, True) for net in NETS}
    flow.update({f"{net} trained": residual_flow(t.model, xt) for net, t in main.items()})
    out.figure(
        pl.plot_block_flow(
            {k: [r["ratio"] for r in v] for k, v in flow.items()},
            {k: [r["out_rms"] for r in v] for k, v in flow.items()},
            f"Residual flow at depth {depth}",
        ),
        "block-flow",
        "‖F(x)‖/‖x‖ and activation size per block",
    )
    lesions = {net: lesion(t.model, xt, yt) for net, t in main.items()}
    out.figure(pl.plot_lesion(lesions), "lesion", "Lesion study: one block removed at test time")

    xl, yl = dataset.x_train[:LANDSCAPE_SAMPLES], dataset.y_train[:LANDSCAPE_SAMPLES]
    line = {net: loss_slice(t.model, xl, yl, 1, b["steps_1d"]) for net, t in main.items()}
    plane = {net: loss_slice(t.model, xl, yl, 2, b["steps_2d"]) for net, t in main.items()}
    curv = {net: curvature(s.alphas, s.loss) for net, s in line.items()}
    out.figure(
        pl.plot_landscape_1d(
            {f"{n} (k={curv[n]['curvature']:.2f})": (s.alphas, s.loss) for n, s in line.items()}
        ),
        "landscape-1d",
        "1-D loss slice",
    )
    out.figure(
        pl.plot_landscape_2d(
            {n: (s.alphas, s.betas, s.loss) for n, s in plane.items() if s.betas is not None}
        ),
        "landscape-2d",
        "2-D loss surface",
    )

    sanity = init_sanity(base, dataset, depth)
    out.figure(pl.plot_init_std(sanity), "init-std", "Activation std per layer at initialisation")

    at = b["depths"].index(depth) if depth in b["depths"] else -1
    mean_drop = {
        n: float(np.nanmean([r["drop"] for r in rows if r["block"] != "none"]))
        for n, rows in lesions.items()
    }
    verdicts = [
        f"grad-norm ratio first/last layer at init, depth {b['depths'][at]}: "
        f"plainnet {init_ratio['plainnet'][at]:.3g} vs resnet {init_ratio['resnet'][at]:.3g}",
        "test acc: "
        + ", ".join(
            f"{k} {t.record.summary.get('test_acc', float('nan')) if t.record else float('nan'):.3f}"
            for k, t in trained.items()
        ),
        "mean accuracy drop when one block is removed: "
        + ", ".join(f"{n} {v:.3f}" for n, v in mean_drop.items()),
        "1-D curvature at the trained weights: "
        + ", ".join(f"{n} {c['curvature']:.3g}" for n, c in curv.items()),
    ]
    tables = [
        Table(
            "Gradient norm first/last layer at initialisation",
            ["depth", *NETS],
            [[d, *(init_ratio[n][i] for n in NETS)] for i, d in enumerate(b["depths"])],
            note=f"one batch of {GRAD_BATCH} training samples, training-mode batch norm",
        ),
        Table(
            "Lesion: test accuracy with one block removed",
            ["block", *NETS],
            [
                [r["block"], *(lesions[n][i]["acc"] for n in NETS)]
                for i, r in enumerate(lesions["resnet"])
            ],
        ),
        Table(
            "Loss-landscape curvature (1-D slice)",
            ["net", "curvature", "sharpness", "loss0"],
            [[n, c["curvature"], c["sharpness"], c["loss0"]] for n, c in curv.items()],
            note="quadratic fit over |α| <= 0.25; sharpness: max rise over the centre loss there",
        ),
    ]
    data = {
        "depths": list(b["depths"]),
        "init_grad_ratio": init_ratio,
        "trained_grad_ratio": trained_ratio,
        "grad_norms": {k: v for k, v in series.items()},
        "flow": flow,
        "lesion": lesions,
        "landscape_1d": {
            n: {"alphas": s.alphas.tolist(), "loss": s.loss.tolist()} for n, s in line.items()
        },
        "landscape_2d": {
            n: {"alphas": s.alphas.tolist(), "loss": s.loss.tolist()} for n, s in plane.items()
        },
        "curvature": curv,
        "init_std": sanity,
        "histories": {k: t.epochs for k, t in trained.items()},
    }
    summary = Summary(
        kind="inspect-residual",
        title=f"Residual flow: resnet vs plainnet on {base.data.name}",
        text=[
            f"Depth {depth} analysed in full; gradient norms at init for depths {list(b['depths'])}."
        ],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    return out.finish(summary)


def init_sanity(base: RunConfig, dataset: Dataset, depth: int) -> dict[str, list[float]]:
    """Activation std per layer at initialisation, Xavier vs Kaiming: the plain net (batch norm
    hides the difference) and a norm-free ReLU MLP of the same depth (where it shows)."""
    x = dataset.x_train[:256]
    out: dict[str, list[float]] = {}
    plain = build(twin_config(base, "plainnet", depth), dataset)
    layers = feature_layers(plain)
    for init, stds in init_std(plain, x, layers, ("xavier", "kaiming")).items():
        out[f"plainnet-{depth} {init}"] = stds
    seed_everything(base.seed)
    mlp = models.build("mlp", dataset.spec, depth=depth, width=64).to(x.device)
    mlp_layers = feature_layers(mlp)
    for init, stds in init_std(mlp, x, mlp_layers, ("xavier", "kaiming")).items():
        out[f"mlp-{depth} (no norm) {init}"] = stds
    return out
