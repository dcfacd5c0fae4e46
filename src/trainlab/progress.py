"""Progress on stderr for scripts: one Rich bar over counted steps (runs, trials, inspections) with
elapsed time and ETA, and callbacks for the study executor and the search that move it.

    with progress_bar("inspections", total=3) as bar:
        for name in names:
            bar.doing(name)  # what runs now
            ...
            bar.advance()
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from trainlab.execute import Outcome
    from trainlab.search.results import TrialRecord


class Bar:
    """A started bar: `doing` names the current step, `advance` counts finished ones."""

    def __init__(self, progress: Progress, task: TaskID, title: str) -> None:
        self._progress, self._task, self._title = progress, task, title
        self.completed = 0
        self.failed = 0
        self._ended: dict[str, int] = {}

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
        self._progress.update(self._task, total=total)

    def runs(self, outcome: Outcome | None, done: int, total: int) -> None:
        """`trainlab.studies.execute`'s progress callback: runs done of total, and how many ended
        otherwise (diverged, failed, interrupted), by status."""
        if outcome is not None and outcome.status != "finished":
            self.failed += 1
            self._ended[outcome.status] = self._ended.get(outcome.status, 0) + 1
        self.completed = done
        info = ", ".join(f"{n} {status}" for status, n in self._ended.items())
        self._progress.update(self._task, completed=done, total=total, info=info)

    def trial(self, t: TrialRecord) -> None:
        """`trainlab.search.run_search`'s progress callback: one step per trial that ended."""
        value = f"{t.value:.4f}" if t.value is not None else ""
        self.advance(info=f"trial {t.number} {t.state.lower()} {value}".rstrip())


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
        yield Bar(progress, task, title)
    finally:
        progress.live.stop()  # not progress.stop(): that prints a blank line on a non-terminal
