"""`trainlab run`, `trainlab runs ls|show|compare`, `trainlab models`, `trainlab datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from trainlab.cli.app import JsonOpt, StoreOpt, app, err, fmt, open_store, out, print_json
from trainlab.config import flatten, load_config, parse_overrides
from trainlab.errors import ConfigError
from trainlab.train.callbacks import Callback

if TYPE_CHECKING:
    from torch import nn

runs_app = typer.Typer(help="List, show and compare stored runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

SUMMARY_KEYS = (
    "test_acc",
    "val_acc",
    "best_val_acc",
    "test_loss",
    "ece",
    "epochs",
    "train_seconds",
)


class _EpochBar(Callback):
    """Advances a Rich bar per epoch; the bar first shows at the first step, so an error while the
    data or model is prepared prints its one line alone."""

    def __init__(self, progress: Progress, task: Any) -> None:
        self.progress, self.task = progress, task

    def on_step(self, step: int, model: nn.Module, loss: Any) -> None:
        if not self.progress.live.is_started:
            self.progress.start()

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        self.progress.update(
            self.task,
            advance=1,
            info=f"train_loss {metrics['train_loss']:.3f}  val_acc {metrics['val_acc']:.3f}",
        )


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Argument(help="Experiment YAML file", show_default=False)
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="field=value overrides, e.g. optim.lr=0.01")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Shortcut for data.name=...")] = None,
    model: Annotated[str | None, typer.Option(help="Shortcut for model.name=...")] = None,
    epochs: Annotated[int | None, typer.Option(help="Shortcut for train.epochs=...")] = None,
    seed: Annotated[int | None, typer.Option(help="Shortcut for seed=...")] = None,
    name: Annotated[
        str | None, typer.Option(help="Run name (does not change the config hash)")
    ] = None,
    record_every: Annotated[
        int | None,
        typer.Option(
            "--record", help="Flight recorder: per-layer stats every N steps, saved with the run"
        ),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train and evaluate one experiment and record it in the store."""
    from trainlab.cli.app import split_config
    from trainlab.train.experiment import run as run_experiment

    config, items = split_config(config, overrides)  # `trainlab run optim.lr=0.1`: no YAML
    shortcuts = {
        "data.name": data,
        "model.name": model,
        "train.epochs": epochs,
        "seed": seed,
        "name": name,
    }
    items += [f"{k}={v}" for k, v in shortcuts.items() if v is not None]
    cfg = load_config(config, items)
    st = open_store(store)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    progress = Progress(*columns, console=err, transient=True)
    task = progress.add_task(
        f"{cfg.model.name} on {cfg.data.name}", total=cfg.train.epochs, info=""
    )
    callbacks: list[Callback] = [_EpochBar(progress, task)]
    if record_every is not None:
        from trainlab.inspect.recorder import Recorder

        recorder = Recorder(every=record_every)
        callbacks.append(recorder)
    try:
        result = run_experiment(cfg, st, callbacks)
    finally:
        if progress.live.is_started:  # Progress.stop() prints a newline on a non-terminal
            progress.stop()
    record = result.record
    assert record is not None
    if record_every is not None:
        recorder.save(record.dir)  # `trainlab inspect recorder --run ID` draws it
    if as_json:
        print_json(record.as_dict())
        return
    table = Table(title=f"run {record.id} · {record.status}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("config_hash", *SUMMARY_KEYS, "params"):
        value = record.config_hash if key == "config_hash" else record.summary.get(key)
        if value is not None:
            table.add_row(key, fmt(value))
    err.print(table)
    err.print(f"stored in {record.dir}")


@runs_app.command("ls")
def runs_ls(
    where: Annotated[
        list[str] | None, typer.Option("--where", help="field=value filter, repeatable")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    from trainlab.cli.app import print_table

    records = open_store(store).list_runs(
        status=status, where=parse_overrides(where or []), limit=limit
    )
    if as_json:
        print_json([r.as_dict() for r in records])
        return
    columns = [
        "id",
        "name",
        "status",
        "data",
        "model",
        "optim",
        "lr",
        "seed",
        "test_acc",
        "val_acc",
        "seconds",
    ]
    rows = [
        (
            r.id,
            r.name,
            r.status,
            r.config.data.name,
            r.config.model.name,
            r.config.optim.name,
            fmt(r.config.optim.lr),
            str(r.seed),
            fmt(r.summary.get("test_acc")),
            fmt(r.summary.get("val_acc")),
            fmt(r.seconds),
        )
        for r in records
    ]
    print_table(f"{len(records)} run(s)", columns, rows, right=columns[6:])


@runs_app.command("show")
def runs_show(run_id: str, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Show one run: config, environment, per-epoch metrics and summary."""
    st = open_store(store)
    record = st.get_run(run_id)
    if as_json:
        print_json({**record.as_dict(), "env": record.env, "epochs": st.epochs(record.id)})
        return
    out.print(
        f"[bold]run {record.id}[/] {record.name} · {record.status} · hash {record.config_hash}"
    )
    if record.error:
        out.print(f"[red]{record.error}[/]")
    out.print_json(data=record.config.model_dump(mode="json"))
    epochs = st.epochs(record.id)
    if epochs:
        table = Table(title="epochs")
        keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
        for k in keys:
            table.add_column(k, justify="right")
        for e in epochs:
            table.add_row(*(fmt(e.get(k)) for k in keys))
        out.print(table)
    summary = Table(title="summary")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for k, v in record.summary.items():
        summary.add_row(k, fmt(v))
    out.print(summary)
    env = record.env
    out.print(
        f"python {env.get('python')} · {env.get('packages')} · {env.get('cpu')} · git {env.get('git_commit')}"
    )


@runs_app.command("compare")
def runs_compare(run_ids: list[str], store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Compare runs side by side: the config fields that differ, then the final metrics."""
    from trainlab.config import get_dotted

    st = open_store(store)
    records = [st.get_run(r) for r in run_ids]
    if len(records) < 2:
        raise ConfigError("runs compare needs at least two run ids")
    flat = [flatten(r.config.model_dump(mode="json")) for r in records]
    differing = sorted(k for k in set().union(*flat) if len({str(f.get(k)) for f in flat}) > 1)
    if as_json:
        print_json({"differing": differing, "runs": [r.as_dict() for r in records]})
        return
    table = Table(title="runs compared")
    table.add_column("field")
    for r in records:
        table.add_column(r.id, justify="right")
    for k in differing:
        table.add_row(k, *(fmt(get_dotted(r.config, k)) for r in records))
    table.add_section()
    for k in ("status", *SUMMARY_KEYS):
        values = [r.status if k == "status" else r.summary.get(k) for r in records]
        table.add_row(k, *(fmt(v) for v in values))
    out.print(table)


@app.command()
def models() -> None:
    """List the registered models and the data kinds and options they take."""
    from trainlab.cli.app import print_table
    from trainlab.models import list_models

    rows = [
        (m.name, ", ".join(m.kinds), ", ".join(m.options), m.description) for m in list_models()
    ]
    print_table("models", ("name", "takes", "options", "description"), rows)


@app.command()
def datasets() -> None:
    """List the registered datasets: built-in (no download) and user-file loaders."""
    from trainlab.cli.app import print_table
    from trainlab.data import list_datasets

    rows = [
        (d.name, d.kind, ", ".join(f"{k}={v}" for k, v in d.options.items()), d.description)
        for d in list_datasets()
    ]
    print_table("datasets", ("name", "kind", "options", "description"), rows)
