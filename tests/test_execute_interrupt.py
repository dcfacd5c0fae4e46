"""Ctrl-C (a real SIGINT) in the middle of a study run by the warm pool: one resume line, exit
130, every run stays linked to its study, the study is not left `running`, a rerun resumes."""

import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from trainlab.track.store import Store

from conftest import sigint_as_at_a_terminal

TINY = ["data.name=moons", "data.options.n=200", "model.options.width=8", "train.epochs=60"]


def test_sigint_mid_study_keeps_links_exits_130_and_a_rerun_resumes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    args = ["study", "regularization", *TINY, "--methods", "dropout 0.5", "--seeds", "3",
            "--selection-seeds", "0", "--workers", "2", "--name", "x", "--store", str(root)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainlab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_at_a_terminal,
    )
    deadline = time.time() + 180
    while time.time() < deadline and not _finished_and_training(root):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert out == ""  # results go to stdout, and there are none
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: study x: ") and "runs done" in last, last
    assert last.endswith("resume with: trainlab " + shlex.join(args)), last

    store = Store(root)
    study = store.get_study("x")
    assert study.status == "interrupted"
    runs = {r.id: r.status for r in store.list_runs()}
    linked = {link.run.id: link.run.status for link in store.study_links(study.id)}
    assert linked == runs  # no run left without its study, so `gc` and `study rm` find them all
    assert "interrupted" in linked.values() and "finished" in linked.values()
    finished = sum(s == "finished" for s in runs.values())

    rerun = subprocess.run(
        [sys.executable, "-m", "trainlab", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(rerun.stdout)["counts"]
    assert counts["reused"] == finished and counts["finished"] == 6
    assert Store(root).get_study("x").status == "finished"


def _finished_and_training(root: Path) -> bool:
    """True once a run has finished and another is `running` with at least one epoch stored."""
    db = root / "trainlab.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as c:
            done = c.execute("SELECT count(*) FROM runs WHERE status='finished'").fetchone()[0]
            busy = c.execute(
                "SELECT count(*) FROM runs r WHERE status='running'"
                " AND EXISTS (SELECT 1 FROM epochs e WHERE e.run_id = r.id)"
            ).fetchone()[0]
    except sqlite3.Error:
        return False
    return bool(done and busy)
