"""One unit of work trained into a store and linked to its study: a lone job, or the seeds of
one config as one vectorized model (falling back to lone runs, with the reason, when it can't).

Every answer is a plain dict (`run_id`, `status`, `error`, `note`), the same whether it was
trained here, in a worker process or in a Ray task.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trainlab.errors import one_line
from trainlab.execute.jobs import Job
from trainlab.execute.reliability import save_reliability
from trainlab.track.store import Store

if TYPE_CHECKING:
    from trainlab.train.loop import Callback

Answer = dict[str, Any]


def run_unit(store: Store, study_id: str, jobs: Sequence[Job]) -> list[Answer]:
    """Train `jobs` (one, or several seeds of one config to vectorize); one answer per job."""
    if len(jobs) == 1:
        return [run_job(store, study_id, jobs[0])]
    from trainlab.execute.vectorized import Unsupported, train_group

    try:
        return train_group(store, study_id, jobs)
    except Unsupported as why:
        note = f"not vectorized: {why}"
        print(f"trainlab: {len(jobs)} runs of {jobs[0].variant!r} {note}", file=sys.stderr)
        return [{**run_job(store, study_id, job), "note": note} for job in jobs]


def run_job(store: Store, study_id: str, job: Job, extra: Sequence[Callback] = ()) -> Answer:
    """Train one job into the store and link it; failures become a status, never an exception.
    `extra` callbacks see every step and epoch (a search trial's pruning reporter)."""
    from trainlab.train.experiment import failed_run, run

    recorders = []
    if job.record is not None:
        from trainlab.train.recorder import Recorder

        recorders.append(Recorder(every=job.record))
    try:
        result = run(job.config, store, [*extra, _link_on_start(store, study_id, job), *recorders])
    except KeyboardInterrupt as stop:  # keep the interrupted run in its study (`gc`, `study rm`)
        run_id = failed_run(stop)
        if run_id:
            store.link(study_id, run_id, job.variant, role=job.role)
        raise
    except Exception as exc:  # a failed run never stops the study; it is stored `failed`
        run_id = failed_run(exc)  # the run this call stored, not another process's failed twin
        if run_id:
            store.link(study_id, run_id, job.variant, role=job.role)
        return {"run_id": run_id, "status": "failed", "error": one_line(exc)}
    record = result.record
    assert record is not None
    if record.status == "finished":
        save_reliability(record.dir, result.model, result.dataset)
    for recorder in recorders:
        recorder.save(record.dir)  # `trainlab inspect recorder --run ID` draws it
    store.link(study_id, record.id, job.variant, role=job.role)
    return {"run_id": record.id, "status": record.status, "error": record.summary.get("reason", "")}


def _link_on_start(store: Store, study_id: str, job: Job) -> Callback:
    """A callback that links the run to its study at its first step, so a live view counts the
    runs in progress; only when it is the one running run of its config (as the search objective
    does: several means another process trains a twin, and the link waits for the run's end)."""
    from trainlab.train.callbacks import Callback

    class LinkOnStart(Callback):
        linked = False

        def on_step(self, step: int, model: Any, loss: Any) -> None:
            if not self.linked:
                self.linked = True
                running = store.list_runs("running", {"config_hash": job.hash})
                if len(running) == 1:
                    store.link(study_id, running[0].id, job.variant, role=job.role)

    return LinkOnStart()
