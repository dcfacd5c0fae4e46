"""The dashboard never gets in a writer's way: reads hammer every endpoint while a 2-worker grid
study writes the same store from another process; no "database is locked", no run lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from trainlab.track.store import Store
from trainlab.ui.app import create_app

STUDY = """
import sys
from trainlab.config import RunConfig
from trainlab.studies import StudyOptions
from trainlab.studies.grid import run_grid
from trainlab.track.store import Store
base = RunConfig.model_validate({"name": "hammer", "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 3, "batch_size": 50, "checkpoint": "none"}})
run_grid(base, ["optim.name=sgd,adam"], seeds=2, selection_seeds=0,
         options=StudyOptions(workers=2, store=Store(sys.argv[1]), progress=False))
"""


@pytest.mark.slow  # two worker processes start torch: ~20 s alone, minutes on a loaded machine
def test_reads_while_a_two_worker_study_writes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Store(root).close()  # the UI serves an existing store; the study then writes into it
    writer = subprocess.Popen(
        [sys.executable, "-c", STUDY, str(root)], stderr=subprocess.PIPE, text=True
    )
    client = TestClient(create_app(root, host="testserver", port=None))
    statuses: list[int] = []
    bodies: list[str] = []
    try:
        while writer.poll() is None:
            runs = client.get("/api/runs", params={"q": "status=running or status=finished"})
            statuses.append(runs.status_code)
            bodies.append(runs.text)
            ids = [r["id"] for r in runs.json()["rows"]]
            for path, params in (
                ("/api/curves", {"ids": ",".join(ids), "metric": "val_acc"}),
                ("/api/groups", {"by": "optim.name"}),
                ("/api/studies", {}),
            ):
                resp = client.get(path, params=params)
                statuses.append(resp.status_code)
                bodies.append(resp.text)
            time.sleep(0.1)  # a person clicking fast, not a busy loop stealing the writer's core
        _, err = writer.communicate(timeout=300)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    assert "locked" not in err
    assert len(statuses) > 20 and set(statuses) == {200}
    assert not [b for b in bodies if "locked" in b]
    store = Store(root)
    runs = store.list_runs()
    assert len(runs) == 4 and {r.status for r in runs} == {"finished"}
    assert all(len(store.epochs(r.id)) == 3 for r in runs)
    (study,) = json.loads(client.get("/api/studies").text)
    shown = client.get(f"/api/study/{study['id']}").json()
    assert shown["progress"] == {"done": 4, "running": 0, "total": 4, "eta_s": None}
    assert client.get("/api/runs").json()["total"] == 4
