"""What a study's variants take from the user's base config, said rather than silent: fields tied
to one optimizer or schedule are reset when a variant changes it, a regularization study's
variants start from no regularization, and a table lists what each variant inherits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainlab.config import EXECUTION_FIELDS, RunConfig, flatten
from trainlab.track.summary import Table

# Fields whose meaning belongs to one optimizer or schedule (their defaults in RunConfig).
OPTIMIZER_FIELDS = {"optim.momentum": 0.0, "optim.nesterov": False, "optim.betas": [0.9, 0.999],
                    "optim.weight_decay": 0.0}  # fmt: skip
SCHEDULE_FIELDS = {"schedule.options": {}, "schedule.warmup": 0}
REGULARIZERS = {"regularize.dropout": 0.0, "regularize.l1": 0.0, "regularize.l2": 0.0,
                "regularize.label_smoothing": 0.0, "optim.weight_decay": 0.0}  # fmt: skip


def own_optimizer(over: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's overrides with the optimizer- and schedule-specific fields it does not set
    reset to their defaults (an AdamW base's weight decay must not become SGD's coupled L2)."""
    reset: dict[str, Any] = {}
    if "optim.name" in over:
        reset.update(OPTIMIZER_FIELDS)
    if "schedule.name" in over:
        reset.update(SCHEDULE_FIELDS)
    return {**reset, **over}


def from_none(over: Mapping[str, Any]) -> dict[str, Any]:
    """A regularization method's overrides on top of no regularization at all."""
    return {**REGULARIZERS, **over}


def inherited(base: RunConfig, variants: Mapping[str, Mapping[str, Any]], title: str) -> Table:
    """Per variant: the base config's fields (where they differ from the defaults) it keeps, and
    those it resets or replaces. Name, seed and execution settings are left out."""
    default = flatten(RunConfig().model_dump(mode="json"))
    mine = flatten(base.model_dump(mode="json"))
    skip = {"name", "seed", *EXECUTION_FIELDS}
    own = {k: v for k, v in mine.items() if k not in skip and v != default.get(k)}
    rows = []
    for name, over in variants.items():
        keeps = [f"{k}={_short(v)}" for k, v in own.items() if k not in over]
        drops = [f"{k}: {_short(own[k])} -> {_short(v)}" for k, v in over.items()
                 if k in own and own[k] != v]  # fmt: skip
        rows.append([name, "; ".join(keeps) or "-", "; ".join(drops) or "-"])
    note = ("fields of the base config that differ from trainlab's defaults; a variant that "
            "changes the optimizer or schedule resets the fields tied to it")  # fmt: skip
    return Table(title, ["variant", "inherits from the base", "reset or replaced"], rows, note)


def _short(v: Any) -> str:
    return str(v) if not isinstance(v, float) else f"{v:g}"
