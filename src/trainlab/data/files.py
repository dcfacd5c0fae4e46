"""Loaders for the user's own files: .npz arrays, MNIST-style IDX folders, CIFAR-10 python batches
and image folders (one subfolder per class). Every missing or malformed file is a DataError that
names `data.options.path`, the file and what was expected.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from trainlab.data.registry import Raw, holdout, register_dataset
from trainlab.data.spec import DataSpec, Kind
from trainlab.errors import ConfigError, DataError

KINDS: tuple[Kind, ...] = ("image", "signal", "tokens", "vector")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def existing_path(path: object, want: str) -> Path:
    """`data.options.path` as a Path that exists (ConfigError if not given, DataError if absent)."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"data.options.path={path!r}: give the {want} to read")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data.options.path={path!r}: {p} does not exist")
    return p


def class_ids(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as int64 class ids; DataError naming `where` unless a 1-D array of ints >= 0."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise DataError(
            f"{where}: labels must be a 1-D array of class ids >= 0, got {y.dtype} {y.shape}"
        )
    return y.astype(np.int64)


def as_inputs(x: np.ndarray, kind: str | None, where: str) -> tuple[np.ndarray, Kind]:
    """Arrays to model inputs. (N, D) vector, (N, C, L) signal, (N, C, H, W) image; (N, H, W) is an
    image with one channel; integer (N, T) with kind=tokens stays int64. uint8 scales to 0..1."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"data.options.kind={kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "tokens":
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer) or (x.size and x.min() < 0):
            raise DataError(
                f"{where}: tokens must be a 2-D array of ids >= 0, got {x.dtype} {x.shape}"
            )
        return x.astype(np.int64), "tokens"
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{where}: inputs must be numbers, got {x.dtype}")
    scaled = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
    guess: dict[int, Kind] = {2: "vector", 3: "signal", 4: "image"}
    if x.ndim == 3 and kind == "image":
        return scaled[:, None], "image"
    if x.ndim not in guess or (kind is not None and guess[x.ndim] != kind):
        raise DataError(
            f"{where}: inputs of shape {x.shape} do not fit kind {kind or 'vector/signal/image'}; "
            "use (N, D), (N, C, L), (N, C, H, W), (N, H, W) with kind=image, or ints with kind=tokens"
        )
    return scaled, guess[x.ndim]


def raw_dataset(
    name: str, kind: Kind, parts: tuple[np.ndarray, ...], classes: list[str] | None = None
) -> Raw:
    """A registered dataset from (x, y, x_test, y_test): its spec (classes from the labels or
    `classes`, vocabulary for tokens) and the arrays."""
    x, y, xs, ys = parts
    k = int(max(y.max(initial=0), ys.max(initial=0))) + 1
    names = tuple(classes) if classes else tuple(str(i) for i in range(k))
    if len(names) < k:
        raise DataError(
            f"dataset {name!r}: labels go up to {k - 1} but only {len(names)} class names"
        )
    vocab = int(max(x.max(initial=0), xs.max(initial=0))) + 1 if kind == "tokens" else None
    spec = DataSpec(name, kind, tuple(x.shape[1:]), len(names), names, vocab_size=vocab)
    return Raw(spec, x, y, xs, ys)


@register_dataset(
    "npz", "any", "your .npz file (or folder of .npy files): x, y and optional x_test, y_test",
    builtin=False,
)  # fmt: skip
def npz(
    *,
    path: str | None = None,
    kind: str | None = None,
    test_fraction: float = 0.2,
    standardize: bool = False,
) -> Raw:
    """Arrays `x`, `y` (and `x_test`, `y_test`, else a fixed stratified `test_fraction` split);
    optional `class_names`. `kind` overrides the shape-based guess (see `as_inputs`).
    `standardize`: scale float features by the train split's mean and std."""
    arrays, k, where = read_npz(path, kind)
    x, y = as_inputs(arrays["x"], k, where)[0], class_ids(arrays["y"], where)
    if "x_test" in arrays:
        parts: tuple[np.ndarray, ...] = (
            x,
            y,
            as_inputs(arrays["x_test"], k, where)[0],
            class_ids(arrays["y_test"], where),
        )
    else:
        parts = holdout(x, y, float(test_fraction))
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    name = Path(str(path)).stem
    return replace(raw_dataset(name, k, parts, names), standardize=check_flag(standardize))


