"""Ray as the executor: a local Ray head on 127.0.0.1 with 2 CPUs runs a grid study whose runs
the driver alone stores; a Ray worker killed mid-run is retried with nothing lost or duplicated;
without Ray the error names the install command."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import ExecSettings, Job, execute, use
from trainlab.execute.ray import INSTALL, connect
from trainlab.studies import StudyOptions, run_grid
from trainlab.track.store import Store

from conftest import ray_task_pids

TINY = {
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50},
}
RAY = ExecSettings(executor="ray")


def test_grid_study_on_ray_is_stored_by_the_driver_and_resumes(local_ray: None) -> None:
    store = Store()
    base = RunConfig.model_validate(TINY)
    with use(RAY):
        first = run_grid(
            base,
            ["optim.lr=0.01,0.1"],
            2,
            selection_seeds=0,
            options=StudyOptions(workers=2, store=store, name="ray-grid", progress=False),
        )
    assert first.counts["finished"] == 4 and first.counts["reused"] == 0
    runs = store.list_runs()
    assert len(runs) == 4 and {r.status for r in runs} == {"finished"}
    for run in runs:
        assert [e["epoch"] for e in store.epochs(run.id)] == [1, 2]
        assert (run.dir / "reliability.json").exists() and (run.dir / "model.pt").exists()
        assert "test_acc" in run.summary
    with use(RAY):
        again = run_grid(
            base,
            ["optim.lr=0.01,0.1"],
            2,
            selection_seeds=0,
            options=StudyOptions(workers=2, store=store, name="ray-grid", progress=False),
        )
    assert again.counts["reused"] == 4 and len(store.list_runs()) == 4


def test_a_killed_ray_worker_is_retried_with_nothing_lost_or_duplicated(local_ray: None) -> None:
    store = Store()
    base = RunConfig.model_validate(TINY).with_overrides({"train.epochs": 150})
    jobs = [Job("v", base.with_overrides({"seed": s})) for s in range(3)]
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            pids = ray_task_pids("train_unit")
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    off = ExecSettings(executor="ray", vectorize="off")
    outcomes = execute(store, store.open_study("k", "grid", {}).id, jobs, settings=off)
    killer.join()
    assert killed, "no Ray task was seen running"
    assert [o.status for o in outcomes] == ["finished"] * 3
    hashes = Counter(r.config_hash for r in store.list_runs())
    assert hashes == Counter({j.hash for j in jobs})  # one row per config: none lost, none twice


def test_missing_ray_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=re.escape(INSTALL)):
        connect(RAY)
    args = ["study", "grid", "train.epochs=1", "--vary", "optim.lr=0.1,0.2", "--seeds", "1",
            "--executor", "ray", "--store", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and INSTALL in err[0]
    assert Store(tmp_path).list_runs() == [] and Store(tmp_path).list_studies() == []
