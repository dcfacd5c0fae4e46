"""`trainlab inspect features|attention|inception|residual|recorder|attribution|spectrum|similarity|landscape`: look inside a finished run
(`--run ID`) or a config trained first; figures and numbers go to an inspection study.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trainlab.cli.app import app, err, open_store, print_json, split_config
from trainlab.cli.options import LOOK_TAIL, Look, takes

inspect_app = typer.Typer(
    help="Model internals: features, attention, Inception branches, residual flow, flight record, "
    "attribution, weight spectra, layer similarity (CKA), loss landscape along training.",
    no_args_is_help=True,
)
app.add_typer(inspect_app, name="inspect")


def _run(kind: str, look: Look, **options: Any) -> None:
    from trainlab.errors import ConfigError
    from trainlab.inspect.recipes import check_budget, default_config, run_inspection

    check_budget(look.budget)
    try:
        config, items = split_config(look.config, look.overrides)
    except ConfigError as exc:  # `inspect recorder 1a2b3c`: a run id where a config goes
        raise ConfigError(f"{exc}; a stored run is inspected with --run RUN_ID") from None
    items += [f"{k}={v}" for k, v in look.shortcuts().items() if v is not None]
    cfg = None
    if look.run is not None:
        if config is not None or items:
            raise ConfigError(
                "--run inspects a stored run; give either --run or a config, not both"
            )
    else:
        cfg = default_config(kind, items, look.budget, config)
        err.print(f"{kind}: {cfg.model.name} on {cfg.data.name}, {cfg.train.epochs} epochs ...")
    result = run_inspection(kind, open_store(look.store), cfg, look.run, look.budget, **options)
    if look.as_json:
        print_json(result.to_json())
        return
    summary = result.summary
    err.print(f"[bold]{summary.title}[/bold]")
    for line in summary.verdicts:
        err.print(f"  {line}")
    err.print(f"{len(summary.figures)} figure(s) and tables in {result.dir}")


@inspect_app.command("features")
@takes("look", Look, tail=LOOK_TAIL)
def features(
    look: Look,
    layer: Annotated[
        list[str] | None, typer.Option(help="Module name to probe, repeatable")
    ] = None,
) -> None:
    """Activation histograms, per-layer stats and feature maps of the model's blocks."""
    _run("features", look, layers=layer)


@inspect_app.command("attention")
@takes("look", Look, tail=LOOK_TAIL)
def attention(
    look: Look,
    patch: Annotated[
        int | None, typer.Option(help="Images: show this patch's attention, not the class token's")
    ] = None,
) -> None:
    """Per-head attention maps, rollout, entropy, decisive-token mass / patch attention."""
    _run("attention", look, patch=patch)


@inspect_app.command("inception")
@takes("look", Look, tail=LOOK_TAIL)
def inception(
    look: Look,
) -> None:
    """Inception branch maps, channel layout and energy shares (and their change in training)."""
    _run("inception", look)


@inspect_app.command("residual")
@takes("look", Look, tail=LOOK_TAIL)
def residual(
    look: Look,
) -> None:
    """resnet vs plainnet: gradient norms vs depth, flow per block, lesions, loss landscape."""
    _run("residual", look)


@inspect_app.command("recorder")
@takes("look", Look, tail=LOOK_TAIL)
def recorder(
    look: Look,
    every: Annotated[
        int | None,
        typer.Option(help="Record every N optimizer steps (default: about 60 records per run)"),
    ] = None,
) -> None:
    """Flight-record figures of a run trained with `--record`, or train a config with the recorder."""
    _run("recorder", look, every=every)


@inspect_app.command("attribution")
@takes("look", Look, tail=LOOK_TAIL)
def attribution(
    look: Look,
    method: Annotated[
        list[str] | None,
        typer.Option(help="saliency | ig | gradcam, repeatable (default: every one that applies)"),
    ] = None,
) -> None:
    """Saliency, Integrated Gradients, Grad-CAM maps; decisive-token share; randomisation test."""
    from trainlab.inspect.attribution import check_methods

    check_methods(method)  # one line before anything trains
    _run("attribution", look, methods=method)


@inspect_app.command("spectrum")
@takes("look", Look, tail=LOOK_TAIL)
def spectrum(
    look: Look,
) -> None:
    """Weight spectra: each layer's ESD and power-law alpha (per epoch when it trains here)."""
    _run("spectrum", look)


@inspect_app.command("similarity")
@takes("look", Look, tail=LOOK_TAIL)
def similarity(
    look: Look,
) -> None:
    """Linear CKA between layers: within the net, across seeds, across epochs, resnet vs plainnet."""
    _run("similarity", look)


@inspect_app.command("landscape")
@takes("look", Look, tail=LOOK_TAIL)
def landscape(
    look: Look,
    directions: Annotated[
        str, typer.Option(help="Plane of the slice: pca (of the training trajectory) | random")
    ] = "pca",
) -> None:
    """Loss on the trajectory's PCA plane with the epochs drawn on it; sharpness per epoch."""
    _run("landscape", look, directions=directions)
