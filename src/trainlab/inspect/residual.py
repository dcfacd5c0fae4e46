"""The residual-flow study behind `trainlab inspect residual`: resnet vs its plain twin — gradient
norms vs depth at initialisation and after training, training curves, per-block flow, lesions,
loss-landscape slices and activation std at initialisation (Xavier vs Kaiming); and the same
analysis of one model (`inspect_residual`, for a user's own residual net).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from trainlab import data as data_registry
from trainlab import models
from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.inspect.features import feature_layers
from trainlab.inspect.flow import (
    along_depth,
    first_last_ratio,
    grad_norms,
    init_std,
    lesion,
    mean_drop,
    residual_blocks,
    residual_flow,
)
from trainlab.inspect.landscape import curvature, loss_slice
from trainlab.inspect.target import (
    Inspection,
    Output,
    Target,
    device_for,
    from_config,
    study_name,
)
from trainlab.plots import flow as pl
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table
from trainlab.train.seed import seed_everything

NETS = ("resnet", "plainnet")
# depths: gradient norms at init (cheap; the config's own depth is always added); more_depths:
# also trained, for the training curves (the config's depth is always trained and analysed in
# full); samples: test inputs for flow and lesions; steps_*: landscape resolution per axis.
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
GRAD_BATCHES = 8  # training batches (train.batch_size each) the gradient norms are averaged over
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


def init_depths(budget_depths: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """The depths whose gradient norms at initialisation are measured: the budget's and the
    config's own (any 6n+2), in increasing order."""
    return tuple(sorted({*budget_depths, depth}))


def init_grad_norms(
    base: RunConfig, dataset: Dataset, depths: tuple[int, ...], x: Tensor, y: Tensor
) -> dict[int, dict[str, list[tuple[str, float]]]]:
    """depth -> net -> per-layer ‖∂L/∂W‖ at initialisation (mean over `base`'s batches of `x`)."""
    bs = base.train.batch_size
    return {
        d: {net: grad_norms(build(twin_config(base, net, d), dataset), x, y, bs) for net in NETS}
        for d in depths
    }


