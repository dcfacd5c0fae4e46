"""The user's own code and files that a config names: imported (`load_object`) and digested. A
model or data function is named by import path (`file.py:Name`, `pkg.mod:Name`); data files by
`data.options.path`. Torch-free.

The config hash covers these digests, so an edited model file or data file is a new config.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from trainlab.errors import ConfigError


def is_import_path(name: str) -> bool:
    """`file.py:Name` or `pkg.mod:Name` (a registered name has no colon; `user:` marks an
    instance passed in Python, which has no importable source)."""
    head, sep, tail = name.rpartition(":")
    return bool(sep and head and tail) and not name.startswith("user:")


def split_import_path(name: str) -> tuple[str, str]:
    """`"a/b.py:Net"` -> ("a/b.py", "Net"); the attribute may be dotted (`Outer.Inner`)."""
    head, _, attr = name.rpartition(":")
    return head, attr


def is_file_target(head: str) -> bool:
    return head.endswith(".py") or "/" in head or "\\" in head


def absolute(name: str, base: Path | None = None) -> str:
    """`name` with a relative file part made absolute against `base` (the YAML file's folder)
    when the file is there, else against the working directory. Module paths stay as they are."""
    if not is_import_path(name):
        return name
    head, attr = split_import_path(name)
    if not is_file_target(head):
        return name
    p = Path(head).expanduser()
    if not p.is_absolute():
        beside = (base / p) if base is not None else None
        p = beside if beside is not None and beside.is_file() else Path.cwd() / p
    return f"{p.resolve()}:{attr}"


def source_file(name: str, field: str) -> Path:
    """The file that defines import path `name` (a .py file, or the module's origin)."""
    head, _ = split_import_path(name)
    if is_file_target(head):
        p = Path(head)
        if not p.is_file():
            raise ConfigError(f"{field}={name!r}: file {head!r} does not exist")
        return p
    try:
        spec = importlib.util.find_spec(head)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{field}={name!r}: cannot import module {head!r} ({exc})") from None
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        raise ConfigError(f"{field}={name!r}: no module named {head!r}")
    return Path(spec.origin)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, sorted)."""
    st = path.stat()
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file())
        stamp = tuple(
            (str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files
        )
        return _dir_sha256(str(path.resolve()), stamp)
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and mtime so an unchanged file is read once per process; the digest itself
    # is of the content, so touching a file without changing it keeps its hash.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _dir_sha256(root: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for rel, size, mtime in stamp:
        h.update(rel.encode() + b"\0")
        h.update(_sha256(str(Path(root) / rel), size, mtime).encode())
    return h.hexdigest()


def code_digests(model_name: str, data_name: str, data_options: dict[str, Any]) -> dict[str, str]:
    """sha256 of each user source or data file the config names (empty for built-in ones).

    A missing file digests as "missing": building the model or loading the data reports it.
    """
    out: dict[str, str] = {}
    for key, name, field in (
        ("model_sha256", model_name, "model.name"),
        ("data_code_sha256", data_name, "data.name"),
    ):
        if is_import_path(name):
            try:
                out[key] = file_sha256(source_file(name, field))
            except (ConfigError, OSError):
                out[key] = "missing"
    path = data_options.get("path")
    if isinstance(path, str):
        try:
            out["data_sha256"] = file_sha256(Path(path).expanduser())
        except OSError:
            out["data_sha256"] = "missing"
    return out


def load_object(name: str, field: str = "model.name") -> Any:
    """The object `file.py:Attr` or `pkg.mod:Attr` names, or ConfigError in one line."""
    head, attr = split_import_path(name)
    if is_file_target(head):
        path = source_file(name, field)
        module = _import_file(str(path.resolve()), path.stat().st_mtime_ns, field, name)
    else:
        try:
            module = importlib.import_module(head)
        except ImportError as exc:
            raise ConfigError(f"{field}={name!r}: cannot import module {head!r} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = sorted(
                k for k, v in vars(module).items() if isinstance(v, type) and not k.startswith("_")
            )
            raise ConfigError(
                f"{field}={name!r}: {head} has no {attr!r}; it defines: {', '.join(found) or '(none)'}"
            )
        obj = getattr(obj, part)
    return obj


_IMPORTED: dict[tuple[str, int], Any] = {}


def _import_file(path: str, mtime_ns: int, field: str, name: str) -> Any:
    key = (path, mtime_ns)
    if key in _IMPORTED:
        return _IMPORTED[key]
    stem = Path(path).stem
    mod_name = f"trainlab_user_{abs(hash(key)) % 10**10}_{stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and pickling look classes up here
    folder = str(Path(path).parent)
    if folder not in sys.path:
        sys.path.append(folder)  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise ConfigError(
            f"{field}={name!r}: importing {path} failed: {type(exc).__name__}: {exc}"
        ) from None
    _IMPORTED[key] = module
    return module
