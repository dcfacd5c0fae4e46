"""Data that stay on the host and reach the device batch by batch, for data sets larger than
`data.device_budget`: a memory-mapped .npy/.npz (rows read in the seeded order, sorted within a
batch for locality), arrays in host memory, or the user's torch Dataset class through a
DataLoader; pinned (CUDA) and prefetched on a background thread. `load_or_stream` decides.

A streamed split yields the same batches, in the same order, as the resident path's permuted
tensors, so the same seed gives the same metrics either way.
"""

from __future__ import annotations

import inspect
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, default_collate
from torch.utils.data import Dataset as TorchDataset

from trainlab.config import DataConfig, parse_budget
from trainlab.data.files import as_inputs, class_ids, raw_dataset, read_npz
from trainlab.data.registry import holdout_mask, load_raw, split, split_indices
from trainlab.data.spec import Dataset, DataSpec, Kind
from trainlab.errors import ConfigError, DataError
from trainlab.provenance import is_import_path, load_object

Batch = tuple[torch.Tensor, torch.Tensor]  # inputs (B, *input_shape), labels (B,) int64
DataPath = Literal["resident", "memmap", "host", "dataset"]
PREFETCH = 3  # batches read ahead of the training step (a bounded queue)
__all__ = [
    "Streamed",
    "budget_bytes",
    "describe_stream",
    "is_dataset_class",
    "load_or_stream",
    "resident_bytes",
]


