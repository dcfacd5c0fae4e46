"""`trainlab run` exit codes and output streams; `runs ls|show|rm`, `study rm`, `gc`; exact id
prefixes; a config shared by two study variants keeps both labels."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trainlab.cli import main
from trainlab.cli.app import fmt
from trainlab.config import RunConfig
from trainlab.errors import StoreError
from trainlab.studies import Job, execute
from trainlab.track.store import Store

TINY = ["--data", "moons", "model.options.width=8", "data.options.n=200", "train.epochs=2"]
# sgd at lr 1 with an L2 coefficient of 5 multiplies the weights by -4 per step: inf, then NaN.
DIVERGES = ["optim.name=sgd", "optim.lr=1.0", "regularize.l2=5.0", "schedule.name=constant",
            "train.batch_size=4"]  # fmt: skip


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_diverged_run_exits_3_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", *TINY, *DIVERGES)
    assert code == 3
    assert "diverged" in out and "reason: non-finite train loss at epoch 1" in out
    (rec,) = Store().list_runs()
    assert err.strip().endswith(f"run {rec.id} diverged: non-finite train loss at epoch 1")
    code, out, _ = cli(capsys, "run", *TINY, *DIVERGES, "--json")
    assert code == 3 and json.loads(out)["status"] == "diverged"


def test_failed_run_exits_3_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fit(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory while training")  # a failure the user did not cause

    monkeypatch.setattr("trainlab.train.experiment.fit", broken_fit)
    code, _, err = cli(capsys, "run", *TINY)
    assert code == 3 and "run failed: RuntimeError: out of memory while training" in err
    assert "Traceback" not in err
    assert [r.status for r in Store().list_runs()] == ["failed"]


def test_run_summary_goes_to_stdout_so_a_redirect_keeps_it(tmp_path: Path) -> None:
    results = tmp_path / "results.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with results.open("w") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "trainlab", "run", *TINY, "--store", str(tmp_path / "s")],
            stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=300,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = results.read_text()
    (rec,) = Store(tmp_path / "s").list_runs()
    assert f"run {rec.id} · finished" in text and "test_acc" in text
    assert f"stored in {rec.dir}" in text
    assert "test_acc" not in proc.stderr


def test_where_with_an_unknown_field_lists_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Store().create_run(RunConfig(), {})
    code, out, err = cli(capsys, "runs", "ls", "--where", "foo=bar")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: --where field 'foo' is unknown; valid fields: status, name")
    assert "optim.lr" in err and "model.options.*" in err
    code, out, _ = cli(capsys, "runs", "ls", "--where", "model.options.width=8", "--json")
    assert code == 0 and json.loads(out) == []  # a free-form option is a valid field


def test_ls_by_study_and_small_values_keep_significant_digits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store()
    a = store.create_run(RunConfig(optim={"weight_decay": 1.29e-06}), {})  # type: ignore[arg-type]
    b = store.create_run(RunConfig(seed=1), {})
    study = store.open_study("wd", "grid", {})
    store.link(study.id, a.id, "small-wd")
    code, out, _ = cli(capsys, "runs", "ls", "--study", "wd", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [a.id]
    code, out, _ = cli(capsys, "runs", "compare", a.id, b.id)
    assert code == 0 and "1.29e-06" in out
    assert (fmt(1.29e-06), fmt(0.0), fmt(0.12345), fmt(2500.0)) == (
        "1.29e-06",
        "0.0000",
        "0.1235",
        "2500",
    )
    code, _, err = cli(capsys, "runs", "ls", "--study", "nope")
    assert code == 2 and "study 'nope' not found" in err


def test_show_prints_the_environment_as_rows(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"python": "3.11.7", "packages": {"torch": "2.3.0", "numpy": "2.0"}, "cpu": "EPYC"}
    rec = Store().create_run(RunConfig(), env)
    code, out, _ = cli(capsys, "runs", "show", rec.id)
    assert code == 0
    assert "torch 2.3.0, numpy 2.0" in out and "EPYC" in out
    assert "{'" not in out and "environment" in out


def test_id_prefixes_match_literally(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ids = ["ab_cd00001", "abxcd00002", "ab%cd00003"]
    con = sqlite3.connect(store.db_path)
    for new in ids:
        old = store.create_run(RunConfig(seed=len(new) + ids.index(new)), {}).id
        with con:
            con.execute("UPDATE runs SET id=? WHERE id=?", (new, old))
    con.close()
    assert store.get_run("ab_").id == "ab_cd00001"  # `_` is not "any character"
    assert store.get_run("ab%").id == "ab%cd00003"  # `%` is not "anything"
    assert store.get_run("abx").id == "abxcd00002"
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_run("ab")
    with pytest.raises(StoreError, match="not found"):
        store.get_run("a_x")


def finished(store: Store, seed: int) -> str:
    rec = store.create_run(RunConfig(seed=seed), {})
    store.log_epoch(rec.id, 1, {"epoch": 1})
    store.finish_run(rec.id, "finished", {"test_acc": 0.5})
    return rec.id


def test_runs_rm_dry_run_then_removes_and_never_a_running_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store()
    done, other = finished(store, 1), finished(store, 2)
    live = store.create_run(RunConfig(seed=3), {}).id  # this process: alive
    study = store.open_study("s", "grid", {})
    store.link(study.id, done, "v")
    code, out, _ = cli(capsys, "runs", "rm", done, "--dry-run")
    assert code == 0 and f"would remove run {done}" in out
    assert store.get_run(done).dir.is_dir() and len(store.epochs(done)) == 1
    code, _, err = cli(capsys, "runs", "rm", done, live)
    assert code == 2 and f"run {live} is running; nothing was removed" in err
    assert store.get_run(done).status == "finished"  # one transaction: nothing went
    code, out, _ = cli(capsys, "runs", "rm", done[:6], "--json")
    assert code == 0 and json.loads(out)["runs"] == [done]
    assert sorted(r.id for r in store.list_runs()) == sorted([other, live])
    assert store.epochs(done) == [] and store.study_runs(study.id) == []
    assert not store.run_dir(done).exists()


def test_study_rm_removes_its_own_runs_and_keeps_shared_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store()
    own, shared, elsewhere = finished(store, 1), finished(store, 2), finished(store, 3)
    a, b = store.open_study("a", "grid", {}), store.open_study("b", "grid", {})
    store.link(a.id, own, "x")
    store.link(a.id, shared, "y")
    store.link(b.id, shared, "y")
    store.link(b.id, elsewhere, "z")
    code, out, _ = cli(capsys, "study", "rm", "a", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["runs"] == [own] and plan["studies"] == [a.id]
    assert plan["kept"] == [f"run {shared}: also in another study"]
    assert store.get_study("a").id == a.id
    code, out, _ = cli(capsys, "study", "rm", "a")
    assert code == 0 and f"removed study {a.id}" in out and f"removed run {own}" in out
    assert sorted(r.id for r in store.list_runs()) == sorted([shared, elsewhere])
    assert [s.name for s in store.list_studies()] == ["b"]
    assert not store.study_dir(a.id).exists()
    live = store.create_run(RunConfig(seed=9), {}).id
    store.link(b.id, live, "w")
    code, _, err = cli(capsys, "study", "rm", "b")
    assert code == 2 and f"has running run {live}" in err


def test_gc_removes_orphan_folders_and_folderless_rows_but_not_running_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store()
    kept, lost = finished(store, 1), finished(store, 2)
    live = store.create_run(RunConfig(seed=3), {}).id
    for rid in (lost, live):
        store.run_dir(rid).rmdir()
    orphan = store.root / "runs" / "deadbeef00"
    orphan.mkdir()
    (orphan / "model.pt").write_bytes(b"x")
    code, out, _ = cli(capsys, "gc", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["runs"] == [lost] and plan["folders"] == [str(orphan)]
    assert plan["kept"] == [f"run {live}: running (no folder yet)"]
    assert orphan.exists() and store.get_run(lost).status == "finished"
    code, out, _ = cli(capsys, "gc")
    assert code == 0 and f"removed run {lost}" in out
    assert sorted(r.id for r in store.list_runs()) == sorted([kept, live])
    assert not orphan.exists() and store.run_dir(kept).is_dir()
    code, out, _ = cli(capsys, "gc")
    assert code == 0 and out.strip().splitlines()[-1] == "nothing to remove"


def test_a_config_shared_by_two_variants_is_linked_under_both(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate(
        {"data": {"name": "moons", "options": {"n": 200}}, "model": {"options": {"width": 8}},
         "train": {"epochs": 1, "batch_size": 50, "checkpoint": "none"}}
    )  # fmt: skip
    store = Store(tmp_path)
    study = store.open_study("shared", "grid", {})
    jobs = [Job("adam", cfg), Job("adam-again", cfg)]
    outcomes = execute(store, study.id, jobs, workers=1)
    assert outcomes[0].run is not None and outcomes[1].run is not None
    assert outcomes[0].run.id == outcomes[1].run.id
    links = [(v, r.id) for v, r in store.study_runs(study.id)]
    assert links == [("adam", outcomes[0].run.id), ("adam-again", outcomes[0].run.id)]
    rerun = store.open_study("shared-rerun", "grid", {})
    execute(store, rerun.id, jobs, workers=1)  # both found finished: both labels again
    assert [v for v, _ in store.study_runs(rerun.id)] == ["adam", "adam-again"]
