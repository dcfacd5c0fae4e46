"""Upgrades: a store written by the pre-versioning schema (built here from its `_SCHEMA` text, rows
inserted as that code did) opens with today's code and lists, shows and reports; stored configs
are read through the version-aware loader (renames applied, fields it no longer has dropped)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.track import configs
from trainlab.track.configs import Upgrade, load_stored
from trainlab.track.store import _SCHEMA, SCHEMA_VERSION, Store


def old_store(root: Path) -> dict[str, str]:
    """Two finished runs and a study, as trainlab wrote them before `PRAGMA user_version`; the
    second run's config has a field this version lacks and an optimizer it no longer offers."""
    root.mkdir(parents=True)
    con = sqlite3.connect(root / "trainlab.db")
    con.executescript(_SCHEMA)
    plain = RunConfig.model_validate({"data": {"name": "moons"}, "optim": {"lr": 0.05}})
    odd = plain.model_dump(mode="json")
    odd["train"]["amp"] = True
    odd["optim"]["name"] = "lamb"
    ids = {"plain": "a1b2c3d4e5", "odd": "a1b_c3d4e6"}
    for n, (key, cfg) in enumerate((("plain", plain.model_dump(mode="json")), ("odd", odd))):
        rid = ids[key]
        env = {"python": "3.11.0", "packages": {"torch": "2.0"}, "cpu": "old cpu"}
        con.execute(
            "INSERT INTO runs (id, name, config_hash, config, seed, status, created, env, host,"
            " pid, pid_start) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rid, key, f"hash{n}", json.dumps(cfg), 0, "running", 100.0 + n, json.dumps(env),
             "oldhost", 1, None),
        )  # fmt: skip
        for epoch in (1, 2):
            metrics = {"epoch": epoch, "train_loss": 1.0 / epoch, "val_acc": 0.4 * epoch,
                       "val_loss": 1.0, "train_acc": 0.5, "lr": 0.05, "seconds": 0.1, "step": epoch}  # fmt: skip
            con.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                (rid, epoch, json.dumps(metrics)),
            )
        summary = {"test_acc": 0.8 + n / 100, "val_acc": 0.8, "epochs": 2, "train_seconds": 0.2}
        con.execute(
            "UPDATE runs SET status=?, summary=?, error=?, ended=? WHERE id=?",
            ("finished", json.dumps(summary), None, 101.0 + n, rid),
        )
        (root / "runs" / rid).mkdir(parents=True)
    con.execute(
        "INSERT INTO studies (id, name, kind, created, status, config) VALUES (?,?,?,?,?,?)",
        ("s0ld000000", "old-grid", "grid", 99.0, "finished", "{}"),
    )
    for key, rid in ids.items():
        con.execute(
            "INSERT OR REPLACE INTO study_runs (study_id, run_id, variant) VALUES (?,?,?)",
            ("s0ld000000", rid, key),
        )
    con.commit()
    con.close()
    return ids


def test_an_old_store_lists_shows_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "old"
    ids = old_store(root)
    assert main(["runs", "ls", "--store", str(root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["test_acc"]) for r in listed] == [(ids["odd"], 0.81), (ids["plain"], 0.8)]
    assert listed[0]["config"]["optim"]["name"] == "adam"  # today's default replaced `lamb`
    assert listed[0]["config"]["optim"]["lr"] == 0.05  # ... and nothing else was lost
    assert main(["runs", "show", ids["odd"], "--store", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "config upgraded: dropped train.amp (unknown here" in shown
    assert "config upgraded: dropped optim.name (invalid here" in shown
    assert "old cpu" in shown and "torch 2.0" in shown
    assert main(["runs", "ls", "--study", "old-grid", "--store", str(root), "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == set(ids.values())
    out = tmp_path / "report.html"
    assert main(["report", "--all", "--out", str(out), "--store", str(root)]) == 0
    html = out.read_text()
    assert ids["plain"] in html and ids["odd"] in html
    con = sqlite3.connect(root / "trainlab.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM study_runs").fetchone()[0] == 2
    con.close()
    assert Store(root).get_run(ids["plain"]).notes == []


def test_upgrade_steps_rename_and_remove_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = (
        Upgrade(renamed={"optim.learning_rate": "optim.lr"}, removed=("train.amp",)),
        Upgrade(renamed={"regularize.drop": "regularize.dropout"}),
    )
    monkeypatch.setattr(configs, "UPGRADES", steps)
    raw = {"optim": {"learning_rate": 0.3}, "train": {"amp": True}, "regularize": {"drop": 0.2}}
    got = load_stored(raw, 0)
    assert got.config.optim.lr == 0.3 and got.config.regularize.dropout == 0.2
    assert got.notes == [
        "renamed optim.learning_rate -> optim.lr",
        "dropped train.amp (removed)",
        "renamed regularize.drop -> regularize.dropout",
    ]
    newer = load_stored({"regularize": {"drop": 0.2}}, 1)  # written after step 0: only step 1
    assert newer.config.regularize.dropout == 0.2
    assert raw["optim"] == {"learning_rate": 0.3}  # the stored dict is not changed
