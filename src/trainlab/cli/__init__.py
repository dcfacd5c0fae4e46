"""The `trainlab` command: a Typer app with one sub-command per job. Thin: logic lives in the package.

User errors (TrainlabError) print one line on stderr and exit with code 2, never a traceback.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import typer

from trainlab.cli.app import app
from trainlab.errors import TrainlabError

# Sub-command modules register themselves on `app` when imported.
from trainlab.cli import runs as _runs  # noqa: F401  isort: skip
from trainlab.cli import inspect as _inspect  # noqa: F401  isort: skip
from trainlab.cli import search as _search  # noqa: F401  isort: skip
from trainlab.cli import study as _study  # noqa: F401  isort: skip
from trainlab.cli import report as _report  # noqa: F401  isort: skip
from trainlab.cli import export as _export  # noqa: F401  isort: skip
from trainlab.cli import suite as _suite  # noqa: F401  isort: skip
from trainlab.cli import ui as _ui  # noqa: F401  isort: skip

__all__ = ["app", "main"]


def _one_line_summaries(group: typer.Typer) -> None:
    """A command's line in its group's list: the docstring's first paragraph as one line. Typer's
    Rich mode keeps the docstring's line breaks there (`gc`, `report`, `suite` and `ui` broke in
    mid-sentence in `trainlab --help`); the command's own --help reflows them already."""
    for info in group.registered_commands:
        doc = (info.callback.__doc__ or "") if info.callback else ""
        if info.short_help is None and doc:
            info.short_help = " ".join(doc.strip().split("\n\n")[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


_one_line_summaries(app)


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and `python -m trainlab`."""
    warnings.showwarning = _one_line_warning  # a warning is one line on stderr, like an error
    try:
        result = app(args=argv, standalone_mode=False, prog_name="trainlab")
    except TrainlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # a usage error: unknown option, missing argument
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        return 2
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; finished work is stored, a rerun resumes", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def run_main() -> None:
    sys.exit(main())


typer_main = typer.main  # re-exported for tests that need Typer's runner
