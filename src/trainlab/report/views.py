"""What the template shows, as plain records: tables with numeric columns, figures, verdicts.

Values stay raw text here; the Jinja2 environment escapes every one of them on output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from trainlab.report.figures import Image

# "0.91", "-3e-05", "91.2%", "0.912 ± 0.004", "12 / 40": right-aligned in tabular figures.
_NUMERIC = re.compile(
    r"^[+\-−]?(\d[\d,]*\.?\d*|\.\d+)([eE][+\-]?\d+)?%?"
    r"(\s*(±|\+/-|/)\s*[+\-−]?(\d[\d,]*\.?\d*|\.\d+)([eE][+\-]?\d+)?%?)?$"
)
# Verdict wording -> tone of its marker. The words carry the meaning; the colour only helps.
_TONES = (
    (
        "noise",
        (
            "within noise",
            "not significant",
            "no significant",
            "inconclusive",
            "no verdict possible",
        ),
    ),
    ("worse", ("worse", "slower", "diverged", "failed")),
    ("better", ("better", "faster", "wins")),
)


@dataclass
class Cell:
    text: str
    numeric: bool
    href: str = ""  # an in-page anchor ("#run-1a2b"), never a URL from the data


@dataclass
class TableView:
    number: int
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    numeric: list[bool]  # per column: every non-empty cell is a number
    note: str = ""


@dataclass
class FigureView:
    number: int
    title: str
    caption: str
    image: Image | None
    problem: str = ""  # why the image is not shown (missing file, not a PNG)


@dataclass
class Verdict:
    text: str
    tone: str  # better | worse | noise | info


@dataclass
class Fact:
    label: str
    value: str
    href: str = ""  # an in-page anchor ("#env-a"), never a URL from the data


@dataclass
class Numbering:
    """Figures and tables are numbered through the whole report, as in a paper."""

    figures: int = 0
    tables: int = 0

    def table(
        self, title: str, columns: list[str], rows: list[list[Any]], note: str = ""
    ) -> TableView:
        self.tables += 1
        cells = [[cell(v) for v in row] for row in rows]
        numeric = [
            any(r[i].text for r in cells if i < len(r))
            and all(r[i].numeric or not r[i].text for r in cells if i < len(r))
            for i in range(len(columns))
        ]
        return TableView(self.tables, title, [str(c) for c in columns], cells, numeric, note)

    def figure(
        self, title: str, caption: str, image: Image | None, problem: str = ""
    ) -> FigureView:
        self.figures += 1
        return FigureView(self.figures, title, caption, image, problem)


@dataclass
class Environment:
    anchor: str
    label: str
    facts: list[Fact]
    packages: list[Fact]
    run_ids: list[str] = field(default_factory=list)
    runs: list[Cell] = field(default_factory=list)  # the run ids, linked to their sections


def fmt(value: Any) -> str:
    """A number for a table: 4 significant digits, whole numbers up to 1e9 in full; none (a
    non-finite number is stored as null) as "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if 1e4 <= abs(value) < 1e9:
            return f"{value:.0f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def cell(value: Any) -> Cell:
    if isinstance(value, Cell):
        return value
    text = fmt(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Cell(text, True)
    return Cell(text, bool(_NUMERIC.match(text.strip())))


def verdict(text: str) -> Verdict:
    low = text.lower()
    for tone, words in _TONES:
        if any(w in low for w in words):
            return Verdict(text, tone)
    return Verdict(text, "info")


def as_yaml(data: Any) -> str:
    """Block-style YAML in stored key order: how configs read best."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88).rstrip()
