"""Data the user brings as a table or as code: a `csv` loader and `data.name=file.py:make`.

CSV: every column but `target` is a numeric feature (standardised on the train split by default);
the target's distinct values, sorted, become the class names — or, with `task: regression`, the
target is a number to predict. An empty (or NA/NaN/null/?) feature cell is an error unless
`missing` says to drop its row or fill it from the train split's column. Code: `make(**options)`
returns arrays `x, y` and optionally `x_test, y_test, class_names` (a tuple or a dict with those
keys).
"""

from __future__ import annotations

import csv
import inspect
from dataclasses import replace
from typing import Any

import numpy as np

from trainlab.data.catalog import TASKS, DatasetInfo
from trainlab.data.files import as_inputs, check_flag, class_ids, existing_path, raw_dataset
from trainlab.data.registry import Raw, holdout, register_dataset, regression_spec
from trainlab.errors import ConfigError, DataError

OUR_OPTIONS = {"kind": None, "test_fraction": 0.2, "standardize": False, "task": "classification"}
MISSING = ("error", "drop", "mean", "median")  # what `data.options.missing` may say
BLANKS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})  # cells read as missing


@register_dataset(
    "csv",
    "vector",
    "your .csv file: numeric feature columns + a `target` column (class names or ids)",
    builtin=False,
)
def csv_table(
    *,
    path: str | None = None,
    target: str = "target",
    test_fraction: float = 0.2,
    standardize: bool = True,
    task: str = "classification",
    missing: str = "error",
) -> Raw:
    """A header row, then one sample per row; `target` names the label column (regression: the
    numeric column to predict). `missing`: what an empty feature cell does — `error`, `drop` its
    row, or fill it with the `mean` / `median` of its column over the train split of each run
    (never val or test)."""
    check_task(task)
    if missing not in MISSING:
        raise ConfigError(f"data.options.missing={missing!r}: choose one of {', '.join(MISSING)}")
    p = existing_path(path, ".csv file")
    where = f"data.options.path={path!r}"
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a readable CSV file ({exc})") from None
    if len(rows) < 3:
        raise DataError(f"{where}: needs a header row and at least 2 data rows")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if target not in header:
        raise DataError(
            f"data.options.target={target!r}: no such column in {p.name}; columns: {', '.join(header)}"
        )
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{where}: line {i} has {len(row)} fields, the header {len(header)}")
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]
    if not features:
        raise DataError(f"{where}: no feature columns besides {target!r}")
    x = np.empty((len(body), len(features)), dtype=np.float32)
    for c, j in enumerate(features):
        for i, row in enumerate(body):
            cell = row[j].strip()
            if cell.lower() in BLANKS:
                if missing == "error":
                    raise DataError(
                        f"{where}: column {header[j]!r} has a missing value (line {i + 2}: "
                        f"{row[j]!r}); fill it, or set data.options.missing to one of "
                        f"{', '.join(MISSING[1:])}"
                    )
                x[i, c] = np.nan
                continue
            try:
                x[i, c] = float(cell)
            except ValueError:
                raise DataError(
                    f"{where}: column {header[j]!r} is not numeric (line {i + 2}: {row[j]!r}); "
                    "features must be numbers"
                ) from None
    for i, row in enumerate(body):
        if row[t].strip().lower() in BLANKS and missing != "drop":
            raise DataError(
                f"{where}: the target {target!r} is missing on line {i + 2}; a label cannot be "
                "filled in: fill it, or set data.options.missing=drop"
            )
    dropped = 0
    if missing == "drop":
        keep = ~np.isnan(x).any(1) & np.array([r[t].strip().lower() not in BLANKS for r in body])
        dropped = int((~keep).sum())
        x, body = x[keep], [row for row, k in zip(body, keep, strict=True) if k]
        if len(body) < 2:
            raise DataError(f"{where}: {len(body)} row(s) left after dropping those with gaps")
    labels = [row[t].strip() for row in body]
    if task == "regression":
        y_num = _numbers(labels, f"{where}: target column {target!r}")
        xt, yt, xs, ys = holdout(x, y_num, float(test_fraction), stratify=False)
        spec = regression_spec(p.stem, x, y_num, (target,))
        fill = missing if missing in ("mean", "median") and np.isnan(x).any() else None
        return Raw(spec, xt, yt, xs, ys, standardize=check_flag(standardize), impute=fill,
                   dropped=dropped)  # fmt: skip
    names = sorted(set(labels), key=_numeric_first)
    ids = {name: k for k, name in enumerate(names)}
    y = np.array([ids[v] for v in labels], dtype=np.int64)
    raw = raw_dataset(p.stem, "vector", holdout(x, y, float(test_fraction)), names)
    fill = missing if missing in ("mean", "median") and np.isnan(x).any() else None
    return replace(raw, standardize=check_flag(standardize), impute=fill, dropped=dropped)