def read_npz(path: str | None, kind: str | None) -> tuple[dict[str, np.ndarray], Kind, str]:
    """The checked arrays of an .npz file or a folder of .npy files (memory-mapped, see
    `open_arrays`), the kind of their inputs and the `data.options.path=...` to name in errors."""
    p = existing_path(path, ".npz file or folder of .npy files")
    where = f"data.options.path={path!r}"
    if not p.is_dir():
        with p.open("rb") as head:
            if head.read(4) != b"PK\x03\x04":  # an .npz is a zip archive; numpy's advice about
                # pickles would send the user the wrong way
                hint = (
                    "; for a CSV file use data.name=csv"
                    if p.suffix.lower() in (".csv", ".tsv", ".txt")
                    else ""
                )
                raise DataError(f"{where}: not an .npz file (numpy.savez writes one){hint}")
    try:
        arrays = open_arrays(p)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{where}: not a readable .npz file ({exc})") from None
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DataError(
            f"{where}: the file has no array {sorted(missing)[0]!r} (has {sorted(arrays)})"
        )
    if len(arrays["x"]) != len(arrays["y"]):
        raise DataError(f"{where}: x has {len(arrays['x'])} samples but y has {len(arrays['y'])}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{where}: give both x_test and y_test, or neither")
    return arrays, as_inputs(arrays["x"][:1], kind, where)[1], where


