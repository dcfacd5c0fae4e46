"""`trainlab export tensorboard|mlflow RUN...`: stored runs (or every run of a study) to other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trainlab.cli.app import JsonOpt, StoreOpt, app, err, open_store, print_json

export_app = typer.Typer(
    help="Export stored runs to TensorBoard or MLflow (needs the extra of that tool).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

RefsArg = Annotated[
    list[str],
    typer.Argument(
        help="Run ids, id prefixes or names; a study, search or inspection exports its runs",
        show_default=False,
    ),
]


def _runs(store: Any, refs: list[str]) -> list[Any]:
    from trainlab.report.select import runs_of, select

    return runs_of(store, select(store, refs))


@export_app.command("tensorboard")
def tensorboard(
    refs: RefsArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="Log folder (default: <store>/tensorboard)")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-epoch scalars, flight-recorder histograms and hparams; one log folder per run."""
    from trainlab.track.export import TB_FOLDER, export_tensorboard

    st = open_store(store)
    done = export_tensorboard(st, _runs(st, refs), out)
    if as_json:
        print_json([d.to_json() for d in done])
        return
    for d in done:
        err.print(f"{d.run_id}: {d.scalars} scalars, {d.histograms} histograms", highlight=False)
    root = out if out is not None else st.root / TB_FOLDER
    print(root)
    err.print(f"view with: tensorboard --logdir {root}", highlight=False)


@export_app.command("mlflow")
def mlflow(
    refs: RefsArg,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="e.g. sqlite:///mlflow.db or http://host:5000 "
            "(default: $MLFLOW_TRACKING_URI or MLflow's own default)",
        ),
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment name")] = "trainlab",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Params, per-epoch metrics (one log_batch per run) and artifacts; reruns skip exported runs."""
    from trainlab.track.export import export_mlflow

    st = open_store(store)
    done = export_mlflow(st, _runs(st, refs), tracking_uri, experiment)
    if as_json:
        print_json([d.to_json() for d in done])
        return
    for d in done:
        what = (
            "already exported"
            if d.skipped
            else f"{d.scalars} metric points, {d.artifacts} artifacts"
        )
        print(f"{d.run_id} -> mlflow run {d.target} ({what})")
