"""Option groups several commands share, declared once: the six execution options (studies, the
suite, a search's Ray four) and the ten options of every `trainlab inspect` command.

A group is a dataclass whose fields are typer `Annotated` options; `@takes("name", Group)` puts
the group's options where the command's `name: Group` parameter stands (the last `tail` of them
after the command's own options) and hands the command one `Group(...)`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from trainlab.cli.app import JsonOpt, StoreOpt

VectorizeOpt = Annotated[
    str,
    typer.Option(
        help="auto: the seeds of one config train as one stacked model (off by default; its"
        " speed-up, measured by benchmarks/vectorized_seeds.py, is in the README) | off"
    ),
]
DevicesOpt = Annotated[
    str | None,
    typer.Option(help="GPUs for the workers, in turn: cuda:0,cuda:1 or auto (default: none)"),
]
ExecutorOpt = Annotated[
    str,
    # `\\[`: Rich reads `[ray]` as markup and would print "(pip install 'trainlab')"
    typer.Option(
        help="local: this machine's pool | ray: Ray tasks (pip install 'trainlab\\[ray]')"
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option("--ray-address", help="Ray cluster to join (default: start a local Ray)"),
]
RunCpusOpt = Annotated[float, typer.Option("--run-cpus", help="CPUs per Ray task")]
RunGpusOpt = Annotated[
    float, typer.Option("--run-gpus", help="GPUs per Ray task (fractional: runs share a GPU)")
]


@dataclass(frozen=True)
class Execution:
    """Where a command's runs execute, as given on the command line (`trainlab.execute`)."""

    vectorize: VectorizeOpt = "off"
    devices: DevicesOpt = None
    executor: ExecutorOpt = "local"
    ray_address: RayAddressOpt = None
    run_cpus: RunCpusOpt = 1.0
    run_gpus: RunGpusOpt = 0.0

    def settings(self) -> Any:
        """The `ExecSettings` these options name (ConfigError on a bad one, nothing run)."""
        from trainlab.execute import ExecSettings, parse_devices

        return ExecSettings(
            self.executor,
            self.vectorize,
            parse_devices(self.devices),
            self.ray_address,
            self.run_cpus,
            self.run_gpus,
        )

    def context(self) -> AbstractContextManager[Any]:
        """The context in which studies run with these options: devices checked and Ray
        installed (and a given cluster joined) before any study is opened."""
        from trainlab.execute import use
        from trainlab.execute.settings import check_visible

        settings = self.settings()
        if self.executor == "local":
            check_visible(settings.devices)  # Ray's nodes have their own (--run-gpus)
        if self.executor == "ray":
            from trainlab.execute.ray import connect, require

            if self.ray_address:
                connect(settings)  # a bad address is one line, nothing stored
            else:
                require()
        return use(settings)


RAY_OPTIONS = ("executor", "ray_address", "run_cpus", "run_gpus")  # what a search takes

ConfigArg = Annotated[
    Path | None, typer.Argument(help="Experiment YAML file (trained first)", show_default=False)
]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="field=value overrides, e.g. model.options.depth=56")
]
RunOpt = Annotated[
    str | None, typer.Option("--run", help="Inspect this finished run (id or prefix)")
]
DataOpt = Annotated[str | None, typer.Option(help="Shortcut for data.name=...")]
ModelOpt = Annotated[str | None, typer.Option(help="Shortcut for model.name=...")]
EpochsOpt = Annotated[int | None, typer.Option(help="Shortcut for train.epochs=...")]
SeedOpt = Annotated[int | None, typer.Option(help="Shortcut for seed=...")]
BudgetOpt = Annotated[str, typer.Option(help="quick (well under a minute) | full")]


@dataclass(frozen=True)
class Look:
    """What every `trainlab inspect` command takes: a stored run or a config (with shortcuts)
    to train first, the budget, the store and the output form."""

    config: ConfigArg = None
    overrides: OverridesArg = None
    run: RunOpt = None
    data: DataOpt = None
    model: ModelOpt = None
    epochs: EpochsOpt = None
    seed: SeedOpt = None
    budget: BudgetOpt = "quick"  # this and the next two come after the command's own options
    store: StoreOpt = None
    as_json: JsonOpt = False

    def shortcuts(self) -> dict[str, Any]:
        """The shortcut options as config fields (None: not given)."""
        return {
            "data.name": self.data,
            "model.name": self.model,
            "train.epochs": self.epochs,
            "seed": self.seed,
        }


LOOK_TAIL = 3  # budget, store, as_json: after each inspect command's own options


def takes(
    name: str, group: type, tail: int = 0, only: Sequence[str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for a typer command: its parameter `name` becomes the options of the dataclass
    `group` (`only`: a subset, the rest at their defaults), the last `tail` of them after the
    command's other parameters; the command is called with `name=group(...)`."""
    hints = get_type_hints(group, include_extras=True)
    fields = [f for f in dataclasses.fields(group) if only is None or f.name in only]
    options = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
        )
        for f in fields
    ]
    head, rest = options[: len(options) - tail], options[len(options) - tail :]

    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())
        at = [p.name for p in own].index(name)
        params = [*own[:at], *head, *own[at + 1 :], *rest]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {f.name: kwargs.pop(f.name) for f in fields}
            return command(**kwargs, **{name: group(**values)})

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return run

    return wrap
