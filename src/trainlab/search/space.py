"""Search spaces: a YAML file mapping dotted config fields to distributions, as Optuna distributions.

`optim.lr: {log_uniform: [1e-4, 1e-1]}`, `model.options.width: {choice: [64, 128]}`,
`train.batch_size: {int: [32, 256], log: true}`, `optim.momentum: {uniform: [0, 0.99], when: {optim.name: sgd}}`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from trainlab.config import RunConfig, get_dotted, read_yaml
from trainlab.errors import ConfigError

KINDS = ("uniform", "log_uniform", "int", "choice")
EXTRA_KEYS = ("log", "step", "points", "grid", "when")
MAX_GRID = 10_000  # grid points; beyond this a grid search is not what anyone wants
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Param:
    """One searched field: its distribution, its grid values and the condition that enables it."""

    field: str
    kind: str  # uniform | log_uniform | int | choice
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    points: int | None = None  # grid: this many evenly (log-)spaced values
    grid: tuple[Any, ...] | None = None  # grid: exactly these values
    when: dict[str, tuple[Any, ...]] = dataclasses.field(
        default_factory=dict
    )  # field -> allowed values

    def distribution(self) -> BaseDistribution:
        if self.kind == "choice":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            return IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.field, self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.field, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.field, self.low, self.high, step=self.step, log=self.log)

    def grid_values(self) -> list[Any]:
        """The values grid search tries: choices, `grid`, `points` (log-spaced if log) or `step`."""
        if self.grid is not None:
            return list(self.grid)
        if self.kind == "choice":
            return list(self.choices)
        if self.points is not None:
            spaced = (np.geomspace if self.log else np.linspace)(self.low, self.high, self.points)
            if self.kind == "int":
                return sorted({int(np.rint(v)) for v in spaced})
            return [float(f"{v:.6g}") for v in spaced]
        if self.step is not None or self.kind == "int":
            step = self.step or 1
            count = math.floor((self.high - self.low) / step + 1e-9) + 1
            if count > MAX_GRID:
                raise ConfigError(
                    f"space field {self.field!r}: {count} grid values; give points: N"
                )
            values = [self.low + i * step for i in range(count)]
            return (
                [int(v) for v in values]
                if self.kind == "int"
                else [float(f"{v:.10g}") for v in values]
            )
        raise ConfigError(
            f"space field {self.field!r}: grid search needs `step`, `points` or `grid` for a "
            f"{self.kind} field, e.g. {{{self.kind}: [{self.low:g}, {self.high:g}], points: 4}}"
        )


@dataclass(frozen=True)
class SearchSpace:
    """Parameters in suggestion order (a condition's field comes before the fields it enables)."""

    params: tuple[Param, ...]
    raw: dict[str, Any]  # the parsed YAML, so worker processes can rebuild the space

    @property
    def names(self) -> list[str]:
        return [p.field for p in self.params]

    def active(self, param: Param, chosen: dict[str, Any], base: RunConfig) -> bool:
        """Whether `param` is searched given the values chosen so far and the base config."""
        for key, allowed in param.when.items():
            if key in self.names and key not in chosen:
                return False  # the field it depends on is itself inactive
            value = chosen[key] if key in self.names else get_dotted(base, key)
            if value not in allowed:
                return False
        return True

    def suggest(self, trial: optuna.Trial, base: RunConfig) -> dict[str, Any]:
        """Ask the trial for every active parameter; return `{dotted field: value}` overrides."""
        chosen: dict[str, Any] = {}
        for p in self.params:
            if self.active(p, chosen, base):
                chosen[p.field] = p.suggest(trial)
        return chosen

    def grid_points(self, base: RunConfig, seed: int | None = None) -> list[dict[str, Any]]:
        """Every grid point (inactive fields left out, so no point repeats), shuffled by `seed`."""
        points: list[dict[str, Any]] = [{}]
        for p in self.params:
            nxt = []
            for point in points:
                if self.active(p, point, base):
                    nxt += [{**point, p.field: v} for v in p.grid_values()]
                else:
                    nxt.append(point)
            points = nxt
            if len(points) > MAX_GRID:
                raise ConfigError(f"the grid has more than {MAX_GRID} points; give fewer values")
        if seed is not None:
            order = np.random.default_rng(seed).permutation(len(points))
            points = [points[i] for i in order]
        return points

    def point(self, base: RunConfig, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
        """One representative point: `fixed` values, then each active field's first choice or low."""
        chosen = dict(fixed or {})
        for p in self.params:
            if p.field not in chosen and self.active(p, chosen, base):
                chosen[p.field] = p.choices[0] if p.kind == "choice" else p.low
        return chosen

    def check(self, base: RunConfig) -> None:
        """Raise a one-line ConfigError if a value the space can produce is not a valid config.

        Each field's bounds (or choices, or grid) are tried with the other fields at a
        representative point that satisfies the field's condition.
        """
        for p in self.params:
            cond: dict[str, Any] = {}
            for key, allowed in p.when.items():
                for value in allowed:
                    _validate(base, {key: value}, p.field, f"when: {key}")
                cond[key] = allowed[0]
            fixed = {k: v for k, v in cond.items() if k not in self.names}
            where = base.with_overrides(fixed)
            around = {k: v for k, v in cond.items() if k in self.names}
            edges = list(p.choices) if p.kind == "choice" else [p.low, p.high]
            for value in edges + list(p.grid or ()):
                _validate(where, self.point(where, {**around, p.field: value}), p.field)

    def describe(self) -> list[str]:
        return [f"{p.field}: {_describe(p)}" for p in self.params]


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML file (one-line ConfigError naming the bad field)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"search space file {str(p)!r} does not exist")
    try:
        raw = read_yaml(p.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"search space file {str(p)!r} is not valid YAML") from None
    return parse_space(raw)


def parse_space(raw: Any) -> SearchSpace:
    """Build a SearchSpace from a mapping `{dotted field: spec}`; a plain list means `choice`."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("a search space must map dotted config fields to distributions")
    params = {str(k): _parse_param(str(k), spec) for k, spec in raw.items()}
    for p in params.values():
        for key in p.when:
            dep = params.get(key)
            if key == p.field:
                raise ConfigError(f"space field {p.field!r}: `when` cannot refer to itself")
            if dep is not None and (dep.kind != "choice" or dep.when):
                raise ConfigError(
                    f"space field {p.field!r}: `when: {key}` must name an unconditional choice "
                    "field or a fixed config field"
                )
            never = [v for v in p.when[key] if dep is not None and v not in dep.choices]
            if never:
                raise ConfigError(
                    f"space field {p.field!r}: `when: {key}: {never[0]!r}` is not one of "
                    f"{key}'s choices {list(dep.choices) if dep else []}"
                )
    ordered = sorted(params.values(), key=lambda q: bool(q.when))  # stable: conditions last
    return SearchSpace(tuple(ordered), raw)


def _parse_param(name: str, spec: Any) -> Param:
    where = f"space field {name!r}"
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{where}: expected a mapping like {{log_uniform: [1e-4, 1e-1]}}, got {spec!r}"
        )
    kinds = [k for k in spec if k in KINDS]
    unknown = [k for k in spec if k not in KINDS and k not in EXTRA_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; use one of {', '.join(KINDS)} plus {', '.join(EXTRA_KEYS)}"
        )
    if len(kinds) != 1:
        raise ConfigError(
            f"{where}: give exactly one of {', '.join(KINDS)} (got {kinds or 'none'})"
        )
    kind, args = kinds[0], spec[kinds[0]]
    when = _parse_when(where, spec.get("when"))
    grid = _parse_grid(where, spec.get("grid"))
    points = spec.get("points")
    if points is not None and (
        not isinstance(points, int) or isinstance(points, bool) or points < 2
    ):
        raise ConfigError(f"{where}: points={points!r} must be an integer >= 2")
    log_flag = spec.get("log", False)
    if not isinstance(log_flag, bool):
        raise ConfigError(f"{where}: log={log_flag!r} must be true or false")
    if kind == "choice":
        extra = [k for k in ("log", "step", "points") if k in spec]
        if extra:
            raise ConfigError(f"{where}: `{extra[0]}` does not apply to a choice field")
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice needs a non-empty list, got {args!r}")
        bad = [v for v in args if not isinstance(v, _SCALARS)]
        if bad:
            raise ConfigError(
                f"{where}: choice values must be numbers, strings, booleans or null, got {bad[0]!r}"
            )
        if len(set(map(repr, args))) != len(args):
            raise ConfigError(f"{where}: choice values repeat: {args!r}")
        outside = [v for v in grid or () if v not in args]
        if outside:
            raise ConfigError(f"{where}: grid value {outside[0]!r} is not one of the choices")
        return Param(name, kind, choices=tuple(args), grid=grid, when=when)
    low, high = _parse_bounds(where, kind, args)
    log = kind == "log_uniform" or log_flag
    step = spec.get("step")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0
    ):
        raise ConfigError(f"{where}: step={step!r} must be a positive number")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log scale needs a positive lower bound, got {low!r}")
    if log and step is not None:
        raise ConfigError(f"{where}: `step` and a log scale cannot be combined")
    if kind == "int" and step is not None and not isinstance(step, int):
        raise ConfigError(f"{where}: an int field needs an integer step, got {step!r}")
    for v in grid or ():
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not number or not low <= v <= high or (kind == "int" and not isinstance(v, int)):
            what = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"{where}: grid value {v!r} must be {what} in [{low}, {high}]")
    kind = "uniform" if kind == "log_uniform" else kind
    return Param(name, kind, low, high, log, step, points=points, grid=grid, when=when)


def _parse_bounds(where: str, kind: str, args: Any) -> tuple[float, float]:
    ok = isinstance(args, list) and len(args) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in args)
    if not ok:
        raise ConfigError(f"{where}: {kind} needs [low, high] numbers, got {args!r}")
    low, high = args
    if kind == "int" and not all(isinstance(v, int) for v in args):
        raise ConfigError(f"{where}: int needs integer bounds, got {args!r}")
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got [{low!r}, {high!r}]")
    return low, high


def _parse_when(where: str, when: Any) -> dict[str, tuple[Any, ...]]:
    if when is None:
        return {}
    if not isinstance(when, dict) or not when:
        raise ConfigError(f"{where}: when must map fields to values, e.g. {{optim.name: sgd}}")
    return {str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in when.items()}


def _parse_grid(where: str, grid: Any) -> tuple[Any, ...] | None:
    if grid is None:
        return None
    if not isinstance(grid, list) or not grid or not all(isinstance(v, _SCALARS) for v in grid):
        raise ConfigError(f"{where}: grid must be a non-empty list of values, got {grid!r}")
    return tuple(grid)


def _validate(base: RunConfig, overrides: dict[str, Any], name: str, what: str = "") -> None:
    try:
        base.with_overrides(overrides)
    except ConfigError as exc:
        label = f"{name} ({what})" if what else name
        raise ConfigError(f"space field {label!r}: {exc}") from None


def _describe(p: Param) -> str:
    if p.kind == "choice":
        text = "choice of " + ", ".join(map(str, p.choices))
    else:
        scale = "log " if p.log else ""
        step = f" step {p.step:g}" if p.step else ""
        text = f"{scale}{p.kind} in [{p.low:g}, {p.high:g}]{step}"
    if p.when:
        text += " when " + ", ".join(f"{k} in {list(v)}" for k, v in p.when.items())
    return text
