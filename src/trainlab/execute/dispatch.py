"""`execute`: the one entry every study uses. It skips jobs whose config hash already finished
(or diverged) in the store, so a rerun resumes; groups the seeds of one config into vectorized
units; runs the units on the warm local pool or as Ray tasks; links every run to the study.

Jobs with the same config hash run once and share the run. A failed run or a dead worker is
counted, never fatal. Only this process and its local workers write the store: a Ray task trains
into a store of its own and sends its records back here.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from trainlab.errors import ConfigError
from trainlab.execute.groups import plan_units
from trainlab.execute.jobs import DONE, Job, Outcome, Progress, check_workers
from trainlab.execute.settings import ExecSettings, current
from trainlab.execute.unit import Answer
from trainlab.track.store import PLANNED_FILE, Store


def execute(
    store: Store,
    study_id: str,
    jobs: Sequence[Job],
    workers: int | None = None,
    progress: Progress | None = None,
    record: int | None = None,
    settings: ExecSettings | None = None,
) -> list[Outcome]:
    """Run `jobs` (skipping those already done), link each run to the study, one Outcome per job.
    With `record`, every run that trains here carries the flight recorder at that step interval.
    `settings` (default: the innermost `settings.use(...)`) choose the executor, vectorized seeds
    and devices. Order of the result = order of jobs.
    """
    s = settings or current()
    if workers is None and s.devices:
        workers = len(s.devices)  # one worker per GPU unless asked for more
    workers = check_workers(workers)
    if record is not None:
        if record < 1:
            raise ConfigError(f"--record {record}: must be a step interval >= 1")
        jobs = [replace(j, record=record) for j in jobs]
    if s.devices:  # each worker sees one GPU as `cuda`
        jobs = [replace(j, config=j.config.with_overrides({"train.device": "cuda"})) for j in jobs]
    by_hash: dict[str, Outcome] = {}
    todo: dict[str, Job] = {}
    total = len({j.hash for j in jobs})
    linked = {link.run.config_hash for link in store.study_links(study_id)}
    record_planned(store.study_dir(study_id), len(linked | {j.hash for j in jobs}))
    for job in jobs:
        if job.hash in by_hash or job.hash in todo:
            continue
        found = store.find_run(job.hash, DONE)
        if found is None:
            todo[job.hash] = job
            continue
        store.link(study_id, found.id, job.variant, role=job.role)
        by_hash[job.hash] = Outcome(job, found.status, found, reused=True)
    if progress:
        progress(None, len(by_hash), total)  # the total is known: the bar can show an ETA
    units, notes = plan_units(list(todo.values()), s.vectorize, workers)
    _say_alone(notes)

    def done(unit: list[Job], answers: list[Answer]) -> None:
        for job, msg in zip(unit, answers, strict=True):
            run = store.get_run(msg["run_id"]) if msg.get("run_id") else None
            note = msg.get("note") or notes.get(job.hash, "")
            by_hash[job.hash] = Outcome(job, msg["status"], run, msg.get("error", ""), note=note)
            if progress:
                progress(by_hash[job.hash], len(by_hash), total)

    if units and s.executor == "ray":
        from trainlab.execute.ray import run_ray

        run_ray(store, study_id, units, s, done)
    elif units:
        from trainlab.execute.pool import run_local

        run_local(store, study_id, units, workers, s.devices, done)
    outcomes = [_for(job, by_hash[job.hash]) for job in jobs]
    for out in outcomes:  # a config shared by several variants is linked under every label
        if out.run is not None and out.job is not by_hash[out.job.hash].job:
            store.link(study_id, out.run.id, out.job.variant, role=out.job.role)
    return outcomes


def record_planned(folder: Path, runs: int) -> None:
    """Write how many distinct runs the study plans so far (its earlier phases and this one) to
    PLANNED_FILE in its folder, so a live view knows the total before every run has started.
    A file, not the study's config: the config is the plan a rerun is checked against."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{PLANNED_FILE}.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"planned_runs": runs}))
    os.replace(tmp, folder / PLANNED_FILE)  # whole or absent for a reader


def _for(job: Job, shared: Outcome) -> Outcome:
    if shared.job == job:
        return shared
    return Outcome(job, shared.status, shared.run, shared.error, shared.reused, shared.note)


def _say_alone(notes: dict[str, str]) -> None:
    """One stderr line per reason that kept seeds from training as one vectorized model."""
    for note, n in Counter(notes.values()).items():
        print(f"trainlab: {n} runs {note}", file=sys.stderr)
