"""Stored configs, read through their version: old field names are upgraded, fields this version
no longer has are dropped (and said so), then the config is validated as today's RunConfig.

A store keeps each run's config as JSON with the CONFIG_VERSION it was written under. Renaming or
removing a config field appends one `Upgrade` to UPGRADES (never edit an old one), so every old
store still lists, shows and reports.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from trainlab.config import RunConfig, validate
from trainlab.errors import ConfigError


@dataclass(frozen=True)
class Upgrade:
    """One step from config version k to k + 1: dotted renames (`old -> new`) and removals."""

    renamed: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()


UPGRADES: tuple[Upgrade, ...] = ()
CONFIG_VERSION = len(UPGRADES)


@dataclass
class StoredConfig:
    config: RunConfig
    notes: list[str]  # what the upgrade changed, e.g. "dropped train.foo (unknown here)"


def load_stored(raw: dict[str, Any], version: int) -> StoredConfig:
    """Today's RunConfig from a config stored under `version`; never raises for a field that an
    older trainlab wrote and this one lacks or no longer accepts (it falls back to the default)."""
    data = copy.deepcopy(raw)
    notes: list[str] = []
    for step in UPGRADES[version:]:
        for old, new in step.renamed.items():
            value = _pop(data, old, _MISSING)
            if value is not _MISSING:
                _put(data, new, value)
                notes.append(f"renamed {old} -> {new}")
        for gone in step.removed:
            if _pop(data, gone, _MISSING) is not _MISSING:
                notes.append(f"dropped {gone} (removed)")
    for _ in range(32):  # each pass drops one field today's schema rejects
        try:
            cfg = RunConfig.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
        else:
            try:
                validate(data)
            except ConfigError as exc:  # a cross-field rule added since: keep what was run
                notes.append(f"kept as stored, though today {exc}")
            return StoredConfig(cfg, notes)
        dotted = ".".join(str(p) for p in first["loc"])
        why = "unknown here" if first["type"] == "extra_forbidden" else "invalid here"
        if _pop(data, dotted, _MISSING) is _MISSING:
            break
        notes.append(f"dropped {dotted} ({why}; the default applies)")
    return StoredConfig(RunConfig(), [*notes, "config unreadable; showing defaults"])


_MISSING = object()


def _pop(data: dict[str, Any], dotted: str, default: Any) -> Any:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        return default
    return node.pop(last)


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
