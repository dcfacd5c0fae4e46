"""The root Typer app and the options every sub-command shares (the store, the console)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
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
# stderr lines are messages: never broken by Rich at 80 columns in a log (a terminal wraps them)
err = Console(stderr=True, soft_wrap=True)
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
    """`obj` as one line of strict JSON on stdout (non-finite numbers as null)."""
    from trainlab.track.strictjson import dumps

    sys.stdout.write(dumps(obj, default=str) + "\n")


def fmt(value: Any) -> str:
    """A metric for a table: 4 decimals for floats (3 significant digits below 0.001, so
    `1.29e-06` is not `0.0000`), as-is otherwise."""
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def split_config(config: Path | None, overrides: list[str] | None) -> tuple[Path | None, list[str]]:
    """The one reading of `[CONFIG.yaml] [key=value ...]` every sub-command shares: a first
    positional that contains `=` and is not an existing file is an override (`data.options.path=
    /data/wine.npz` included); a `.yaml`/`.yml` that is not there is an error."""
    from trainlab.errors import ConfigError

    items = list(overrides or [])
    if config is None:
        return None, items
    text = str(config)
    if "=" in text and not config.is_file():
        return None, [text, *items]
    if not config.is_file():
        raise ConfigError(f"config file {text!r} does not exist")
    return config, items


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[str] = ()
) -> None:
    """A result table on stdout: a Rich table on a terminal, plain TSV (a header line, then one
    line per row, nothing cut) when stdout is a pipe or a file."""
    rows = [[str(c) for c in row] for row in rows]
    if not out.is_terminal:
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in row) + "\n")
        return
    from rich.table import Table

    table = Table(title=title)
    justify = set(right)
    for col in columns:
        table.add_column(col, justify="right" if col in justify else "left")
    for row in rows:
        table.add_row(*row)
    out.print(table)
