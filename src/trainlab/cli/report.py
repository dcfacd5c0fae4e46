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
    title: Annotated[str | None, typer.Option(help="Title (default: trainlab report)")] = None,
    out: ReportOutOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one HTML file (figures inside, nothing loaded from the network) from stored results
    only; rebuilding from the same store gives the same bytes. Prints its path."""
    from trainlab.report import write_report

    built = write_report(open_store(store), out, refs or [], latest, everything, title)
    for warning in built.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    path = str(built.path)
    if as_json:
        sections = [s.anchor for g in built.groups for s in g.sections]
        print_json({"path": path, "sections": sections, "warnings": built.warnings})
        return
    print(path)
