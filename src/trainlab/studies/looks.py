"""Repeated looks at one study, corrected: each time a study reports verdicts on new data (more
seeds, retried runs) that is a look, and look k tests at alpha_k = alpha * 6 / (pi^2 k^2). The
alpha_k sum to alpha over any number of looks, so the error rate holds however often a study is
extended and looked at again (alpha spending by look, a union bound: no assumption on how the
looks depend on each other). Reporting the same data again is the same look.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

SPENDING = "alpha_k = alpha x 6 / (pi^2 k^2) at look k (sums to alpha over any number of looks)"


def spent(alpha: float, look: int) -> float:
    """The level of look `look` (1, 2, ...): alpha x 6 / (pi^2 look^2)."""
    return alpha * 6.0 / (math.pi**2 * look**2)


def signature(runs: Mapping[str, Sequence[tuple[int, str, str]]]) -> dict[str, list[list[Any]]]:
    """What a look saw: per variant its final (seed, run id, status), sorted (strict JSON)."""
    return {v: [list(r) for r in sorted(rs)] for v, rs in sorted(runs.items())}


def next_look(previous: Sequence[Mapping[str, Any]], seen: Mapping[str, Any]) -> dict[str, Any]:
    """The look this report is: the last one again if it saw the same runs, else a new one."""
    if previous and previous[-1].get("signature") == seen:
        return dict(previous[-1])
    n = {v: len(rs) for v, rs in seen.items()}
    return {"look": len(previous) + 1, "n": n, "time": round(time.time(), 3), "signature": seen}


def history(previous: Sequence[Mapping[str, Any]], look: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The looks so far with `look` last (once)."""
    out = [dict(p) for p in previous if p.get("look") != look["look"]]
    return [*out, dict(look)]