def check_task(task: object) -> None:
    if task not in TASKS:
        raise ConfigError(f"data.options.task={task!r}: choose one of {', '.join(TASKS)}")


def _numbers(values: list[str], where: str) -> np.ndarray:
    y = np.empty(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        try:
            y[i] = float(v)
        except ValueError:
            raise DataError(f"{where} is not numeric (line {i + 2}: {v!r})") from None
    if not np.isfinite(y).all():
        raise DataError(f"{where} holds a non-finite value (nan or inf)")
    return y


def _numeric_first(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def code_info(name: str) -> DatasetInfo:
    """The registry entry of `file.py:make`: its keyword options plus trainlab's own."""
    from trainlab.provenance import load_object

    make = load_object(name, "data.name")
    if not callable(make):
        raise ConfigError(f"data.name={name!r}: {make!r} is not a function returning arrays")
    from trainlab.data.stream import dataset_options, is_dataset_class

    if is_dataset_class(name):  # a torch Dataset class: streamed (data/stream.py)
        return DatasetInfo(name, "any", f"your Dataset class {name}", dataset_options(make), False)
    params = inspect.signature(make).parameters.values()
    options = {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    return DatasetInfo(name, "any", f"your function {name}", {**options, **OUR_OPTIONS}, False)


def from_code(name: str, **options: Any) -> Raw:
    """Call the user's `make(**options)` and turn what it returns into a Raw."""
    from trainlab.provenance import load_object

    ours = {k: options.pop(k, v) for k, v in OUR_OPTIONS.items()}
    make = load_object(name, "data.name")
    where = f"data.name={name!r}"
    try:
        out = make(**options)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    arrays = _arrays(out, where)
    x, kind = as_inputs(np.asarray(arrays["x"]), ours["kind"], where)
    check_task(ours["task"])
    if ours["task"] == "regression":
        return _regression_from_code(name, x, arrays, ours)
    y = class_ids(np.asarray(arrays["y"]), where)
    if len(x) != len(y):
        raise DataError(f"{where}: x has {len(x)} samples but y has {len(y)}")
    if "x_test" in arrays:
        xs = as_inputs(np.asarray(arrays["x_test"]), kind, where)[0]
        parts: tuple[np.ndarray, ...] = (x, y, xs, class_ids(np.asarray(arrays["y_test"]), where))
    else:
        parts = holdout(x, y, float(ours["test_fraction"]))
    names = arrays.get("class_names")
    classes = [str(c) for c in names] if names is not None else None
    stem = name.rpartition(":")[2]
    return replace(
        raw_dataset(stem, kind, parts, classes), standardize=check_flag(ours["standardize"])
    )


def _regression_from_code(
    name: str, x: np.ndarray, arrays: dict[str, Any], ours: dict[str, Any]
) -> Raw:
    """`make()`'s float targets y (N,) or (N, d) (and y_test), as a regression on vectors."""
    where = f"data.name={name!r}"
    y = np.asarray(arrays["y"], dtype=np.float32)
    if x.ndim != 2 or y.ndim not in (1, 2) or len(y) != len(x):
        raise DataError(
            f"{where}: a regression takes (N, D) inputs and (N,) or (N, d) targets, got {x.shape} and {y.shape}"
        )
    if "x_test" in arrays:
        parts: tuple[np.ndarray, ...] = (x, y, as_inputs(np.asarray(arrays["x_test"]), "vector", where)[0],
                 np.asarray(arrays["y_test"], dtype=np.float32))  # fmt: skip
    else:
        parts = holdout(x, y, float(ours["test_fraction"]), stratify=False)
    names = tuple(str(c) for c in arrays.get("class_names") or ())
    spec = regression_spec(name.rpartition(":")[2], x, y, names)
    xt, yt, xs, ys = parts
    return Raw(spec, xt, yt, xs, ys, standardize=check_flag(ours["standardize"]))


def _arrays(out: Any, where: str) -> dict[str, Any]:
    keys = ("x", "y", "x_test", "y_test", "class_names")
    if isinstance(out, dict):
        arrays = {k: out[k] for k in keys if k in out}
    elif isinstance(out, tuple | list) and len(out) in (2, 4, 5):
        arrays = dict(zip(keys, out, strict=False))
    else:
        raise DataError(
            f"{where}: must return (x, y), (x, y, x_test, y_test[, class_names]) or a dict "
            f"with those keys; got {type(out).__name__}"
        )
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{where}: the returned dict needs keys 'x' and 'y' (has {sorted(arrays)})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{where}: give both x_test and y_test, or neither")
    return arrays
