"""Read-only store access for the UI: one `mode=ro` SQLite connection per request, never a write.

The UI never constructs `Store` (which migrates the schema and marks dead runs): a writer in
another process must never wait on the dashboard. Configs and summaries are read as JSON.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.errors import StoreError
from trainlab.ui.runfilter import COLUMNS, QueryError, field_sql, parse

BUSY_MS = 2000  # a reader waits at most this long (WAL readers rarely wait at all)
# The key metrics come first, so a long model path or data name never pushes them off-screen.
DEFAULT_METRICS = ("val_acc", "test_acc")
DEFAULT_COLUMNS = (
    "model.name",
    "data.name",
    "optim.name",
    "optim.lr",
    "seed",
    "epochs",
    "train_loss",
)
X_AXES = ("epoch", "step", "seconds")
PAGE_MAX = 500


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclass
class Reader:
    """The store folder the UI serves; `connect()` opens a fresh read-only connection."""

    root: Path
    _fields: tuple[float, list[str], list[str]] = field(default=(0.0, [], []), repr=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.db = self.root / "trainlab.db"
        if not self.db.is_file():
            raise StoreError(f"--store {str(self.root)!r} has no trainlab.db: run something first")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(
            f"{self.db.as_uri()}?mode=ro", uri=True, timeout=BUSY_MS / 1000, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            conn.execute("PRAGMA query_only=1")
            yield conn
        finally:
            conn.close()

    # ---- fields -----------------------------------------------------------------------------
    def fields(self) -> tuple[list[str], list[str]]:
        """(config fields, metric names) seen in the newest 200 runs; cached for 5 s."""
        stamp, config, metrics = self._fields
        if time.monotonic() - stamp < 5.0 and config:
            return config, metrics
        cfg_keys: dict[str, None] = {}
        met_keys: dict[str, None] = {}
        with self.connect() as c:
            for conf, summ in c.execute(
                "SELECT config, summary FROM runs ORDER BY created DESC LIMIT 200"
            ):
                cfg_keys.update(dict.fromkeys(_flatten(json.loads(conf))))
                s = json.loads(summ)
                met_keys.update({k: None for k, v in s.items() if isinstance(v, int | float)})
        self._fields = (time.monotonic(), sorted(cfg_keys), sorted(met_keys))
        return self._fields[1], self._fields[2]

    def known(self) -> set[str]:
        config, metrics = self.fields()
        return {*config, *metrics, *(k.split(".", 1)[0] for k in config)}

    # ---- runs -------------------------------------------------------------------------------
    def runs(
        self,
        q: str = "",
        sort: str = "created",
        desc: bool = True,
        page: int = 0,
        size: int = 50,
        columns: list[str] | None = None,
    ) -> dict[str, Any]:
        """One page of runs matching the filter: identity, status, chosen config fields, metrics."""
        known = self.known()
        where = parse(q, known)
        size = max(1, min(size, PAGE_MAX))
        cols = columns or [c for c in (*DEFAULT_METRICS, *DEFAULT_COLUMNS) if c in known]
        exprs = [field_sql(c, known) for c in cols]
        order = field_sql(sort, known) if sort else "created"
        sql = (
            "SELECT id, name, status, created, ended, "
            + ", ".join(exprs or ["NULL"])
            + f" FROM runs WHERE {where.where}"
            + f" ORDER BY {order} {'DESC' if desc else 'ASC'}, id LIMIT ? OFFSET ?"
        )
        with self.connect() as c:
            total = c.execute(f"SELECT count(*) FROM runs WHERE {where.where}", where.params)
            n = int(total.fetchone()[0])
            rows = c.execute(sql, [*where.params, size, page * size]).fetchall()
        return {
            "total": n,
            "page": page,
            "size": size,
            "columns": cols,
            "rows": [
                {
                    "id": r[0],
                    "name": r[1],
                    "status": r[2],
                    "created": r[3],
                    "ended": r[4],
                    "values": list(r[5 : 5 + len(cols)]) if cols else [],
                }
                for r in rows
            ],
        }

    def run_ids(self, q: str, limit: int = 2000) -> list[str]:
        where = parse(q, self.known())
        with self.connect() as c:
            rows = c.execute(
                f"SELECT id FROM runs WHERE {where.where} ORDER BY created LIMIT ?",
                [*where.params, limit],
            ).fetchall()
        return [r[0] for r in rows]

    def curves(self, ids: list[str], metric: str) -> list[dict[str, Any]]:
        """Per run: status and the metric per epoch with its step and cumulative seconds."""
        if not ids:
            return []
        if not metric.replace("_", "").isalnum():
            raise QueryError(f"metric {metric!r}: letters, digits and _ only")
        marks = ",".join("?" * len(ids))
        with self.connect() as c:
            meta = c.execute(
                f"SELECT id, name, status, seed, config FROM runs WHERE id IN ({marks})", ids
            ).fetchall()
            pts = c.execute(
                "SELECT run_id, epoch, json_extract(metrics, '$.step'),"
                f" json_extract(metrics, '$.seconds'), json_extract(metrics, '$.{metric}')"
                f" FROM epochs WHERE run_id IN ({marks}) ORDER BY run_id, epoch",
                ids,
            ).fetchall()
        series: dict[str, dict[str, Any]] = {}
        for rid, name, status, seed, conf in meta:
            series[rid] = {
                "id": rid,
                "name": name,
                "status": status,
                "seed": seed,
                "config": _flatten(json.loads(conf)),
                **{k: [] for k in (*X_AXES, "y")},
            }
        clock: dict[str, float] = {}
        for rid, epoch, step, secs, y in pts:
            s = series.get(rid)
            if s is None:
                continue
            clock[rid] = clock.get(rid, 0.0) + float(secs or 0.0)
            s["epoch"].append(epoch)
            s["step"].append(step)
            s["seconds"].append(round(clock[rid], 4))
            s["y"].append(y)
        return [series[i] for i in ids if i in series]

    def diff(self, ids: list[str]) -> dict[str, Any]:
        """Config fields that differ between the selected runs (and how many are the same)."""
        marks = ",".join("?" * len(ids))
        with self.connect() as c:
            rows = c.execute(f"SELECT id, config FROM runs WHERE id IN ({marks})", ids).fetchall()
        flat = {rid: _flatten(json.loads(conf)) for rid, conf in rows}
        order = [i for i in ids if i in flat]
        keys = sorted({k for f in flat.values() for k in f})
        differ = [k for k in keys if len({json.dumps(flat[i].get(k)) for i in order}) > 1]
        return {
            "ids": order,
            "fields": [{"field": k, "values": [flat[i].get(k) for i in order]} for k in differ],
            "same": len(keys) - len(differ),
        }


def columns_param(raw: str) -> list[str] | None:
    cols = [c.strip() for c in raw.split(",") if c.strip()]
    return cols or None


__all__ = ["COLUMNS", "DEFAULT_COLUMNS", "Reader", "columns_param"]
