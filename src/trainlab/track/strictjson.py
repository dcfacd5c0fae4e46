"""Strict JSON for everything trainlab stores or serves: NaN and ±Infinity become null (Python's
`json` would write the non-standard `NaN`, which SQLite's JSON functions, browsers and most other
tools reject), NumPy scalars and arrays become plain numbers and lists.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float (nested in dicts, lists, tuples, arrays) as None."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    np = sys.modules.get("numpy")  # not imported: no NumPy value can be here (the CLI starts fast)
    if np is not None and isinstance(value, np.ndarray | np.generic):
        return finite(value.tolist())
    return value


def dumps(value: Any, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """`json.dumps` of `finite(value)` that refuses any NaN left (`default`'s output included)."""
    if default is None:
        return json.dumps(finite(value), allow_nan=False, **kwargs)
    return json.dumps(
        finite(value), allow_nan=False, default=lambda o: finite(default(o)), **kwargs
    )


def repair(text: str) -> str:
    """Stored JSON text rewritten strictly (`NaN`, `Infinity`, `-Infinity` -> null)."""
    return dumps(json.loads(text))
