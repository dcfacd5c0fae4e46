"""A study's workloads (AlgoPerf's word): the datasets it runs its whole protocol on. With several,
every variant is labelled `workload/variant` (as the baselines study labels `mnist1d/mlp`); with
one, labels stay plain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.config import RunConfig
from trainlab.data.catalog import list_datasets, task_of
from trainlab.errors import ConfigError, TrainlabError


def check_data(data: Sequence[str] | None, base: RunConfig) -> list[str]:
    """The workloads `data` names (default: the base config's dataset), each a built-in
    classification set or the base's own; a regression base, or a model that cannot take one,
    fails here, before any run."""
    if task_of(base.data.name, base.data.options) == "regression":
        raise ConfigError(
            f"data.name={base.data.name!r} is a regression task: this study chooses on val_acc and"
            " compares test_acc; `trainlab study grid` chooses on val_rmse and compares test_rmse"
        )
    if data is None:
        return [base.data.name]
    names = list(dict.fromkeys(data))
    allowed = [d.name for d in list_datasets() if d.builtin and task_of(d.name, {}) != "regression"]
    if not names:
        raise ConfigError(f"--data '': name at least one of {', '.join(allowed)}")
    for name in names:
        if name not in allowed and name != base.data.name:
            raise ConfigError(f"--data {name!r}: choose from {', '.join(allowed)}")
    from trainlab.train.experiment import prepare

    for name in names:
        if name != base.data.name:
            try:
                prepare(on_workload(base, name))
            except TrainlabError as exc:
                raise ConfigError(f"--data {name!r}: {exc}") from None
    return names


def data_overrides(base: RunConfig, workload: str) -> dict[str, Any]:
    """What turns `base` into its run on `workload`: nothing for its own dataset (its options kept),
    else that dataset with its default options."""
    return {} if workload == base.data.name else {"data.name": workload, "data.options": {}}


def on_workload(base: RunConfig, workload: str) -> RunConfig:
    return base.with_overrides(data_overrides(base, workload))


def label(workload: str, variant: str, several: bool) -> str:
    """`digits/adam` in a study of several workloads, `adam` in a study of one."""
    return f"{workload}/{variant}" if several else variant


def by_workload(rows: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{"digits/adam": x} -> {"digits": {"adam": x}}: per workload, by the plain variant name."""
    out: dict[str, dict[str, Any]] = {}
    for name, row in rows.items():
        workload, _, variant = name.partition("/")
        out.setdefault(workload, {})[variant] = row
    return out
