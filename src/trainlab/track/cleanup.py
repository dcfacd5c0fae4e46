"""Removing things from the store: runs by id, a study (and the runs only it uses), and garbage
(run folders whose row is gone, rows whose folder is gone). Never a `running` run.

Each removal decides and deletes its rows in one write transaction, then deletes the folders; a
kill between the two leaves only folders without rows, which the next `gc` removes. `dry_run`
decides the same way and deletes nothing.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.errors import StoreError
from trainlab.track.store import Store


@dataclass
class Removal:
    """What a removal took away (or, with `dry_run`, would take away)."""

    dry_run: bool
    runs: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # one line per thing left alone, and why

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "runs": self.runs,
            "studies": self.studies,
            "folders": [str(f) for f in self.folders],
            "kept": self.kept,
        }


def remove_runs(store: Store, refs: list[str], dry_run: bool = False) -> Removal:
    """Delete runs by id or unique prefix: rows, epochs, study links and folders. A running run
    stops the whole removal (nothing is deleted) with an error naming it."""
    if not refs:
        raise StoreError("runs rm needs at least one run id")
    out = Removal(dry_run)
    with store.transaction() as c:
        records = [store.get_run(ref) for ref in refs]
        running = [r.id for r in records if r.status == "running"]
        if running:
            raise StoreError(f"run {', '.join(running)} is running; nothing was removed")
        out.runs = sorted({r.id for r in records})
        out.folders = [store.run_dir(rid) for rid in out.runs if store.run_dir(rid).exists()]
        if not dry_run:
            _delete_run_rows(c, out.runs)
    return _delete_folders(out)


def remove_study(store: Store, ref: str, dry_run: bool = False, keep_runs: bool = False) -> Removal:
    """Delete a study (by name or id), its links and folder, and the runs no other study uses
    (unless `keep_runs`). A running run among them stops the removal."""
    out = Removal(dry_run)
    with store.transaction() as c:
        study = store.get_study(ref)
        links = store.study_links(study.id)
        running = sorted({link.run.id for link in links if link.run.status == "running"})
        if running:
            raise StoreError(
                f"study {study.name!r} has running run {', '.join(running)}; nothing was removed"
            )
        shared = {
            str(r[0])
            for r in c.execute(
                "SELECT DISTINCT run_id FROM study_runs WHERE study_id<>? AND run_id IN"
                " (SELECT run_id FROM study_runs WHERE study_id=?)",
                (study.id, study.id),
            )
        }
        mine = sorted({link.run.id for link in links} - shared)
        out.studies = [study.id]
        out.kept = [f"run {rid}: also in another study" for rid in sorted(shared)]
        if keep_runs:
            out.kept += [f"run {rid}: --keep-runs" for rid in mine]
        else:
            out.runs = mine
        folders = [store.study_dir(study.id), *(store.run_dir(rid) for rid in out.runs)]
        out.folders = [f for f in folders if f.exists()]
        if not dry_run:
            _delete_run_rows(c, out.runs)
            c.execute("DELETE FROM study_runs WHERE study_id=?", (study.id,))
            c.execute("DELETE FROM studies WHERE id=?", (study.id,))
    return _delete_folders(out)


def collect_garbage(store: Store, dry_run: bool = False) -> Removal:
    """Folders under runs/ and studies/ with no row, and rows of ended runs whose folder is gone
    (with their epochs and links). Running runs are never touched, with or without a folder."""
    out = Removal(dry_run)
    with store.transaction() as c:
        status = {str(r[0]): str(r[1]) for r in c.execute("SELECT id, status FROM runs")}
        studies = {str(r[0]) for r in c.execute("SELECT id FROM studies")}
        for kind, known in (("runs", set(status)), ("studies", studies)):
            parent = store.root / kind
            if parent.is_dir():
                out.folders += sorted(p for p in parent.iterdir() if p.name not in known)
        gone = [rid for rid, st in status.items() if not store.run_dir(rid).is_dir()]
        out.runs = sorted(rid for rid in gone if status[rid] != "running")
        out.kept = [
            f"run {rid}: running (no folder yet)" for rid in gone if status[rid] == "running"
        ]
        if not dry_run:
            _delete_run_rows(c, out.runs)
            c.execute("DELETE FROM epochs WHERE run_id NOT IN (SELECT id FROM runs)")
            c.execute("DELETE FROM study_runs WHERE run_id NOT IN (SELECT id FROM runs)")
    return _delete_folders(out)


def _delete_run_rows(c: sqlite3.Connection, run_ids: list[str]) -> None:
    pairs = [(rid,) for rid in run_ids]
    c.executemany("DELETE FROM epochs WHERE run_id=?", pairs)
    c.executemany("DELETE FROM study_runs WHERE run_id=?", pairs)
    c.executemany("DELETE FROM runs WHERE id=? AND status<>'running'", pairs)


def _delete_folders(out: Removal) -> Removal:
    if not out.dry_run:
        for folder in out.folders:
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
    return out