def free_bytes(device: torch.device) -> int:
    """Free memory of `device`: CUDA's own count, else the host's available memory."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():  # MemAvailable counts reclaimable page cache, unlike free pages
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def budget_bytes(setting: int | float | str, device: torch.device) -> int:
    """`data.device_budget` in bytes on `device` (a share is of its free memory now)."""
    form, amount = parse_budget(setting)
    return int(amount) if form == "bytes" else int(amount * free_bytes(device))


def resident_bytes(input_shape: tuple[int, ...], itemsize: int, sizes: dict[str, int]) -> int:
    """Bytes resident data take on the device: every split's inputs and int64 labels, plus the
    permuted copy of the training split that `fit` gathers each epoch."""
    rows = sum(sizes.values()) + sizes["train"]
    return rows * (itemsize * math.prod(input_shape) + 8)


class Source(Protocol):
    """One split on the host: `take` reads samples by position, `batches` an epoch of them."""

    def __len__(self) -> int: ...

    def take(self, positions: np.ndarray) -> Batch: ...

    def batches(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]: ...


class ArraySource:
    """Rows of a host array (memory-mapped or in memory) converted batch by batch exactly as the
    resident loader converts the whole array (uint8 -> float32 / 255, ...)."""

    def __init__(self, x: np.ndarray, rows: np.ndarray, y: np.ndarray, kind: Kind) -> None:
        self.x, self.rows, self.kind = x, rows.astype(np.int64), kind
        self.labels = torch.from_numpy(np.ascontiguousarray(y[self.rows], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> Batch:
        rows = self.rows[positions]
        order = np.argsort(rows, kind="stable")  # ascending file offsets: sequential reads
        block = np.empty((len(rows), *self.x.shape[1:]), dtype=self.x.dtype)
        block[order] = self.x[rows[order]]
        x = as_inputs(block, self.kind, "streamed batch")[0]
        return torch.from_numpy(np.ascontiguousarray(x)), self.labels[torch.from_numpy(positions)]

    def batches(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]:
        for i in range(0, len(order), batch_size):
            yield self.take(order[i : i + batch_size])


class _Order(Sampler[int]):
    """A sampler whose order is set before each epoch, so persistent workers serve every epoch."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class TorchSource:
    """Items of the user's torch Dataset through a DataLoader (`workers` processes); items are
    (input, class id), inputs converted as an .npz's would be."""

    def __init__(self, dataset: Any, rows: np.ndarray, kind: Kind, workers: int) -> None:
        self.dataset, self.rows, self.kind, self.workers = dataset, rows, kind, workers
        self.loaders: dict[int, tuple[DataLoader[Any], _Order]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> Batch:
        x, y = default_collate([self.dataset[int(r)] for r in self.rows[positions]])
        return _tensor_inputs(x, self.kind), torch.as_tensor(y, dtype=torch.int64)

    def batches(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]:
        # Not a generator: the DataLoader's workers start here, in the calling (main) thread.
        if batch_size not in self.loaders:
            sampler = _Order()
            loader = DataLoader(self.dataset, batch_size=batch_size, sampler=sampler,
                                num_workers=self.workers, persistent_workers=self.workers > 0)  # fmt: skip
            self.loaders[batch_size] = (loader, sampler)
        loader, sampler = self.loaders[batch_size]
        sampler.order = self.rows[order].tolist()
        kind = self.kind
        return ((_tensor_inputs(x, kind), torch.as_tensor(y, dtype=torch.int64)) for x, y in loader)


def _tensor_inputs(x: torch.Tensor, kind: Kind) -> torch.Tensor:
    if kind == "tokens":
        return x.long()
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def prefetched(
    batches: Iterator[Batch], device: torch.device, depth: int = PREFETCH
) -> Iterator[Batch]:
    """`batches` on `device`, read (and, for CUDA, pinned and copied) on a background thread up
    to `depth` batches ahead; an error there is raised here; stopping early stops the thread."""
    pin = device.type == "cuda"
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop, end = threading.Event(), object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x, y in batches:
                if pin:
                    x, y = x.pin_memory(), y.pin_memory()
                if not put((x.to(device, non_blocking=pin), y.to(device, non_blocking=pin))):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=work, name="trainlab-prefetch", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass
class Streamed:
    """Train/val/test that stay on the host; `batches` brings them to `device`. `path` is how
    (memmap, host, dataset), `nbytes` what they would take resident, `budget` the device budget."""

    spec: DataSpec
    train: Source
    val: Source
    test: Source
    device: torch.device
    path: DataPath
    nbytes: int
    budget: int

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def batches(
        self, split: str, batch_size: int, order: torch.Tensor | None = None
    ) -> Iterator[Batch]:
        """An epoch of `split` on the device: in `order` (positions in the split) or as stored."""
        source: Source = getattr(self, split)
        positions = np.arange(len(source)) if order is None else order.cpu().numpy()
        return prefetched(source.batches(positions, batch_size), self.device)

    def head(self, k: int) -> torch.Tensor:
        """The first `k` training inputs on the device (a model's dry forward)."""
        return self.train.take(np.arange(min(k, len(self.train))))[0].to(self.device)


def describe_stream(data: Streamed) -> str:
    """One line saying why and how `data` stream, e.g. for stderr."""
    if data.path == "dataset":
        return f"{data.spec.name}: a torch Dataset, streamed through a DataLoader"
    how = "memory-mapped from disk" if data.path == "memmap" else "from host memory"
    return (f"{data.spec.name}: {_size(data.nbytes)} resident, over the device budget of "
            f"{_size(data.budget)} (data.device_budget): streamed {how}")  # fmt: skip


def _size(n: int) -> str:
    unit = next((u for u, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if n >= f), "B")
    scale = {"GB": 1e9, "MB": 1e6, "kB": 1e3, "B": 1.0}[unit]
    return f"{n / scale:.3g} {unit}"


def load_or_stream(cfg: DataConfig, seed: int, device: torch.device) -> Dataset | Streamed:
    """`cfg`'s data resident on `device` when they fit `data.device_budget`, else streamed; a
    torch Dataset class always streams (its items are the user's code, read as needed)."""
    budget = budget_bytes(cfg.device_budget, device)
    if is_import_path(cfg.name) and is_dataset_class(cfg.name):
        return stream_dataset(cfg, seed, device, budget)
    if cfg.name == "npz":
        streamed = _stream_npz(cfg, seed, device, budget)
        if streamed is not None:
            return streamed
    raw = load_raw(cfg)
    sizes = _sizes(len(raw.y), len(raw.y_test), cfg.val_fraction)
    need = resident_bytes(raw.spec.input_shape, raw.x.itemsize, sizes)
    if need <= budget or raw.spec.task == "regression":  # regressions are tables: resident
        return split(raw, cfg.val_fraction, seed).to(device)
    _no_standardize(raw.standardize, cfg, need, budget)
    if raw.impute is not None:  # filled per run from its train split: resident data only
        raise DataError(
            f"data.options.missing={raw.impute}: not available for data streamed from the host "
            f"({need} bytes over data.device_budget={cfg.device_budget!r} = {budget} bytes); "
            "use missing=drop, or raise the budget"
        )
    train, val = split_indices(len(raw.y), cfg.val_fraction, seed, raw.spec.name)
    kind = raw.spec.kind
    return Streamed(raw.spec, ArraySource(raw.x, train, raw.y, kind),
                    ArraySource(raw.x, val, raw.y, kind),
                    ArraySource(raw.x_test, np.arange(len(raw.y_test)), raw.y_test, kind),
                    device, "host", need, budget)  # fmt: skip


def _sizes(pool: int, test: int, val_fraction: float) -> dict[str, int]:
    val = max(1, round(pool * val_fraction))
    return {"train": pool - val, "val": val, "test": test}


def _no_standardize(standardize: bool, cfg: DataConfig, need: int, budget: int) -> None:
    if standardize:
        raise DataError(
            f"data.options.standardize=true: not available for data streamed from the host "
            f"({need} bytes over data.device_budget={cfg.device_budget!r} = {budget} bytes); "
            "standardize the file, or raise the budget"
        )


def _stream_npz(cfg: DataConfig, seed: int, device: torch.device, budget: int) -> Streamed | None:
    """An .npz file or .npy folder too large for `budget`, streamed; None when it fits."""
    opts = cfg.options
    arrays, kind, where = read_npz(opts.get("path"), opts.get("kind"))
    x, y = arrays["x"], class_ids(np.asarray(arrays["y"]), where)
    if "x_test" in arrays:
        x_test, y_test = arrays["x_test"], class_ids(np.asarray(arrays["y_test"]), where)
        pool, test = np.arange(len(y)), np.arange(len(y_test))
    else:
        mask = holdout_mask(y, float(opts.get("test_fraction", 0.2)))
        x_test, y_test, pool, test = x, y, np.flatnonzero(~mask), np.flatnonzero(mask)
    first = as_inputs(x[:1], kind, where)[0]
    sizes = _sizes(len(pool), len(test), cfg.val_fraction)
    need = resident_bytes(first.shape[1:], first.itemsize, sizes)
    if need <= budget:
        return None
    _no_standardize(bool(opts.get("standardize", False)), cfg, need, budget)
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    parts = (first, y[pool], as_inputs(x_test[:1], kind, where)[0], y_test[test])
    spec = raw_dataset(Path(str(opts["path"])).stem, kind, parts, names).spec
    if kind == "tokens":  # the vocabulary spans every token, not the first sample's
        spec = replace(spec, vocab_size=int(max(x.max(initial=0), x_test.max(initial=0))) + 1)
    train, val = split_indices(len(pool), cfg.val_fraction, seed, spec.name)
    mapped = isinstance(x, np.memmap) and isinstance(x_test, np.memmap)
    return Streamed(spec, ArraySource(x, pool[train], y, kind), ArraySource(x, pool[val], y, kind),
                    ArraySource(x_test, test, y_test, kind), device,
                    "memmap" if mapped else "host", need, budget)  # fmt: skip


def is_dataset_class(name: str) -> bool:
    """Whether import path `name` is a torch Dataset class (else a function returning arrays)."""
    obj = load_object(name, "data.name")
    return isinstance(obj, type) and issubclass(obj, TorchDataset)


def dataset_options(cls: type) -> dict[str, Any]:
    """The keyword options of a Dataset class (its constructor's, but `train`, which we pass)."""
    params = inspect.signature(cls).parameters.values()
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in params
        if p.name != "train"
        and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }


