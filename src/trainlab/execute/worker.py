"""`python -m trainlab.execute.worker`: one long-lived local worker. It reads one unit per stdin
line (store folder, study, jobs), trains it with `run_unit`, and answers one line on stdout; or
one function call ("module:function" and its keyword arguments), and answers its JSON result.

A warm worker serves every study of its parent process, whatever store each names; it exits at
the end of its input, or when its parent dies (its run is then stored `interrupted`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from types import FrameType

PARENT_ENV = "TRAINLAB_WORKER_PARENT"  # the pid of the process that started this worker


def serve() -> int:
    """The worker's loop: one JSON unit per stdin line, one JSON answer per stdout line."""
    from trainlab.config import validate
    from trainlab.execute.jobs import Job
    from trainlab.execute.unit import run_unit
    from trainlab.track.store import Store

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to the log, never into the answers
    sys.stdout = sys.stderr
    _exit_with_parent()
    signal.signal(signal.SIGINT, _interrupt_once)
    import trainlab.train.experiment  # noqa: F401  (torch now, while the parent already trains)

    stores: dict[str, Store] = {}
    try:
        for line in iter(sys.stdin.readline, ""):
            msg = json.loads(line)
            if "call" in msg:  # a function call (a suite's inspection), not training jobs
                from trainlab.execute.pool import call_here

                result = call_here((msg["call"], msg["kwargs"]))
                answers.write(json.dumps({"result": result}) + "\n")
                continue
            store = stores.get(msg["root"]) or stores.setdefault(msg["root"], Store(msg["root"]))
            jobs = [Job(j["variant"], validate(j["config"]), j.get("record"), j.get("role", ""))
                    for j in msg["jobs"]]  # fmt: skip
            answers.write(json.dumps({"answers": run_unit(store, msg["study_id"], jobs)}) + "\n")
    except KeyboardInterrupt:
        return 130
    return 0


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """The first SIGINT stops the run; later ones (Ctrl-C reaches the whole process group, then
    the parent signals again) are ignored so the run is still stored `interrupted` and linked."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _exit_with_parent() -> None:
    """SIGTERM this worker when its parent dies (its run is then stored `interrupted`). The parent
    names itself: a parent killed while this worker still imported must not leave it an orphan
    that trains the job already in its input after the study ended (a duplicate on rerun)."""
    parent = int(os.environ.get(PARENT_ENV, os.getppid()))
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    sys.exit(serve())
