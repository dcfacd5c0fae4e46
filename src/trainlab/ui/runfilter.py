"""The runs filter language -> one SQL WHERE clause with parameters (json_extract over config/summary).

    model.name=cnn and val_acc>0.9 and status=finished
    (optim.name=adam or optim.name=sgd) and optim.lr<=0.01 and name~baseline

A field is a run column (status, name, seed, id, config_hash, created), a dotted config field
(`optim.lr`) or a final metric (`val_acc`, from the run's summary). Operators: = != > >= < <= and
`~` (contains). Values: numbers, true/false, bare words or quoted strings.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from trainlab.errors import TrainlabError

COLUMNS = ("id", "name", "status", "seed", "config_hash", "created", "ended")
OPS = ("!=", ">=", "<=", "=", ">", "<", "~")
_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>!=|>=|<=|==|=|>|<|~)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')|(?P<word>[^\s()=!<>~\"']+))"
)
_FIELD = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)*$")


class QueryError(TrainlabError):
    """A malformed filter query; the message is one line the page shows under the filter box."""


@dataclass
class Sql:
    where: str
    params: list[Any]


def field_sql(name: str, known: Collection[str] | None = None) -> str:
    """The SQL expression of a field; QueryError naming close matches if `known` lacks it."""
    if not _FIELD.match(name):
        raise QueryError(f"filter: {name!r} is not a field name (letters, digits, _ and dots)")
    if name in COLUMNS:
        return name
    if known is not None and name not in known and name not in COLUMNS:
        near = get_close_matches(name, list(known) + list(COLUMNS), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else "; see the column picker"
        raise QueryError(f"filter: unknown field {name!r}{hint}")
    path = "$." + ".".join(f'"{p}"' for p in name.split("."))
    if "." in name:
        return f"json_extract(config, '{path}')"
    return f"coalesce(json_extract(summary, '{path}'), json_extract(config, '{path}'))"


def parse(text: str, known: Collection[str] | None = None) -> Sql:
    """Parse a filter query; an empty one matches every run."""
    tokens = _tokenize(text)
    if not tokens:
        return Sql("1", [])
    parser = _Parser(tokens, known)
    sql = parser.expr()
    if parser.pos < len(tokens):
        raise QueryError(f"filter: unexpected {tokens[parser.pos][1]!r} at word {parser.pos + 1}")
    return sql


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"filter: cannot read {text[pos : pos + 12]!r} (unclosed quote?)")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Parser:
    """expr := term ('or' term)*; term := atom ('and' atom)*; atom := '(' expr ')' | field op value"""

    def __init__(self, tokens: list[tuple[str, str]], known: Collection[str] | None) -> None:
        self.tokens, self.pos, self.known = tokens, 0, known

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("filter: the query ends too early (a comparison needs field op value)")
        self.pos += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expr(self) -> Sql:
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        return _join(parts, "OR")

    def term(self) -> Sql:
        parts = [self.atom()]
        while self.keyword("and"):
            parts.append(self.atom())
        return _join(parts, "AND")

    def atom(self) -> Sql:
        kind, text = self.take()
        if kind == "lp":
            inner = self.expr()
            if self.peek() is None or self.take()[0] != "rp":
                raise QueryError("filter: a '(' is not closed")
            return inner
        if kind != "word" or text.lower() in ("and", "or"):
            raise QueryError(f"filter: expected a field name, got {text!r}")
        column = field_sql(text, self.known)
        kind, op = self.take()
        if kind != "op":
            raise QueryError(f"filter: expected one of {' '.join(OPS)} after {text!r}, got {op!r}")
        kind, raw = self.take()
        if kind not in ("word", "str"):
            raise QueryError(f"filter: expected a value after {text} {op}, got {raw!r}")
        value = _value(raw, quoted=kind == "str")
        op = "=" if op == "==" else op
        if op == "~":
            return Sql(f"instr(lower(CAST({column} AS TEXT)), lower(?)) > 0", [str(value)])
        if op in ("=", "!=") and isinstance(value, str):
            # a config field read back as text so `seed=0` and `name=0` both work
            return Sql(f"CAST({column} AS TEXT) {op} ?", [value])
        return Sql(f"{column} {op} ?", [value])


def _value(raw: str, quoted: bool) -> Any:
    if quoted:
        return raw[1:-1]
    low = raw.lower()
    if low in ("true", "false"):
        return 1 if low == "true" else 0
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _join(parts: list[Sql], op: str) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(
        "(" + f" {op} ".join(p.where for p in parts) + ")", [v for p in parts for v in p.params]
    )
