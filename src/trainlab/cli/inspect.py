"""`trainlab inspect features|attention|inception|residual|recorder|attribution|spectrum|similarity|landscape`: look inside a finished run
(`--run ID`) or a config trained first; figures and numbers go to an inspection study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trainlab.cli.app import JsonOpt, StoreOpt, app, err, open_store, print_json, split_config

inspect_app = typer.Typer(
    help="Model internals: features, attention, Inception branches, residual flow, flight record, "
    "attribution, weight spectra, layer similarity (CKA), loss landscape along training.",
    no_args_is_help=True,
)
app.add_typer(inspect_app, name="inspect")

ConfigArg = Annotated[
    Path | None, typer.Argument(help="Experiment YAML file (trained first)", show_default=False)
]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="field=value overrides, e.g. model.options.depth=56")
]
RunOpt = Annotated[
    str | None, typer.Option("--run", help="Inspect this finished run (id or prefix)")
]
DataOpt = Annotated[str | None, typer.Option(help="Shortcut for data.name=...")]
ModelOpt = Annotated[str | None, typer.Option(help="Shortcut for model.name=...")]
EpochsOpt = Annotated[int | None, typer.Option(help="Shortcut for train.epochs=...")]
SeedOpt = Annotated[int | None, typer.Option(help="Shortcut for seed=...")]
BudgetOpt = Annotated[str, typer.Option(help="quick (well under a minute) | full")]


def _run(
    kind: str,
    config: Path | None,
    overrides: list[str] | None,
    run: str | None,
    budget: str,
    shortcuts: dict[str, Any],
    store: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    from trainlab.errors import ConfigError
    from trainlab.inspect.recipes import check_budget, default_config, run_inspection

    check_budget(budget)
    try:
        config, items = split_config(config, overrides)
    except ConfigError as exc:  # `inspect recorder 1a2b3c`: a run id where a config goes
        raise ConfigError(f"{exc}; a stored run is inspected with --run RUN_ID") from None
    items += [f"{k}={v}" for k, v in shortcuts.items() if v is not None]
    cfg = None
    if run is not None:
        if config is not None or items:
            raise ConfigError(
                "--run inspects a stored run; give either --run or a config, not both"
            )
    else:
        cfg = default_config(kind, items, budget, config)
        err.print(f"{kind}: {cfg.model.name} on {cfg.data.name}, {cfg.train.epochs} epochs ...")
    result = run_inspection(kind, open_store(store), cfg, run, budget, **options)
    if as_json:
        print_json(result.to_json())
        return
    summary = result.summary
    err.print(f"[bold]{summary.title}[/bold]")
    for line in summary.verdicts:
        err.print(f"  {line}")
    err.print(f"{len(summary.figures)} figure(s) and tables in {result.dir}")


def _shortcuts(
    data: str | None, model: str | None, epochs: int | None, seed: int | None
) -> dict[str, Any]:
    return {"data.name": data, "model.name": model, "train.epochs": epochs, "seed": seed}


@inspect_app.command("features")
def features(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    layer: Annotated[
        list[str] | None, typer.Option(help="Module name to probe, repeatable")
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Activation histograms, per-layer stats and feature maps of the model's blocks."""
    short = _shortcuts(data, model, epochs, seed)
    _run("features", config, overrides, run, budget, short, store, as_json, layers=layer)


@inspect_app.command("attention")
def attention(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    patch: Annotated[
        int | None, typer.Option(help="Images: show this patch's attention, not the class token's")
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-head attention maps, rollout, entropy, decisive-token mass / patch attention."""
    short = _shortcuts(data, model, epochs, seed)
    _run("attention", config, overrides, run, budget, short, store, as_json, patch=patch)


@inspect_app.command("inception")
def inception(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inception branch maps, channel layout and energy shares (and their change in training)."""
    short = _shortcuts(data, model, epochs, seed)
    _run("inception", config, overrides, run, budget, short, store, as_json)


@inspect_app.command("residual")
def residual(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """resnet vs plainnet: gradient norms vs depth, flow per block, lesions, loss landscape."""
    short = _shortcuts(data, model, epochs, seed)
    _run("residual", config, overrides, run, budget, short, store, as_json)


@inspect_app.command("recorder")
def recorder(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    every: Annotated[
        int | None,
        typer.Option(help="Record every N optimizer steps (default: about 60 records per run)"),
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Flight-record figures of a run trained with `--record`, or train a config with the recorder."""
    short = _shortcuts(data, model, epochs, seed)
    _run("recorder", config, overrides, run, budget, short, store, as_json, every=every)


@inspect_app.command("attribution")
def attribution(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    method: Annotated[
        list[str] | None,
        typer.Option(help="saliency | ig | gradcam, repeatable (default: every one that applies)"),
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Saliency, Integrated Gradients, Grad-CAM maps; decisive-token share; randomisation test."""
    from trainlab.inspect.attribution import check_methods

    check_methods(method)  # one line before anything trains
    short = _shortcuts(data, model, epochs, seed)
    _run("attribution", config, overrides, run, budget, short, store, as_json, methods=method)


@inspect_app.command("spectrum")
def spectrum(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Weight spectra: each layer's ESD and power-law alpha (per epoch when it trains here)."""
    short = _shortcuts(data, model, epochs, seed)
    _run("spectrum", config, overrides, run, budget, short, store, as_json)


@inspect_app.command("similarity")
def similarity(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Linear CKA between layers: within the net, across seeds, across epochs, resnet vs plainnet."""
    short = _shortcuts(data, model, epochs, seed)
    _run("similarity", config, overrides, run, budget, short, store, as_json)


@inspect_app.command("landscape")
def landscape(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    directions: Annotated[
        str, typer.Option(help="Plane of the slice: pca (of the training trajectory) | random")
    ] = "pca",
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Loss on the trajectory's PCA plane with the epochs drawn on it; sharpness per epoch."""
    short = _shortcuts(data, model, epochs, seed)
    _run("landscape", config, overrides, run, budget, short, store, as_json, directions=directions)
