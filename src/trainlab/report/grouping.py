"""Runs outside studies, grouped: by data + model (or any config field), so a report over a
thousand standalone runs is one table and one figure per group, not a section per run.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainlab.config import flatten
from trainlab.errors import ConfigError
from trainlab.track.store import RunRecord

DEFAULT_FIELDS = ("data.name", "model.name")


def group_key(run: RunRecord, fields: Sequence[str]) -> str:
    """The group label of a run: the values of `fields` joined, e.g. `moons · mlp`."""
    flat = run_fields(run)
    return " · ".join(str(flat.get(f, "—")) for f in fields)


def run_fields(run: RunRecord) -> dict[str, object]:
    return {"name": run.name, "seed": run.seed, **flatten(run.config.model_dump(mode="json"))}


def check_field(runs: Sequence[RunRecord], field: str) -> None:
    """ConfigError unless some run has `field` (a dotted config field, `name` or `seed`)."""
    known = dict.fromkeys(k for r in runs for k in run_fields(r))
    if runs and field not in known:
        close = [k for k in known if field.split(".")[-1] in k][:5]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"--group-by {field!r}: not a config field of these runs; {hint}"
            f"e.g. {', '.join(list(known)[:8])}"
        )


def group_runs(
    runs: Sequence[RunRecord], field: str | None = None
) -> list[tuple[str, list[RunRecord]]]:
    """(label, runs) per group, labels in sorted order, runs in their given order."""
    fields = (field,) if field else DEFAULT_FIELDS
    if field:
        check_field(runs, field)
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(group_key(run, fields), []).append(run)
    return sorted(groups.items())
