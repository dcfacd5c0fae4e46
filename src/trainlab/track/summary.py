"""What a study, search or inspection leaves for the report: words, tables, figures and numbers.

Stored as the study row's `summary` JSON; tables are also written as CSV, Markdown and a LaTeX
`table` (booktabs) beside the figures in the study folder, so every number can be read without
trainlab and a table goes into a paper with an input command.
"""

from __future__ import annotations

import csv
import io
import re
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

    def latex(self) -> str:
        """A booktabs `table` float: numeric columns right-aligned, the note in the caption,
        every cell escaped; input it in a paper (it needs the booktabs package)."""
        numeric = [
            all(v is None or _number(v) for v in col) and any(_number(v) for v in col)
            for col in zip(*self.rows, strict=True)
        ] if self.rows else [False] * len(self.columns)  # fmt: skip
        spec = "".join("r" if n else "l" for n in numeric)
        caption = tex(self.title) + (f". {tex(self.note)}" if self.note else "")
        lines = [f"% {self.title}: written by trainlab; needs \\usepackage{{booktabs}}",
                 "\\begin{table}[tbp]", "  \\centering", "  \\small",
                 f"  \\caption{{{caption}}}", f"  \\label{{tab:{slug(self.title)}}}",
                 f"  \\begin{{tabular}}{{{spec}}}", "    \\toprule",
                 "    " + " & ".join(tex(c) for c in self.columns) + " \\\\", "    \\midrule"]  # fmt: skip
        lines += [
            "    " + " & ".join(tex(_cell(v, escape=False)) for v in row) + " \\\\"
            for row in self.rows
        ]
        lines += ["    \\bottomrule", "  \\end{tabular}", "\\end{table}"]
        return "\n".join(lines) + "\n"


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
            stem.with_suffix(".tex").write_text(table.latex())
            paths += [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]
        return paths


def slug(text: str) -> str:
    """A file-name-safe version of a title: lowercase letters, digits and dashes."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)[:80] or "table"


# LaTeX's special characters, and the symbols our tables use that pdflatex has no glyph for
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "<": r"$<$", ">": r"$>$", "–": "--", "—": "---", "−": r"$-$", "±": r"$\pm$",
        "×": r"$\times$", "·": r"$\cdot$", "≤": r"$\leq$", "≥": r"$\geq$", "≈": r"$\approx$",
        "≠": r"$\neq$", "→": r"$\to$", "∞": r"$\infty$", "∂": r"$\partial$", "∫": r"$\int$",
        "∑": r"$\sum$", "√": r"$\surd$", "‖": r"$\|$", "²": r"$^2$", "³": r"$^3$", "µ": r"$\mu$"}  # fmt: skip
_GREEK = {  # the Greek letters LaTeX has as math macros (omicron is an o)
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu",
    "ξ": "xi", "π": "pi", "ρ": "rho", "ς": "varsigma", "σ": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta",
    "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi",
    "Ω": "Omega",
}  # fmt: skip
_TEX.update({c: f"$\\{g}$" for c, g in _GREEK.items()})
_TEX["\u03bf"] = "o"  # omicron
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex(text: Any) -> str:
    """`text` safe in LaTeX's text mode: special characters escaped, a few symbols as math."""
    return _TEX_RE.sub(lambda m: _TEX[m.group(0)], str(text))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any, escape: bool = True) -> str:
    """A cell as text: floats to 4 significant digits, None blank; `|` escaped for Markdown."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|") if escape else str(value)
