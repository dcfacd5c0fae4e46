"""`shapes32`: a CIFAR-shaped synthetic image set (3×32×32, 10 classes) generated from a seed,
small enough that a convnet overfits it without augmentation.

A class is one of ten fixed, asymmetric 5×5 glyphs drawn at three times the size (15×15
pixels); each image places its glyph up to 4 pixels off the centre (uniform on each axis),
mirrored left-right with probability 1/2, brighter than a uniform background colour by 0.5 in
every channel, under Gaussian pixel noise. The label is invariant to position and mirroring,
which is what crop and flip teach a model that has seen only a few hundred examples.
"""

from __future__ import annotations

import numpy as np

from trainlab.data.builtin import number_in, positive_int
from trainlab.data.registry import Raw, register_dataset
from trainlab.data.spec import DataSpec

SIDE, GLYPH, SCALE = 32, 5, 3  # image side, glyph cells, pixels per cell
CLASSES = tuple(f"glyph {i}" for i in range(10))
GLYPH_SEED = 26  # the glyphs are the task: the same for every data seed
JITTER = 4  # pixels the glyph's corner moves from the centred place, each way and axis


def glyphs() -> np.ndarray:
    """(10, 15, 15) bool: the ten class glyphs at drawing size; none is its own mirror image
    nor another's."""
    rng = np.random.default_rng(GLYPH_SEED)
    found: list[np.ndarray] = []
    while len(found) < len(CLASSES):
        g = rng.random((GLYPH, GLYPH)) < 0.5
        seen = [*found, *(f[:, ::-1] for f in found)]
        if (g != g[:, ::-1]).sum() >= 6 and all((g != f).sum() >= 6 for f in seen):
            found.append(g)
    return np.stack(found).repeat(SCALE, 1).repeat(SCALE, 2)


def draw(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (n, 3, 32, 32) float32 in about 0..1 and their labels (n,) int64."""
    shapes = glyphs()
    size = shapes.shape[1]
    y = rng.integers(0, len(CLASSES), n)
    mirror = rng.random(n) < 0.5
    mask = np.where(mirror[:, None, None], shapes[y][:, :, ::-1], shapes[y])  # (n, 10, 10)
    lo, hi = (SIDE - size) // 2 - JITTER, (SIDE - size) // 2 + JITTER
    top, left = rng.integers(lo, hi + 1, (2, n))
    bg = rng.uniform(0.0, 0.5, (n, 3, 1, 1))
    fg = bg + 0.5  # brighter by half the range in every channel
    canvas = np.zeros((n, SIDE, SIDE), dtype=bool)
    rows = top[:, None, None] + np.arange(size)[None, :, None]
    cols = left[:, None, None] + np.arange(size)[None, None, :]
    canvas[np.arange(n)[:, None, None], rows, cols] = mask
    x = np.where(canvas[:, None], fg, bg) + rng.normal(0.0, noise, (n, 3, SIDE, SIDE))
    return x.astype(np.float32), y.astype(np.int64)


@register_dataset(
    "shapes32", "image", "CIFAR-shaped synthetic glyphs at random places and mirrorings (3×32×32)"
)
def shapes32(*, n: int = 200, n_test: int = 2000, noise: float = 0.1, seed: int = 0) -> Raw:
    """`n` training-pool images and `n_test` test images from `seed` (test drawn after the pool)."""
    n = positive_int("n", n, 20)
    n_test = positive_int("n_test", n_test, 10)
    noise = number_in("noise", noise, 10.0)
    seed = positive_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    x, y = draw(n, noise, rng)
    xs, ys = draw(n_test, noise, rng)
    spec = DataSpec("shapes32", "image", (3, SIDE, SIDE), len(CLASSES), CLASSES,
                    description="synthetic glyphs 32×32")  # fmt: skip
    return Raw(spec, x, y, xs, ys)
