"""`trainlab run`, `trainlab runs ls|show|compare|rm`, `trainlab gc`, `trainlab models`,
`trainlab datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from trainlab.cli.app import JsonOpt, StoreOpt, app, err, fmt, open_store, out, print_json
from trainlab.config import flatten, load_config, parse_overrides
from trainlab.errors import ConfigError, TrainlabError
from trainlab.train.callbacks import Callback

if TYPE_CHECKING:
    from torch import nn

runs_app = typer.Typer(help="List, show and compare stored runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

SUMMARY_KEYS = (
    "test_acc",
    "val_acc",
    "best_val_acc",
    "test_rmse",
    "test_mae",
    "test_r2",
    "val_rmse",
    "best_val_rmse",
    "test_loss",
    "ece",
    "epochs",
    "train_seconds",
)  # those a run has; then the test_<name> of its `train.metrics`


class _EpochBar(Callback):
    """Advances a Rich bar per epoch; the bar first shows at the first step, so an error while the
    data or model is prepared prints its one line alone."""

    def __init__(self, progress: Progress, task: Any) -> None:
        self.progress, self.task = progress, task

    def on_step(self, step: int, model: nn.Module, loss: Any) -> None:
        if not self.progress.live.is_started:
            self.progress.start()

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        key = "val_rmse" if "val_acc" not in metrics else "val_acc"  # a regression's, or accuracy
        self.progress.update(
            self.task,
            advance=1,
            info=f"train_loss {metrics['train_loss']:.3f}  {key} {metrics[key]:.3f}",
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
        from trainlab.train.recorder import Recorder

        recorder = Recorder(every=record_every)
        callbacks.append(recorder)
    try:
        result = run_experiment(cfg, st, callbacks)
    except TrainlabError:
        raise
    except Exception as exc:  # stored `failed`; say why in one line, exit 3
        err.print(f"run failed: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        raise typer.Exit(3) from None
    finally:
        if progress.live.is_started:  # Progress.stop() prints a newline on a non-terminal
            progress.stop()
    record = result.record
    assert record is not None
    if record_every is not None:
        recorder.save(record.dir)  # `trainlab inspect recorder --run ID` draws it
    if as_json:
        print_json(record.as_dict())
    else:
        _print_run_summary(record)
    if record.status not in ("finished", "pruned"):  # the contract: exit 3 for a failed run
        reason = record.summary.get("reason") or record.error or "no reason recorded"
        err.print(f"run {record.id} {record.status}: {reason}", markup=False, highlight=False)
        raise typer.Exit(3)


def _print_run_summary(record: Any) -> None:
    """The result of `trainlab run` on stdout (progress went to stderr), so `> file` keeps it."""
    table = Table(title=f"run {record.id} · {record.status}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    asked = [k for k in record.summary if k.startswith("test_") and k not in SUMMARY_KEYS]
    for key in ("config_hash", *SUMMARY_KEYS, *asked, "params"):
        value = record.config_hash if key == "config_hash" else record.summary.get(key)
        if value is not None:
            table.add_row(key, fmt(value))
    out.print(table)
    if record.summary.get("reason"):
        print(f"reason: {record.summary['reason']}")
    print(f"stored in {record.dir}")  # unwrapped, whatever the width: scripts read this line


@runs_app.command("ls")
def runs_ls(
    where: Annotated[
        list[str] | None, typer.Option("--where", help="field=value filter, repeatable")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    study: Annotated[str | None, typer.Option(help="Only runs of this study (name or id)")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    from trainlab.cli.app import print_table

    records = open_store(store).list_runs(
        status=status, where=parse_overrides(where or []), limit=limit, study=study
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
        out.print(f"[red]{escape(record.error)}[/]")
    for note in record.notes:
        out.print(f"config upgraded: {note}", markup=False, highlight=False)
    out.print_json(data=record.config.model_dump(mode="json"))
    epochs = st.epochs(record.id)
    if epochs:
        table = Table(title="epochs")
        keys = tuple(k for k in epochs[0] if k not in ("step", "train_seconds"))  # as stored
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
    out.print(_environment(record.env))


def _environment(env: dict[str, Any]) -> Table:
    """The run's environment as `field  value` rows; package versions as `name version, ...`."""
    table = Table(title="environment", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in env.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        table.add_row(key, fmt(value))
    return table


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


DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing")
]


def print_removal(removal: Any, as_json: bool) -> None:
    """What a removal took (or would take) away, one line per thing, on stdout."""
    if as_json:
        print_json(removal.as_dict())
        return
    verb = "would remove" if removal.dry_run else "removed"
    for sid in removal.studies:
        print(f"{verb} study {sid}")
    for rid in removal.runs:
        print(f"{verb} run {rid}")
    for folder in removal.folders:
        print(f"{verb} folder {folder}")
    for line in removal.kept:
        print(f"kept {line}")
    if not (removal.studies or removal.runs or removal.folders):
        print("nothing to remove")


@runs_app.command("rm")
def runs_rm(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids or unique id prefixes")],
    dry_run: DryRunOpt = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete runs (rows, epochs, study links, folders) in one transaction; never a running run."""
    from trainlab.track.cleanup import remove_runs

    print_removal(remove_runs(open_store(store), run_ids, dry_run), as_json)


@app.command()
def gc(dry_run: DryRunOpt = False, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Remove run and study folders whose rows are gone, and rows of ended runs whose folder is
    gone; never a running run."""
    from trainlab.track.cleanup import collect_garbage

    print_removal(collect_garbage(open_store(store), dry_run), as_json)
