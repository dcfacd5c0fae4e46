"""Live progress of a study on stderr: a Rich bar of runs done / total, ETA and failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trainlab.execute import Outcome, Progress


@contextmanager
def live_progress(title: str, enabled: bool = True) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr fed by the executor; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
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
    task = bar.add_task(title, total=None, info="")
    bad: dict[str, int] = {}

    def update(outcome: Outcome | None, done: int, total: int) -> None:
        if outcome is not None and outcome.status != "finished":
            bad[outcome.status] = bad.get(outcome.status, 0) + 1
        info = ", ".join(f"{n} {s}" for s, n in bad.items())
        bar.update(task, completed=done, total=total, info=info)

    bar.start()
    try:
        yield update
    finally:
        bar.live.stop()  # not bar.stop(): that prints an empty line when stderr is not a terminal
