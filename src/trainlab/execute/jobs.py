"""What an executor is given and hands back: a Job (a variant label and its RunConfig) and an
Outcome (the stored run it became, or why none did)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.track.env import available_cores
from trainlab.track.store import RunRecord

DONE = ("finished", "diverged")  # a rerun skips these: both are results (same config, same end)


@dataclass(frozen=True)
class Job:
    variant: str
    config: RunConfig
    record: int | None = None  # flight recorder interval in steps (not part of the config hash)
    role: str = ""  # the study link's role: tuning | final | search | confirm | inspect | ""

    @cached_property
    def hash(self) -> str:
        return self.config.hash()


@dataclass
class Outcome:
    """What became of one job: its stored run (None if it failed before one was created)."""

    job: Job
    status: str  # finished | diverged | failed | interrupted
    run: RunRecord | None
    error: str = ""
    reused: bool = False  # found finished in the store: not run again
    note: str = ""  # how it ran: "vectorized with 3 others", or why it could not be


Progress = Callable[[Outcome | None, int, int], None]  # (outcome or None at the start, done, total)


def check_workers(workers: int | None) -> int:
    """The worker count: default the cores available; must be >= 1."""
    if workers is None:
        return available_cores()
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be 1 or more")
    return workers
