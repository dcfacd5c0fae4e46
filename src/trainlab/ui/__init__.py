"""`trainlab ui`: a live local dashboard over the run store (read-only; Starlette on uvicorn)."""

from trainlab.ui.runfilter import QueryError, parse

__all__ = ["QueryError", "parse"]