def residual_study(
    base: RunConfig, store: Store, budget: str = "quick", given: Target | None = None
) -> Inspection:
    """Train (or reuse finished runs of) resnet and plainnet like `base` and compare their flow.

    `given` is an already trained net (from `--run`); its twin is trained to match it.
    """
    b = BUDGETS[budget]
    depth = int(base.model.options.get("depth", 20))
    train_depths = (depth, *[d for d in b["more_depths"] if d != depth])
    dataset = data_registry.load(base.data, base.seed, device_for(base.train.device))
    bs = base.train.batch_size
    xg, yg = dataset.x_train[: GRAD_BATCHES * bs], dataset.y_train[: GRAD_BATCHES * bs]

    depths = init_depths(b["depths"], depth)
    at_init = init_grad_norms(base, dataset, depths, xg, yg)
    init_ratio = {net: [first_last_ratio(at_init[d][net]) for d in depths] for net in NETS}
    init_norms = at_init[depth]

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
        {"budget": budget, "depths": depths},
        runs,
    )

    after = {net: grad_norms(t.model, xg, yg, bs) for net, t in main.items()}
    trained_ratio: dict[str, dict[int, float]] = {net: {} for net in NETS}
    for key, t in trained.items():
        net, d = key.rsplit("-", 1)
        norms = after[net] if int(d) == depth else grad_norms(t.model, xg, yg, bs)
        trained_ratio[net][int(d)] = first_last_ratio(norms)
    out.figure(
        pl.plot_grad_ratio_vs_depth(depths, init_ratio, trained_ratio),
        "grad-ratio-vs-depth",
        "Gradient norm first/last layer vs depth at initialisation and after training",
    )
    series = {}
    for net in NETS:
        series[f"{net}-{depth} init"] = along_depth(init_norms[net])
        series[f"{net}-{depth} trained"] = along_depth(after[net])
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
    flow_figure(out, flow, f"Residual flow per block at depth {depth}")
    lesions = {net: lesion(t.model, xt, yt) for net, t in main.items()}
    out.figure(pl.plot_lesion(lesions), "lesion", "Lesion study: one block removed at test time")
    xl, yl = dataset.x_train[:LANDSCAPE_SAMPLES], dataset.y_train[:LANDSCAPE_SAMPLES]
    curv, landscape = landscapes(out, {n: t.model for n, t in main.items()}, xl, yl, b)
    sanity = init_sanity(base, dataset, depth)
    out.figure(pl.plot_init_std(sanity), "init-std", "Activation std per layer at initialisation")

    at = depths.index(depth)
    verdicts = [
        f"grad-norm ratio first/last layer at init, depth {depth}: "
        f"plainnet {init_ratio['plainnet'][at]:.3g} vs resnet {init_ratio['resnet'][at]:.3g} "
        "(1 = the first layer gets as much gradient as the head)",
        f"grad-norm ratio first/last layer after training, depth {depth}: "
        f"plainnet {trained_ratio['plainnet'][depth]:.3g} vs resnet {trained_ratio['resnet'][depth]:.3g}",
        "test acc: " + ", ".join(f"{k} {_acc(t)}" for k, t in trained.items()),
        "mean accuracy drop when one block is removed: "
        + ", ".join(f"{n} {mean_drop(rows):.3f}" for n, rows in lesions.items()),
        "1-D curvature at the trained weights: "
        + ", ".join(f"{n} {c['curvature']:.3g}" for n, c in curv.items()),
    ]
    tables = [
        Table(
            "Gradient norm first/last layer at initialisation and after training",
            ["depth", *(f"{n} init" for n in NETS), *(f"{n} trained" for n in NETS)],
            [
                [
                    d,
                    *(init_ratio[n][i] for n in NETS),
                    *(trained_ratio[n].get(d, math.nan) for n in NETS),
                ]
                for i, d in enumerate(depths)
            ],
            note=f"‖∂L/∂W‖ of the stem over that of the head, each the mean over {GRAD_BATCHES} "
            f"training batches of {bs} samples, training-mode batch norm",
        ),
        Table(
            "Lesion: test accuracy with one block removed",
            ["block", *NETS],
            [
                [r["block"], *(lesions[n][i]["acc"] for n in NETS)]
                for i, r in enumerate(lesions["resnet"])
            ],
        ),
        curvature_table(curv),
    ]
    data = {
        "depths": list(depths),
        "init_grad_ratio": init_ratio,
        "trained_grad_ratio": trained_ratio,
        "grad_norms": {k: v for k, v in series.items()},
        "flow": flow,
        "lesion": lesions,
        **landscape,
        "curvature": curv,
        "init_std": sanity,
        "histories": {k: t.epochs for k, t in trained.items()},
    }
    summary = Summary(
        kind="inspect-residual",
        title=f"Residual flow: resnet vs plainnet on {base.data.name}",
        text=[f"Depth {depth} analysed in full; gradient norms at init for depths {list(depths)}."],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    return out.finish(summary)


def _acc(t: Target) -> str:
    """A trained net's test accuracy for a verdict; "—" where there is none (null when stored)."""
    acc = t.record.summary.get("test_acc") if t.record is not None else None
    return "—" if acc is None or acc != acc else f"{acc:.3f}"


def flow_figure(out: Output, flow: dict[str, list[dict[str, Any]]], title: str) -> None:
    """The ‖F(x)‖/‖x‖ and activation-size figure of residual_flow rows, label -> rows."""
    out.figure(
        pl.plot_block_flow(
            {k: [r["ratio"] for r in v] for k, v in flow.items()},
            {k: [r["out_rms"] for r in v] for k, v in flow.items()},
            title,
        ),
        "block-flow",
        "‖F(x)‖/‖x‖ and activation size per block",
    )


def landscapes(
    out: Output, nets: dict[str, nn.Module], x: Tensor, y: Tensor, b: dict[str, Any]
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """1-D and 2-D loss slices of each net (same seed: the same random draws, filter-normalised
    to each net), their figures, and the curvature of each 1-D slice; weights are restored."""
    line = {n: loss_slice(m, x, y, 1, b["steps_1d"]) for n, m in nets.items()}
    plane = {n: loss_slice(m, x, y, 2, b["steps_2d"]) for n, m in nets.items()}
    curv = {n: curvature(s.alphas, s.loss) for n, s in line.items()}
    out.figure(
        pl.plot_landscape_1d(
            {
                f"{n} (curvature {curv[n]['curvature']:.3g})": (s.alphas, s.loss)
                for n, s in line.items()
            }
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
    data = {
        "landscape_1d": {
            n: {"alphas": s.alphas.tolist(), "loss": s.loss.tolist(), "acc": s.acc.tolist()}
            for n, s in line.items()
        },
        "landscape_2d": {
            n: {"alphas": s.alphas.tolist(), "loss": s.loss.tolist()} for n, s in plane.items()
        },
    }
    return curv, data


def curvature_table(curv: dict[str, dict[str, float]]) -> Table:
    return Table(
        "Loss-landscape curvature (1-D slice)",
        ["net", "curvature", "sharpness", "loss0"],
        [[n, c["curvature"], c["sharpness"], c["loss0"]] for n, c in curv.items()],
        note="curvature: second derivative of a quadratic fit over |α| <= 0.25 (α in filter "
        "norms); sharpness: largest rise over the centre loss there",
    )


def init_sanity(base: RunConfig, dataset: Dataset, depth: int) -> dict[str, list[float]]:
    """Activation std per layer at initialisation for each of INITS: the plain net (its batch
    norm hides the difference) and a norm-free ReLU MLP of the same depth (where it shows)."""
    x = dataset.x_train[:256]
    out: dict[str, list[float]] = {}
    plain = build(twin_config(base, "plainnet", depth), dataset)
    for init, stds in init_std(plain, x, feature_layers(plain)).items():
        out[f"plainnet-{depth} (per block) {init}"] = stds
    seed_everything(base.seed)
    mlp = models.build("mlp", dataset.spec, depth=depth, width=64).to(x.device)
    for init, stds in init_std(mlp, x, feature_layers(mlp)).items():
        out[f"mlp-{depth} (no norm) {init}"] = stds
    return out


def inspect_residual(target: Target, store: Store, budget: str = "quick") -> Inspection:
    """One model with residual blocks (a user's own too: modules with `branch` and `shortcut`):
    ‖F(x)‖/‖x‖ and activation size per block, per-layer gradient norms, lesions, 1-D / 2-D loss
    slices with curvature, and activation std per block with Xavier and Kaiming weights drawn
    afresh (on copies; the module keeps its weights)."""
    b = BUDGETS[budget]
    model, ds = target.model, target.dataset
    blocks = list(residual_blocks(model))
    out = Output(store, "inspect-residual", study_name("residual", target), {}, target.runs())
    xt, yt = ds.x_test[: b["samples"]], ds.y_test[: b["samples"]]
    flow = {target.label: residual_flow(model, xt)}
    flow_figure(out, flow, f"Residual flow per block of {target.label}")
    bs = target.cfg.train.batch_size
    n = GRAD_BATCHES * bs
    norms = grad_norms(model, ds.x_train[:n], ds.y_train[:n], bs)
    out.figure(
        pl.plot_grad_norms({f"{target.label} trained": along_depth(norms)}),
        "grad-norms",
        "Per-layer gradient norms",
    )
    if target.epochs:
        out.figure(
            pl.plot_training_curves({target.label: target.epochs}), "training-curves", "Training"
        )
    lesions = {target.label: lesion(model, xt, yt)}
    out.figure(pl.plot_lesion(lesions), "lesion", "Lesion study: one block removed at test time")
    xl, yl = ds.x_train[:LANDSCAPE_SAMPLES], ds.y_train[:LANDSCAPE_SAMPLES]
    curv, landscape = landscapes(out, {target.label: model}, xl, yl, b)
    stds = init_std(model, ds.x_train[:256], blocks, ("xavier", "kaiming"))  # re-drawn copies
    sanity = {f"{target.label} (per block) {init}": v for init, v in stds.items()}
    out.figure(pl.plot_init_std(sanity), "init-std", "Activation std per block at initialisation")
    c = curv[target.label]
    summary = Summary(
        kind="inspect-residual",
        title=f"Residual flow of {target.label} on {target.cfg.data.name}",
        text=[f"{len(blocks)} residual blocks; {len(xt)} test inputs, eval mode."],
        verdicts=[
            f"grad-norm ratio first/last layer: {first_last_ratio(norms):.3g}",
            f"mean accuracy drop when one block is removed: {mean_drop(lesions[target.label]):.3f}",
            f"1-D curvature at the weights: {c['curvature']:.3g} (loss there {c['loss0']:.3g})",
        ],
        tables=[curvature_table(curv)],
        data={
            "flow": flow,
            "grad_norms": dict(norms),
            "lesion": lesions,
            **landscape,
            "curvature": curv,
            "init_std": sanity,
        },
    )
    return out.finish(summary)
