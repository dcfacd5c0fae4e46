"""`trainlab suite`: every study, a search and every inspection on built-in data, then the report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from trainlab.cli.app import (
    JsonOpt,
    ReportOutOpt,
    StoreOpt,
    WorkersOpt,
    app,
    err,
    open_store,
    print_json,
)
from trainlab.cli.options import Execution, takes


@app.command()
@takes("execution", Execution)
def suite(
    budget: Annotated[str, typer.Option(help="quick (minutes on 2 cores) | full")] = "quick",
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run just this step (repeatable), e.g. --only baselines"),
    ] = None,
    workers: WorkersOpt = None,
    execution: Execution = Execution(),  # the six execution options (cli/options.py)
    out: ReportOutOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run baselines, optimizer and regularization studies, a hyperparameter search and every
    inspection, then write one HTML report. Rerunning resumes: finished runs are reused."""
    from trainlab.suite import STEPS, run_suite

    with execution.context():
        result = run_suite(budget, open_store(store), workers, out, tuple(only or STEPS), err)
    if as_json:
        print_json(result.to_json())
    else:
        table = Table(title=f"suite ({budget}) · {result.seconds:.0f} s")
        for col in ("step", "seconds", "result"):
            table.add_column(col)
        for s in result.steps:
            table.add_row(s.name, f"{s.seconds:.0f}", s.error or "ok")
        err.print(table)
        print(result.report)  # the one line on stdout: the report's path
    if result.failed:
        raise typer.Exit(1)
