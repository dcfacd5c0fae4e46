"""What a study, search or inspection leaves for the report: words, tables, figures and numbers.

Stored as the study row's `summary` JSON; tables are also written as CSV and Markdown beside the
figures in the study folder, so every number can be read without trainlab.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""  # e.g. "mean ± std over 3 seeds; 95% CI by t-distribution"

    def markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "| " + " | ".join("---" for _ in self.columns) + " |"
        body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join([f"**{self.title}**", "", head, rule, *body])

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buf.getvalue()


@dataclass
class Figure:
    title: str
    file: str  # PNG path relative to the study folder; an SVG with the same stem sits beside it
    caption: str = ""


@dataclass
class Summary:
    kind: str  # baselines | optimizers | regularization | grid | search | inspect-features | ...
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs, plain text
    verdicts: list[str] = field(default_factory=list)  # "adam vs sgd: better (p=0.01, n=3)"
    # The study's answers in plain words, corrected claims only; the report's Findings lead with
    # these ("best on validation: rmsprop; not distinguishable after Holm over 6: sgd, nesterov").
    answers: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # numbers behind the figures, JSON-able

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Summary:
        raw = dict(raw)
        tables = [Table(**t) for t in raw.pop("tables", [])]
        figures = [Figure(**f) for f in raw.pop("figures", [])]
        return cls(**raw, tables=tables, figures=figures)

    def write_tables(self, folder: Path) -> list[Path]:
        """Write each table as `<slug>.csv` and `<slug>.md` in `folder`; return the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for table in self.tables:
            stem = folder / slug(table.title)
            stem.with_suffix(".csv").write_text(table.csv())
            stem.with_suffix(".md").write_text(table.markdown() + "\n")
            paths += [stem.with_suffix(".csv"), stem.with_suffix(".md")]
        return paths


def slug(text: str) -> str:
    """A file-name-safe version of a title: lowercase letters, digits and dashes."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)[:80] or "table"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
