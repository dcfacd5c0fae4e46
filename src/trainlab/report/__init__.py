"""The report: stored studies, searches, inspections and runs -> one self-contained HTML file."""

from trainlab.report.builder import Report, build_report, render, write_report
from trainlab.report.select import Selection, resolve, runs_of, select

__all__ = [
    "Report",
    "Selection",
    "build_report",
    "render",
    "resolve",
    "runs_of",
    "select",
    "write_report",
]