def stream_dataset(cfg: DataConfig, seed: int, device: torch.device, budget: int) -> Streamed:
    """The user's Dataset class: `Cls(train=True, **options)` the pool (split by `seed`),
    `Cls(train=False, **options)` the test set; items (input tensor, class id); class names
    from its `classes` attribute (torchvision's convention)."""
    cls = load_object(cfg.name, "data.name")
    where = f"data.name={cfg.name!r}"
    if "train" not in inspect.signature(cls).parameters:
        raise ConfigError(
            f"{where}: a Dataset class must take `train` (True: the pool, False: the test set)"
        )
    try:
        pool, test = cls(train=True, **cfg.options), cls(train=False, **cfg.options)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    classes = getattr(pool, "classes", None)
    if not classes:
        raise DataError(
            f"{where}: the Dataset needs a `classes` attribute (the class names, in id order)"
        )
    if len(pool) < 2 or len(test) < 1:
        raise DataError(
            f"{where}: needs at least 2 training and 1 test item, got {len(pool)} and {len(test)}"
        )
    x0 = torch.as_tensor(pool[0][0])
    kinds: dict[int, Kind] = {1: "vector", 2: "signal", 3: "image"}
    kind: Kind = (
        "tokens"
        if not x0.is_floating_point() and x0.dtype != torch.uint8
        else kinds.get(x0.ndim, "vector")
    )
    if x0.ndim not in kinds:
        raise DataError(
            f"{where}: items' inputs of shape {tuple(x0.shape)}; use (D,), (C, L) or (C, H, W)"
        )
    vocab = getattr(pool, "vocab_size", None) if kind == "tokens" else None
    spec = DataSpec(
        cls.__name__,
        kind,
        tuple(x0.shape),
        len(classes),
        tuple(str(c) for c in classes),
        vocab_size=vocab,
    )
    train, val = split_indices(len(pool), cfg.val_fraction, seed, spec.name)
    itemsize = 8 if kind == "tokens" else 4
    need = resident_bytes(
        spec.input_shape, itemsize, {"train": len(train), "val": len(val), "test": len(test)}
    )
    w = cfg.workers
    return Streamed(spec, TorchSource(pool, train, kind, w), TorchSource(pool, val, kind, w),
                    TorchSource(test, np.arange(len(test)), kind, w), device, "dataset", need, budget)  # fmt: skip


def resident(data: Streamed) -> Dataset:
    """Streamed data read through once into device tensors (e.g. for an inspection)."""
    parts: list[torch.Tensor] = []
    for split_name in ("train", "val", "test"):
        xs, ys = zip(*data.batches(split_name, 1024), strict=True)
        parts += [torch.cat(xs), torch.cat(ys)]
    x_train, y_train, x_val, y_val, x_test, y_test = parts
    return Dataset(data.spec, x_train, y_train, x_val, y_val, x_test, y_test)
