"""Upgrades: a store written by the pre-versioning schema (built here from its `_SCHEMA` text, rows
inserted as that code did) opens with today's code and lists, shows and reports; stored configs
are read through the version-aware loader (renames applied, fields it no longer has dropped)."""

from __future__ import annotations

import json
import math
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


def test_a_store_with_nan_in_its_json_migrates_and_the_dashboard_serves_it(
    tmp_path: Path,
) -> None:
    from starlette.testclient import TestClient

    from trainlab.track.store import needs_upgrade
    from trainlab.ui.app import create_app

    root = tmp_path / "old"
    store = Store(root)
    run = store.create_run(RunConfig.model_validate({"data": {"name": "moons"}}), {})
    study = store.open_study("residual-old", "inspect-residual", {})
    store.close()
    con = sqlite3.connect(root / "trainlab.db")  # rows as trainlab wrote them at schema 3
    con.execute("PRAGMA user_version=3")
    nan_summary = '{"title": "Residual flow", "data": {"drop": NaN, "ratio": [1.5, Infinity]},'
    nan_summary += ' "tables": [{"title": "t", "columns": ["a"], "rows": [[-Infinity]]}]}'
    con.execute(
        "UPDATE studies SET status='finished', summary=? WHERE id=?", (nan_summary, study.id)
    )
    con.execute(
        "UPDATE runs SET status='finished', summary=? WHERE id=?", ('{"test_acc": NaN}', run.id)
    )
    con.execute("INSERT INTO epochs VALUES (?, 1, ?)", (run.id, '{"epoch": 1, "train_loss": NaN}'))
    con.commit()
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        con.execute("SELECT json_extract(summary, '$.title') FROM studies").fetchall()
    con.close()
    client = TestClient(
        create_app(root, host="testserver", port=None),
        base_url="http://testserver",
        raise_server_exceptions=False,
    )
    assert client.get("/api/studies").status_code == 500  # what the demo's store gave
    assert needs_upgrade(root)

    store = Store(root)  # the migration to schema 4 rewrites the non-finite numbers as null
    assert not needs_upgrade(root) and store._version() == SCHEMA_VERSION
    assert store.get_study(study.id).summary["data"] == {"drop": None, "ratio": [1.5, None]}
    assert store.get_run(run.id).summary == {"test_acc": None}
    assert store.epochs(run.id)[0]["epoch"] == 1 and math.isnan(
        store.epochs(run.id)[0]["train_loss"]
    )
    con = sqlite3.connect(root / "trainlab.db")
    for table, column in (("runs", "summary"), ("studies", "summary"), ("epochs", "metrics")):
        assert con.execute(
            f"SELECT count(*) FROM {table} WHERE NOT json_valid({column})"
        ).fetchone() == (0,)
    con.close()
    answer = client.get("/api/studies")
    assert answer.status_code == 200
    assert [(s["id"], s["title"]) for s in answer.json()] == [(study.id, "Residual flow")]
    one = client.get(f"/api/study/{study.id}")
    assert one.status_code == 200 and one.json()["summary"]["tables"][0]["rows"] == [[None]]


def test_stored_and_served_json_is_strict(tmp_path: Path) -> None:
    from trainlab.track.strictjson import dumps, finite

    np = pytest.importorskip("numpy")
    assert finite({"a": [np.float32(1.5), float("nan")], "b": np.array([np.inf, 2.0])}) == {
        "a": [1.5, None],
        "b": [None, 2.0],
    }
    assert dumps({"x": float("-inf"), "y": (1, np.int64(2))}) == '{"x": null, "y": [1, 2]}'
    store = Store(tmp_path / "s")
    run = store.create_run(
        RunConfig.model_validate({"data": {"name": "moons"}}), {"t": float("nan")}
    )
    store.log_epoch(run.id, 1, {"epoch": 1, "train_loss": float("inf")})
    store.finish_run(run.id, "diverged", {"val_acc": float("nan"), "epochs": 1})
    study = store.open_study("s", "grid", {"lr": float("nan")})
    store.finish_study(study.id, {"data": {"p": float("nan")}})
    con = sqlite3.connect(tmp_path / "s" / "trainlab.db")
    cells = [r[0] for t in ("runs", "studies") for r in con.execute(f"SELECT summary FROM {t}")]
    cells += [r[0] for r in con.execute("SELECT metrics FROM epochs")]
    cells += [r[0] for r in con.execute("SELECT env FROM runs")]
    cells += [r[0] for r in con.execute("SELECT config FROM studies")]
    assert all("NaN" not in c and "Infinity" not in c for c in cells), cells
    assert json.loads(cells[0]) == {"val_acc": None, "epochs": 1}


def test_needs_upgrade_takes_a_relative_store_path_as_make_demo_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trainlab ui --store trainlab-runs` crashed: a file URI needs an absolute path."""
    from trainlab.track.store import needs_upgrade

    Store(tmp_path / "trainlab-runs").close()
    monkeypatch.chdir(tmp_path)
    assert needs_upgrade("trainlab-runs") is False  # current schema: nothing to upgrade
    con = sqlite3.connect(tmp_path / "trainlab-runs" / "trainlab.db")
    con.execute("PRAGMA user_version=3")
    con.commit()
    con.close()
    assert needs_upgrade(Path("trainlab-runs")) is True
