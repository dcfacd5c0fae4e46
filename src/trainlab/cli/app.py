"""The root Typer app and the options every sub-command shares (the store, the console)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    name="trainlab",
    help="Run deep-learning experiments reproducibly and see inside the models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Progress and tables go to stderr so `--json` output on stdout stays clean for scripts.
err = Console(stderr=True)
out = Console()

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Run store folder (default: $TRAINLAB_STORE or ./trainlab-runs)"),
]
WorkersOpt = Annotated[
    int | None, typer.Option(help="Worker processes (default: the cores available)")
]
ReportOutOpt = Annotated[
    Path | None, typer.Option("--out", help="HTML file (default: <store>/report.html)")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the record as one JSON object on stdout")
]


def open_store(path: Path | None) -> Any:
    from trainlab.track.store import Store

    return Store(path)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")


def fmt(value: Any) -> str:
    """A metric for a table: 4 decimals for floats (3 significant digits below 0.001, so
    `1.29e-06` is not `0.0000`), as-is otherwise."""
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)
