"""Progress on stderr for scripts: one Rich bar over counted steps (runs, trials, inspections) with
elapsed time and ETA, and callbacks for the study executor and the search that move it.

    with progress_bar("inspections", total=3) as bar:
        for name in names:
            bar.doing(name)  # what runs now
            ...
            bar.advance()
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_EVERY = 5.0  # seconds between count lines on a log (stderr not a terminal)

if TYPE_CHECKING:
    from trainlab.execute import Outcome
    from trainlab.search.results import TrialRecord


class Bar:
    """A started bar: `doing` names the current step, `advance` counts finished ones."""

    def __init__(self, progress: Progress, task: TaskID, title: str, total: int | None) -> None:
        self._progress, self._task, self._title = progress, task, title
        self.total = total
        self.completed = 0
        self.failed = 0
        self._ended: dict[str, int] = {}
        self._logged: float | None = None  # when a log (no live bar) last got a count line

    def _count_line(self, done: int, total: int | None, unit: str, info: str) -> None:
        """On a log, which has no live bar: the count at the start, at the end, and at most once
        every LOG_EVERY seconds in between, so a piped script shows it is alive."""
        if self._progress.console.is_terminal:
            return
        now = time.monotonic()
        end = total is not None and done >= total
        if self._logged is not None and not end and now - self._logged < LOG_EVERY:
            return
        self._logged = now
        count = f"{done}/{total}" if total is not None else str(done)
        self._progress.console.print(
            f"{self._title}: {count} {unit}" + (f" ({info})" if info else ""), soft_wrap=True
        )

    def doing(self, what: str) -> None:
        """Show `what` as the step running now (a log file, having no live bar, gets a line)."""
        self._progress.update(self._task, info=what)
        if not self._progress.console.is_terminal:
            self._progress.console.print(f"{self._title}: {what}", soft_wrap=True)

    def advance(self, steps: int = 1, info: str = "") -> None:
        """Count `steps` more finished; `info` replaces the text after the bar."""
        self.completed += steps
        self._progress.update(self._task, completed=self.completed, info=info)

    def set_total(self, total: int | None) -> None:
        """Change the number of steps (None: unknown, no ETA)."""
        self.total = total
        self._progress.update(self._task, total=total)

    def runs(self, outcome: Outcome | None, done: int, total: int) -> None:
        """`trainlab.studies.execute`'s progress callback: runs done of total, and how many ended
        otherwise (diverged, failed, interrupted), by status."""
        if outcome is not None and outcome.status != "finished":
            self.failed += 1
            self._ended[outcome.status] = self._ended.get(outcome.status, 0) + 1
        self.completed, self.total = done, total
        info = ", ".join(f"{n} {status}" for status, n in self._ended.items())
        self._progress.update(self._task, completed=done, total=total, info=info)
        self._count_line(done, total, "runs", info)

    def trial(self, t: TrialRecord) -> None:
        """`trainlab.search.run_search`'s progress callback: one step per trial that ended."""
        value = f"{t.value:.4f}" if t.value is not None else ""
        info = f"trial {t.number} {t.state.lower()} {value}".rstrip()
        self.advance(info=info)
        self._count_line(self.completed, self.total, "trials", info)


@contextmanager
def progress_bar(title: str, total: int | None = None) -> Iterator[Bar]:
    """A Rich bar on stderr for `total` steps (None: unknown until `set_total`); it is drawn at
    once, so a script shows it is alive before its first step ends, and removed when done."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(title, total=total, info="")
    progress.start()
    try:
        yield Bar(progress, task, title, total)
    finally:
        progress.live.stop()  # not progress.stop(): that prints a blank line on a non-terminal
