"""One run, one study (summary, progress, links), one search's trials: read-only, as plain JSON.

Files are served only from inside the store: every path is resolved and must stay below the run's
or the study's folder (no `..`, no symlink out).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from trainlab.errors import StoreError
from trainlab.track.store import PLANNED_FILE
from trainlab.track.summary import slug
from trainlab.ui.queries import Reader

ARTIFACT_LIMIT = 200
RECORD_STATS = ("grad_norm", "weight_norm", "update_ratio", "act_std", "act_near_zero")


def safe_path(root: Path, rel: str) -> Path:
    """`root / rel` resolved; StoreError if it leaves `root` or is not a file."""
    base = root.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise StoreError(f"file {rel!r} is not in this store")
    return target


def folder(reader: Reader, kind: str, ident: str) -> Path:
    if kind not in ("runs", "studies") or not ident.isalnum():
        raise StoreError(f"{kind}/{ident!r} is not a run or study folder")
    return reader.root / kind / ident


def studies(reader: Reader) -> list[dict[str, Any]]:
    with reader.connect() as c:
        rows = c.execute(
            "SELECT s.id, s.name, s.kind, s.status, s.created, json_extract(s.summary, '$.title'),"
            " (SELECT count(DISTINCT run_id) FROM study_runs l WHERE l.study_id = s.id)"
            " FROM studies s ORDER BY s.created DESC"
        ).fetchall()
    keys = ("id", "name", "kind", "status", "created", "title", "runs")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def study(reader: Reader, ref: str) -> dict[str, Any]:
    with reader.connect() as c:
        row = c.execute(
            "SELECT id, name, kind, status, created, config, summary FROM studies"
            " WHERE id=? OR name=? ORDER BY created DESC LIMIT 1",
            (ref, ref),
        ).fetchone()
        if row is None:
            raise StoreError(f"study {ref!r} not found")
        links = c.execute(
            "SELECT l.variant, l.role, r.id, r.name, r.status, r.seed, r.created, r.ended,"
            " json_extract(r.summary, '$.val_acc'), json_extract(r.summary, '$.test_acc')"
            " FROM study_runs l JOIN runs r ON r.id = l.run_id WHERE l.study_id=?"
            " ORDER BY r.created, l.variant",
            (row[0],),
        ).fetchall()
    sid, name, kind, status, created, config, summary = row
    keys = ("variant", "role", "id", "name", "status", "seed", "created", "ended", "val_acc", "test_acc")  # fmt: skip
    runs = [dict(zip(keys, link, strict=True)) for link in links]
    conf = json.loads(config)
    summary = json.loads(summary)
    for table in summary.get("tables", []):  # its CSV / Markdown / LaTeX files in the folder
        table["file"] = slug(table["title"])
    return {
        "id": sid,
        "name": name,
        "kind": kind,
        "status": status,
        "created": created,
        "config": conf,
        "summary": summary,
        "runs": runs,
        "progress": progress(runs, conf, created, status, reader.root / "studies" / sid),
    }


def planned(config: dict[str, Any], folder: Path) -> int | None:
    """The number of runs a study plans: as its executor recorded it in the study's folder, or
    (a study from before) where its config says (a grid: variants × seeds)."""
    try:
        runs = json.loads((folder / PLANNED_FILE).read_text()).get("planned_runs")
    except (OSError, ValueError, AttributeError):
        runs = None
    if isinstance(runs, int):
        return runs
    vary, seeds = config.get("vary"), config.get("seeds")
    if isinstance(vary, dict) and isinstance(seeds, list):
        return math.prod(len(v) for v in vary.values() if isinstance(v, list)) * len(seeds)
    return None


def progress(
    runs: list[dict[str, Any]], config: dict[str, Any], created: float, status: str, where: Path
) -> dict[str, Any]:
    """Done / total and an ETA from the study's own pace so far (runs done per second)."""
    ids = {r["id"]: r["status"] for r in runs}
    done = sum(s != "running" for s in ids.values())
    running = sum(s == "running" for s in ids.values())
    total = max(planned(config, where) or 0, len(ids))  # a plan can grow (tuning, then final runs)
    elapsed = max(time.time() - created, 1e-6)
    eta = (total - done) * elapsed / done if done and status == "running" else None
    return {"done": done, "running": running, "total": total, "eta_s": eta}


def run(reader: Reader, ref: str) -> dict[str, Any]:
    with reader.connect() as c:
        row = c.execute(
            "SELECT id, name, status, config_hash, config, seed, created, ended, env, summary,"
            " error FROM runs WHERE id=? OR id LIKE ? LIMIT 2",
            (ref, f"{ref}%"),
        ).fetchall()
        if len(row) != 1:
            raise StoreError(f"run {ref!r} not found" if not row else f"run {ref!r} is ambiguous")
        rid, name, status, chash, config, seed, created, ended, env, summary, error = row[0]
        epochs = [
            json.loads(m[0])
            for m in c.execute("SELECT metrics FROM epochs WHERE run_id=? ORDER BY epoch", (rid,))
        ]
        linked = c.execute(
            "SELECT s.id, s.name, s.kind, l.variant, l.role FROM study_runs l"
            " JOIN studies s ON s.id = l.study_id WHERE l.run_id=?",
            (rid,),
        ).fetchall()
    base = folder(reader, "runs", rid)
    files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
    return {
        "id": rid,
        "name": name,
        "status": status,
        "config_hash": chash,
        "config": json.loads(config),
        "seed": seed,
        "created": created,
        "ended": ended,
        "env": json.loads(env),
        "summary": json.loads(summary),
        "error": error,
        "epochs": epochs,
        "studies": [
            dict(zip(("id", "name", "kind", "variant", "role"), s, strict=True)) for s in linked
        ],
        "artifacts": [
            {"path": str(p.relative_to(base)), "bytes": p.stat().st_size}
            for p in files[:ARTIFACT_LIMIT]
        ],
        "record": flight_record(base),
    }


def flight_record(base: Path) -> dict[str, Any] | None:
    """The recorder's per-layer statistics over steps (recorder.npz), if the run was recorded."""
    npz, meta_path = base / "recorder.npz", base / "recorder.json"
    if not npz.is_file() or not meta_path.is_file():
        return None
    import numpy as np

    meta = json.loads(meta_path.read_text())
    with np.load(npz) as z:
        stats = {k: z[k].T.tolist() for k in RECORD_STATS if k in z.files}
        steps = z["steps"].tolist()
    return {"every": meta.get("every"), "layers": meta.get("layers", []), "steps": steps, "stats": stats}  # fmt: skip


def search(reader: Reader, ref: str) -> dict[str, Any]:
    """A search study's trials (from its stored Summary), the metric and its direction."""
    s = study(reader, ref)
    data = s["summary"].get("data", {})
    settings = data.get("settings", {})
    return {
        "id": s["id"],
        "name": s["name"],
        "metric": settings.get("metric", "value"),
        "direction": settings.get("direction", "maximize"),
        "trials": data.get("trials", []),
        "importances": data.get("importances", {}),
        "params": sorted({k for t in data.get("trials", []) for k in t.get("params", {})}),
    }
