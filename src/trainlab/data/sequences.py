"""Synthetic token-sequence tasks whose label is decided by known tokens: ground truth for attention.

Each task also returns a per-sample boolean mask (N, T) of the decisive positions, stored as
`Dataset.extras["decisive_mask_{train,val,test}"]`, so an inspection can measure how much attention
a trained model puts on them versus the uniform share (chance).
"""

from __future__ import annotations

import numpy as np

from trainlab.data.builtin import positive_int
from trainlab.data.registry import Raw, register_dataset
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _sizes(n: int, length: int, seed: int) -> tuple[int, int, int]:
    return positive_int("n", n, 8), positive_int("length", length, 4), positive_int("seed", seed, 0)


def _masks(raw_mask: np.ndarray, split_at: int) -> dict[str, np.ndarray]:
    return {"decisive_mask": raw_mask[:split_at], "decisive_mask_test": raw_mask[split_at:]}


@register_dataset(
    "seq_pair",
    "tokens",
    "digit sequences; the label is decided by the digits at two fixed positions",
)
def seq_pair(
    *, n: int = 4000, length: int = 16, first: int = 3, second: int = 11, seed: int = 0
) -> Raw:
    """Tokens are digits 0..9 at every position. label = 2·[x[first] ≥ 5] + [x[second] ≥ 5], four
    classes (lo-lo, lo-hi, hi-lo, hi-hi); every other position is noise. `n` pool + n/4 test."""
    n, length, seed = _sizes(n, length, seed)
    for option, pos in (("first", first), ("second", second)):
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos < length:
            raise ConfigError(
                f"data.options.{option}={pos!r}: must be a position in 0..{length - 1}"
            )
    if first == second:
        raise ConfigError(f"data.options.second={second}: must differ from data.options.first")
    total = n + max(2, n // 4)
    x = np.random.default_rng(seed).integers(0, 10, (total, length))
    y = 2 * (x[:, first] >= 5) + (x[:, second] >= 5)
    mask = np.zeros((total, length), dtype=bool)
    mask[:, [first, second]] = True
    spec = DataSpec(
        "seq_pair",
        "tokens",
        (length,),
        4,
        ("lo-lo", "lo-hi", "hi-lo", "hi-hi"),
        vocab_size=10,
        token_names=tuple(str(i) for i in range(10)),
        decisive_positions=(first, second),
        description="label from the digits at two fixed positions",
    )
    return Raw(spec, x[:n], y[:n], x[n:], y[n:], _masks(mask, n))


@register_dataset(
    "seq_marker",
    "tokens",
    "letter sequences with one capital at a random place; label = that letter",
)
def seq_marker(*, n: int = 4000, length: int = 16, classes: int = 4, seed: int = 0) -> Raw:
    """Each position holds a lower-case letter of the first `classes`; one random position holds a
    capital instead, and its letter is the label. Attention must find it by content, not place.
    Token ids: 0..classes-1 lower case, classes..2·classes-1 capitals."""
    n, length, seed = _sizes(n, length, seed)
    classes = positive_int("classes", classes, 2)
    if classes > len(LETTERS):
        raise ConfigError(f"data.options.classes={classes}: must be at most {len(LETTERS)}")
    total = n + max(2, n // 4)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, classes, (total, length))
    where = rng.integers(0, length, total)
    y = rng.integers(0, classes, total)
    rows = np.arange(total)
    x[rows, where] = classes + y
    mask = np.zeros((total, length), dtype=bool)
    mask[rows, where] = True
    letters = LETTERS[:classes]
    spec = DataSpec(
        "seq_marker",
        "tokens",
        (length,),
        classes,
        tuple(letters.upper()),
        vocab_size=2 * classes,
        token_names=(*letters, *letters.upper()),
        description="label = the one capital letter, anywhere",
    )
    return Raw(spec, x[:n], y[:n], x[n:], y[n:], _masks(mask, n))