def open_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file or a folder of .npy files, memory-mapped where their bytes lie
    uncompressed on disk (.npy files, `numpy.savez` members); `numpy.savez_compressed` members
    cannot be mapped and are read into memory."""
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        return {f.stem: np.load(f, mmap_mode="r", allow_pickle=False) for f in files}
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as z, np.load(path, allow_pickle=False) as f:
        for info in z.infolist():
            key = info.filename.removesuffix(".npy")
            mapped = (
                _mapped_member(path, info) if info.compress_type == zipfile.ZIP_STORED else None
            )
            out[key] = f[key] if mapped is None else mapped
    return out


def _mapped_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """A stored (uncompressed) .npz member as a read-only memmap; None when it cannot be one."""
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)  # the zip local file header: names and extras sized at bytes 26..30
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else (np.lib.format.read_array_header_2_0)
        )
        shape, fortran, dtype = read(fh)
        offset = fh.tell()
    if dtype.hasobject or not shape or 0 in shape:
        return None
    order: Literal["C", "F"] = "F" if fortran else "C"
    return np.memmap(str(path), dtype=dtype, mode="r", shape=shape, offset=offset, order=order)


def check_flag(value: object, option: str = "standardize") -> bool:
    """A data option that must be true or false."""
    if not isinstance(value, bool):
        raise ConfigError(f"data.options.{option}={value!r}: must be true or false")
    return value


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format: magic with dtype code and rank, big-endian sizes, data)."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    codes: dict[int, Any] = {
        0x08: np.uint8,
        0x09: np.int8,
        0x0B: ">i2",
        0x0C: ">i4",
        0x0D: ">f4",
        0x0E: ">f8",
    }
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in codes:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    rank = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    arr = np.frombuffer(data, dtype=codes[data[2]], offset=4 + 4 * rank)
    if arr.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but the file holds {arr.size} values")
    return arr.reshape(dims)


def _find(folder: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"data.options.path={str(folder)!r}: no {stems[0]}[.gz] in the folder")


@register_dataset(
    "idx", "image", "your MNIST / Fashion-MNIST IDX folder (train-*, t10k-*)", builtin=False
)
def idx(*, path: str | None = None, class_names: str | None = None) -> Raw:
    """The four files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte (each optionally .gz). `class_names`: comma-separated, optional."""
    folder = existing_path(path, "IDX folder")
    parts = []
    for split in ("train", "t10k"):
        images = _read_idx(
            _find(folder, (f"{split}-images-idx3-ubyte", f"{split}-images.idx3-ubyte"))
        )
        labels = _read_idx(
            _find(folder, (f"{split}-labels-idx1-ubyte", f"{split}-labels.idx1-ubyte"))
        )
        if images.ndim != 3 or len(images) != len(labels):
            raise DataError(
                f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match"
            )
        parts += [as_inputs(images, "image", str(folder))[0], class_ids(labels, str(folder))]
    names = class_names.split(",") if class_names else None
    return raw_dataset(folder.name, "image", tuple(parts), names)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles CIFAR batches (dicts of lists and NumPy arrays) and refuses anything else, so a
    hostile file cannot run code."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"refusing to unpickle {module}.{name}: a CIFAR batch holds only arrays"
            )
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnly(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: not a CIFAR python batch ({exc})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not a CIFAR python batch (no dict inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


@register_dataset(
    "cifar10",
    "image",
    "your CIFAR-10 python-batches folder (data_batch_*, test_batch)",
    builtin=False,
)
def cifar10(*, path: str | None = None, batches: int = 5) -> Raw:
    """`data_batch_1..batches` as the pool, `test_batch` as test, names from `batches.meta`.
    Images (N, 3, 32, 32) in 0..1."""
    folder = existing_path(path, "CIFAR-10 folder (cifar-10-batches-py)")

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        p = folder / name
        if not p.is_file():
            raise DataError(f"data.options.path={path!r}: no file {name} in {folder}")
        d = _unpickle(p)
        if "data" not in d or "labels" not in d:
            raise DataError(f"{p}: a CIFAR batch needs 'data' and 'labels'")
        x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return x, np.asarray(d["labels"], dtype=np.int64)

    pool = [read(f"data_batch_{i}") for i in range(1, int(batches) + 1)]
    x, y = np.concatenate([p[0] for p in pool]), np.concatenate([p[1] for p in pool])
    xs, ys = read("test_batch")
    names = None
    if (folder / "batches.meta").is_file():
        meta = _unpickle(folder / "batches.meta")
        names = [
            n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])
        ]
    parts = (x.astype(np.float32) / 255, y, xs.astype(np.float32) / 255, ys)
    return raw_dataset("cifar10", "image", parts, names or None)


@register_dataset(
    "imagefolder", "image", "your image folder: one subfolder per class (Pillow)", builtin=False
)
def imagefolder(
    *, path: str | None = None, size: int = 32, grayscale: bool = False, test_fraction: float = 0.2
) -> Raw:
    """Every image under `path/<class>/` resized to `size`×`size` (RGB, or one channel with
    `grayscale`). With `path/train/<class>` and `path/test/<class>` those are the splits; otherwise a
    fixed stratified `test_fraction` is held out."""
    from PIL import Image, UnidentifiedImageError

    root = existing_path(path, "image folder")
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ConfigError(f"data.options.size={size!r}: must be an integer >= 4 (pixels)")
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split_dirs else root
    classes = sorted(d.name for d in train_root.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"data.options.path={path!r}: no class subfolders in {train_root}")

    def read(folder: Path) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for label, cls in enumerate(classes):
            files = sorted(
                f for f in (folder / cls).glob("*") if f.suffix.lower() in IMAGE_SUFFIXES
            )
            for f in files:
                try:
                    with Image.open(f) as opened:
                        im = opened.convert("L" if grayscale else "RGB").resize((size, size))
                        xs.append(np.asarray(im, dtype=np.uint8))
                except (OSError, UnidentifiedImageError):
                    raise DataError(f"{f}: not an image Pillow can read") from None
                ys.append(label)
        if not xs:
            raise DataError(
                f"data.options.path={path!r}: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}"
            )
        x = np.stack(xs).astype(np.float32) / 255  # (N, H, W) or (N, H, W, 3)
        x = x[:, None] if grayscale else x.transpose(0, 3, 1, 2)
        return x, np.asarray(ys, dtype=np.int64)

    if split_dirs:
        parts: tuple[np.ndarray, ...] = (*read(root / "train"), *read(root / "test"))
    else:
        parts = holdout(*read(root), share=float(test_fraction))
    return raw_dataset(root.name, "image", parts, classes)
