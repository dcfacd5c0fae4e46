"""Live progress of a study on stderr: the package's Rich bar (`trainlab.progress`) fed by the
executor with runs done / total, ETA and the runs that did not finish."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trainlab.execute import Progress


@contextmanager
def live_progress(title: str, enabled: bool = True) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr fed by the executor; None when disabled."""
    if not enabled:
        yield None
        return
    from trainlab.progress import progress_bar

    with progress_bar(title) as bar:
        yield bar.runs
