"""`trainlab search run|show|compare-methods`: hyperparameter search from the command line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from trainlab.cli.app import (
    JsonOpt,
    StoreOpt,
    app,
    err,
    fmt,
    open_store,
    out,
    print_json,
)
from trainlab.cli.options import RAY_OPTIONS, Execution, takes
from trainlab.errors import ConfigError

search_app = typer.Typer(
    help="Hyperparameter search with Optuna: run (or resume), show, compare methods.",
    no_args_is_help=True,
)
app.add_typer(search_app, name="search")

InputsArg = Annotated[
    list[str],
    typer.Argument(
        help="BASE.yaml SPACE.yaml \\[field=value ...]; or SPACE.yaml \\[field=value ...] on the"
        " defaults",  # `\\[`: not Rich markup
        show_default=False,
    ),
]
MethodOpt = Annotated[str, typer.Option(help="grid | random | tpe | gp | cmaes")]
TrialsOpt = Annotated[
    int | None, typer.Option(help="Total trial budget (grid: at most the grid size)")
]
PruneOpt = Annotated[str, typer.Option(help="none | median | hyperband, on the per-epoch metric")]
WorkersOpt = Annotated[
    int,
    typer.Option(help="Parallel worker processes on this machine (--executor ray: Ray tasks)"),
]
MetricOpt = Annotated[str, typer.Option(help="Per-epoch metric: val_acc, val_loss, ...")]
DirectionOpt = Annotated[
    str | None, typer.Option(help="maximize | minimize (default: from the metric)")
]
NameOpt = Annotated[str | None, typer.Option(help="Search name; rerunning a name resumes it")]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        help="Optuna database URL, e.g. postgresql://user@host/db (default: journal file)"
    ),
]


@search_app.command("run")
@takes("execution", Execution, only=RAY_OPTIONS)
def search_run(
    inputs: InputsArg,
    method: MethodOpt = "tpe",
    trials: TrialsOpt = None,
    timeout: Annotated[
        float | None, typer.Option(help="Wall-time budget of this invocation, seconds")
    ] = None,
    prune: PruneOpt = "none",
    workers: WorkersOpt = 1,
    seed: Annotated[int, typer.Option(help="Sampler seed")] = 0,
    metric: MetricOpt = "val_acc",
    direction: DirectionOpt = None,
    name: NameOpt = None,
    storage: StorageOpt = None,
    stop_at: Annotated[
        float | None, typer.Option("--stop-at", help="End early once the best value reaches this")
    ] = None,
    heartbeat: Annotated[
        int,
        typer.Option(
            help="Seconds between heartbeats with --storage; a trial silent 3x this is retried"
        ),
    ] = 60,
    confirm: Annotated[
        int,
        typer.Option(
            help="Re-run the top K trials on fresh seeds; the winner is the best mean validation"
        ),
    ] = 0,
    confirm_seeds: Annotated[int, typer.Option(help="Fresh seeds per confirmed trial")] = 3,
    execution: Execution = Execution(),  # its four Ray options (cli/options.py)
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a space of config fields; every trial is a stored run. Rerun to resume.
    With --executor ray each trial is a Ray task (--ray-address needs a database --storage)."""
    from trainlab.search import SearchSettings, run_search

    base, space = _inputs(inputs)
    settings = SearchSettings(
        method=method,
        trials=trials,
        timeout=timeout,
        prune=prune,
        workers=workers,
        seed=seed,
        metric=metric,
        direction=direction,
        name=name,
        storage=storage,
        stop_at=stop_at,
        heartbeat=heartbeat,
        confirm=confirm,
        confirm_seeds=confirm_seeds,
        executor=execution.executor,
        ray_address=execution.ray_address,
        run_cpus=execution.run_cpus,
        run_gpus=execution.run_gpus,
    )
    seen: list[Any] = []
    try:
        result = run_search(
            base, space, settings, open_store(store), _progress(settings.maximize, seen),
            lambda line: err.print(line),
        )  # fmt: skip
    except KeyboardInterrupt:
        done = sum(t.state in ("COMPLETE", "PRUNED", "FAIL") for t in seen)
        err.print(
            f"interrupted: {done} trial(s) finished by this command (stored), the running trial "
            f"or confirmation run was interrupted; resume with: {resume_command()}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(130) from None
    best = result.best
    interval = result.test_interval
    if as_json:
        print_json(
            {
                "name": result.name,
                "study_id": result.study_id,
                "dir": str(result.dir),
                "metric": result.metric,
                "best_value": result.best_value,
                "best_trial": best.number if best else None,
                "best_run_id": best.run_id if best else None,
                "best_params": best.params if best else None,
                "best_config": str(result.best_config_path) if result.best_config_path else None,
                "best_test_acc": interval[0] if interval else (best.test_acc if best else None),
                "best_test_acc_ci": list(interval[1:]) if interval else None,
                "objective": "final-epoch value (restored best epoch under early stopping)",
                "confirm": [c.__dict__ for c in result.confirmed or []],
                "importances": result.importances,
                "trials": [t.__dict__ for t in result.trials],
            }
        )
        return
    _print_trials(result.name, result.trials, result.metric)
    if best is None:
        out.print("no trial completed; rerun the same command to continue")
        return
    if result.winner is not None and interval is not None:
        w = result.winner
        out.print(
            f"best (confirmed on {len(w.values)} fresh seeds): trial {w.trial} mean "
            f"{result.metric} = {fmt(w.mean)}; test_acc {interval[0]:.4f} "
            f"[95% CI {interval[1]:.4f}, {interval[2]:.4f}]",
            highlight=False,
        )
    else:
        test = f"; test_acc {best.test_acc:.4f}" if best.test_acc is not None else ""
        out.print(
            f"best: trial {best.number} (run {best.run_id}) {result.metric} = "
            f"{fmt(best.value)}{test}",
            highlight=False,
        )
    out.print(f"best config: {result.best_config_path}  (trainlab run {result.best_config_path})")
    out.print(f"figures and tables: {result.dir}")


@search_app.command("show")
def search_show(
    name: Annotated[str, typer.Argument(help="Search name or study id")],
    storage: StorageOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a search's trials (live, also while it runs), its best trial and, with --confirm, the
    confirmed winner (its fresh seeds' mean and test accuracy)."""
    from dataclasses import asdict

    from trainlab.search import load_trials
    from trainlab.search.confirm import describe_winner
    from trainlab.search.results import stored_winner

    record, trials = load_trials(open_store(store), name, storage)
    metric = record.config.get("metric", "value")
    chosen = stored_winner(record.summary)
    if as_json:
        print_json({"name": record.name, "status": record.status, "config": record.config,
                    "trials": [t.__dict__ for t in trials],
                    "winner": asdict(chosen) if chosen else None})  # fmt: skip
        return
    _print_trials(record.name, trials, metric)
    best = record.summary.get("data", {}).get("best")
    if best and chosen is None:
        out.print(
            f"best: trial {best['number']} (run {best['run_id']}) {metric} = {fmt(best['value'])}"
        )
    if chosen is not None:
        out.print(describe_winner(chosen, metric), soft_wrap=True)
        out.print(f"winner's runs: {', '.join(chosen.run_ids)}", soft_wrap=True)
    if best:
        out.print(f"best config: {record.dir / 'best.yaml'}")


@search_app.command("compare-methods")
def search_compare(
    inputs: InputsArg,
    trials: Annotated[int, typer.Option(help="Trials per search")] = 20,
    repeats: Annotated[int, typer.Option(help="Sampler seeds per method")] = 3,
    methods: Annotated[str, typer.Option(help="Comma-separated methods")] = "grid,random,tpe,gp",
    prune: PruneOpt = "none",
    workers: WorkersOpt = 1,
    metric: MetricOpt = "val_acc",
    direction: DirectionOpt = None,
    target: Annotated[
        float | None, typer.Option(help="Target value (default: random's median best)")
    ] = None,
    name: NameOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Grid vs random vs TPE vs GP on one space and budget, over several sampler seeds."""
    from trainlab.search import SearchSettings, compare_methods

    base, space = _inputs(inputs)
    settings = SearchSettings(
        trials=trials, prune=prune, workers=workers, metric=metric, direction=direction, name=name
    )
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    result = compare_methods(base, space, settings, chosen, repeats, target, open_store(store))
    assert result.summary is not None
    if as_json:
        print_json({"name": result.name, "dir": str(result.dir), **result.summary.to_json()})
        return
    table = Table(title=result.summary.title, title_justify="left", box=box.SIMPLE_HEAD)
    summary_table = result.summary.tables[0]
    for col in summary_table.columns:
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in summary_table.rows:
        table.add_row(*(fmt(v) for v in row))
    _print_whole(table)
    for line in result.summary.text:
        err.print(line)
    err.print(f"figure and tables: {result.dir}")


def _inputs(inputs: list[str]) -> tuple[Any, Any]:
    from trainlab.config import load_config
    from trainlab.search import load_space

    if not inputs:
        raise ConfigError("give BASE.yaml SPACE.yaml (or SPACE.yaml alone to search the defaults)")
    if len(inputs) >= 2 and "=" not in inputs[1]:
        base_path, space_path, overrides = Path(inputs[0]), inputs[1], inputs[2:]
        return load_config(base_path, overrides), load_space(space_path)
    return load_config(None, inputs[1:]), load_space(inputs[0])


def resume_command() -> str:
    """The command line that was run: rerunning it resumes (a search's name is derived from it)."""
    return shlex.join(["trainlab", *sys.argv[1:]])


def _progress(maximize: bool, seen: list[Any]) -> Any:
    best: list[float] = []

    def show(t: Any) -> None:
        seen.append(t)
        if t.value is not None and (not best or (t.value > best[0]) == maximize):
            best[:] = [t.value]
        value = fmt(t.value) if t.value is not None else (t.error or "")[:40]
        params = "  ".join(f"{k}={_param(v)}" for k, v in t.params.items())
        pruned = f" at epoch {t.pruned_epoch}" if t.pruned_epoch else ""
        err.print(
            f"trial {t.number:>3}  {t.state.lower()}{pruned:<12} {value:>8}"
            f"  best {fmt(best[0]) if best else '-':>7}  {params}",
            soft_wrap=True,  # one line per trial, also in a log file
        )

    return show


def _print_trials(name: str, trials: list[Any], metric: str) -> None:
    title = f"search {name}: {len(trials)} trial(s)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    params = list(dict.fromkeys(k for t in trials for k in t.params))
    for col in ("trial", "state", metric, *params, "epochs", "pruned at", "seconds", "run"):
        header = col.replace(".", ".\n", 1) if col in params else col  # full name, two lines
        table.add_column(header, justify="left" if col in ("state", "run") else "right")
    for t in trials:
        table.add_row(
            str(t.number),
            t.state.lower(),
            fmt(t.value),
            *(_param(t.params.get(k)) for k in params),
            fmt(t.epochs),
            fmt(t.pruned_epoch),
            f"{t.seconds:.1f}" if t.seconds is not None else "",
            t.run_id or "",
        )
    _print_whole(table)


def _print_whole(table: Table) -> None:
    """Print a table at its natural width when output is a file or pipe (Rich would squash it to
    80 columns and cut every value); a terminal keeps its own width."""
    if out.is_terminal:
        out.print(table)
        return
    width = Measurement.get(out, out.options.update_width(1000), table).maximum
    Console(file=out.file, width=max(out.width, width)).print(table)


def _param(value: Any) -> str:
    """A parameter value: 3 significant digits (learning rates span decades)."""
    return f"{value:.3g}" if isinstance(value, float) else fmt(value)
