"""A study's size: the named budgets (quick, full) or custom sizes, and the seed count. The one
place budgets and seed counts are checked."""

from __future__ import annotations

from typing import Protocol, TypeVar

from trainlab.errors import ConfigError

BUDGETS = ("quick", "full")
TUNING_SEED_OFFSET = 1000  # tuning runs use seeds 1000+, so no final (fresh-seed) run was selected


def check_budget(budget: str) -> str:
    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    return budget


def check_seeds(seeds: int) -> int:
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be 1 or more")
    return seeds


class _Sized(Protocol):
    @property
    def seeds(self) -> int: ...


B = TypeVar("B", bound=_Sized)


def resolve_budget(budget: str | B, budgets: dict[str, B], seeds: int | None) -> tuple[B, str, int]:
    """(sizes, label, seeds): a named budget from `budgets`, or sizes given as an object, labelled
    by the name of the budget they equal ("custom" when none); `seeds` overrides the budget's
    own `seeds`."""
    if isinstance(budget, str):
        b, label = budgets[check_budget(budget)], budget
    else:
        b = budget
        label = next((name for name, named in budgets.items() if named == b), "custom")
    return b, label, check_seeds(seeds if seeds is not None else b.seeds)


def final_seeds(first: int, n: int) -> list[int]:
    """The final comparison's seeds: `n` counted up from `first` (the base config's seed)."""
    check_seeds(n)
    return [first + i for i in range(n)]


def tuning_seeds(first: int, n: int) -> list[int]:
    """Tuning seeds, disjoint from every final seed: offset by TUNING_SEED_OFFSET."""
    return [first + TUNING_SEED_OFFSET + i for i in range(n)]
