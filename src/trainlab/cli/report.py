"""`trainlab report`: stored runs, studies, searches and inspections -> one self-contained HTML file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from trainlab.cli.app import (
    JsonOpt,
    ReportOutOpt,
    StoreOpt,
    app,
    err,
    open_store,
    print_json,
)


@app.command()
def report(
    refs: Annotated[
        list[str] | None,
        typer.Argument(help="Run or study ids, id prefixes or names", show_default=False),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The newest study of every kind")
    ] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="Every study, and every run outside them")
    ] = False,
    runs: Annotated[
        list[str] | None,
        typer.Option("--run", help="A run (id, prefix or name) to give its own section; repeat"),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="Group runs outside studies by this config field (default: data and model)",
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: trainlab report)")] = None,
    out: ReportOutOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one HTML file (figures inside, nothing loaded from the network) from stored results
    only; rebuilding from the same store gives the same bytes. Prints its path. With --all, runs
    outside studies are grouped: one table, one figure per group; --run ID adds a run's section."""
    from trainlab.report import write_report

    chosen = [*(refs or []), *(runs or [])]
    built = write_report(open_store(store), out, chosen, latest, everything, title, group_by)
    for warning in built.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    path = str(built.path)
    if as_json:
        sections = [s.anchor for g in built.groups for s in g.sections]
        print_json({"path": path, "sections": sections, "warnings": built.warnings})
        return
    print(path)
