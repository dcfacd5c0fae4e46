"""Augmentation of training batches on the device, as `data.augment` says: random crop with
padding, horizontal flip, cutout, then mixup or cutmix (soft targets for the loss).

Batched tensor ops on (k, B, C, H, W): a lone run is k = 1, a stack has one member per seed. Each
member draws from its own generators, seeded from its run's seed, so member j of a stack sees
exactly the batches of its lone run, and augmentation never touches the batch order or dropout
streams. Draws are made on the CPU (the same numbers on every device) in one call per member and
batch, then moved to the batch's device; no per-sample Python, no host sync.

Why not kornia's RandomCrop: in its exact `slice` mode it crops sample by sample in Python after
reading the boxes back to the host; its batched `resample` mode interpolates (an integer shift
came back 2.4e-7 off on a 6×6 test image). Its augmentations also draw from torch's global
generator, which dropout shares. Flip and cutout are one `torch.where` each here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from trainlab.config import AugmentConfig, RunConfig
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError

STREAM = 1 << 32  # offset of the augmentation streams from the run seed (seeds are < 2**31)
# Uniforms drawn per image: crop dy, crop dx, flip, cutout on/off, cutout centre y, x.
DRAWS = 6


def check_augment(cfg: RunConfig, spec: DataSpec) -> None:
    """A one-line ConfigError when `data.augment` cannot apply to this data (before any run)."""
    aug = cfg.data.augment
    if not aug.active:
        return
    if spec.kind != "image":
        raise ConfigError(
            f"data.augment: augmentation needs image data; dataset {spec.name!r} is {spec.kind} "
            "data (leave data.augment out)"
        )
    if aug.mix != "none" and spec.task != "classification":
        raise ConfigError(
            f"data.augment.mix={aug.mix!r}: mixes class labels; dataset {spec.name!r} is a "
            f"{spec.task} task (use data.augment.mix=none)"
        )
    _, height, width = spec.input_shape
    if aug.crop and aug.pad == "reflect" and aug.crop >= min(height, width):
        raise ConfigError(
            f"data.augment.crop={aug.crop}: reflect padding must be smaller than the image side "
            f"{min(height, width)}; choose 1..{min(height, width) - 1} or data.augment.pad=zeros"
        )


def augmenter(cfgs: list[RunConfig], spec: DataSpec) -> Augment | None:
    """The augmentation of a run (one config) or a stack (its members' configs, one augment
    setting), or None when `data.augment` is off."""
    check_augment(cfgs[0], spec)
    aug = cfgs[0].data.augment
    return Augment(aug, [c.seed for c in cfgs], spec.num_classes) if aug.active else None


class Augment:
    """The augmentation of one run (k = 1) or one stack (k members), called once per batch."""

    def __init__(self, aug: AugmentConfig, seeds: list[int], num_classes: int) -> None:
        self.aug, self.num_classes = aug, num_classes
        self.gens = [torch.Generator().manual_seed(s + STREAM) for s in seeds]
        # Beta(alpha, alpha) has no torch sampler that takes a generator: NumPy's, one per member.
        self.rngs = [np.random.default_rng([s, 1]) for s in seeds]
        self.per_image = bool(aug.crop or aug.flip or aug.cutout)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W), (B,) or (k, B, C, H, W), (k, B) -> augmented inputs of the same shape and
        the targets: the labels as they were, or (..., classes) probabilities under mixup/cutmix."""
        lone = x.ndim == 4  # images: (B, C, H, W) alone, (k, B, C, H, W) stacked
        xs, ys = (x[None], y[None]) if lone else (x, y)
        b = xs.shape[1]
        if self.per_image:
            u = torch.stack([torch.rand(b, DRAWS, generator=g) for g in self.gens])
            xs = self._per_image(xs.flatten(0, 1), u.flatten(0, 1).to(x.device)).view(xs.shape)
        target: torch.Tensor = ys
        if self.aug.mix != "none":
            xs, target = self._mix(xs, ys)
        return (xs[0], target[0]) if lone else (xs, target)

    def state(self) -> list[object]:
        """The generators' states, for a resume checkpoint."""
        return [[g.get_state() for g in self.gens], [r.bit_generator.state for r in self.rngs]]

    def set_state(self, state: list[object]) -> None:
        gens, rngs = state
        assert isinstance(gens, list) and isinstance(rngs, list)
        for g, s in zip(self.gens, gens, strict=True):
            g.set_state(s)
        for r, s in zip(self.rngs, rngs, strict=True):
            r.bit_generator.state = s

    def _per_image(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Crop, flip and cutout of (N, C, H, W) images with their (N, DRAWS) uniforms."""
        aug, (n, _, h, w) = self.aug, x.shape
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        if aug.crop:
            p = aug.crop
            mode = "reflect" if aug.pad == "reflect" else "constant"
            padded = F.pad(x, (p, p, p, p), mode=mode)  # (N, C, H + 2p, W + 2p)
            dy = (u[:, 0] * (2 * p + 1)).long().clamp(max=2 * p)  # offsets 0..2p, uniform
            dx = (u[:, 1] * (2 * p + 1)).long().clamp(max=2 * p)
            r = (dy[:, None] + rows)[:, None, :, None]  # (N, 1, H, 1)
            c = (dx[:, None] + cols)[:, None, None, :]  # (N, 1, 1, W)
            x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                       torch.arange(x.shape[1], device=x.device)[None, :, None, None], r, c]  # fmt: skip
        if aug.flip:
            x = torch.where((u[:, 2] < 0.5)[:, None, None, None], x.flip(-1), x)
        if aug.cutout:
            # DeVries & Taylor 2017: a square of side cutout_size × side, centred anywhere in the
            # image (so it may hang over an edge), zeroed.
            half_h, half_w = aug.cutout_size * h / 2, aug.cutout_size * w / 2
            cy, cx = u[:, 4] * h, u[:, 5] * w
            inside_r = (rows[None] + 0.5 - cy[:, None]).abs() < half_h  # (N, H)
            inside_c = (cols[None] + 0.5 - cx[:, None]).abs() < half_w  # (N, W)
            hole = (
                inside_r[:, :, None] & inside_c[:, None, :] & (u[:, 3] < aug.cutout)[:, None, None]
            )
            x = x.masked_fill(hole[:, None], 0.0)
        return x

    def _mix(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup (Zhang et al. 2018) or cutmix (Yun et al. 2019) of each member's batch with a
        permutation of itself: (k, B, C, H, W), (k, B) -> mixed inputs, (k, B, classes) targets,
        λ × own label + (1 − λ) × partner's. One λ and one box per member and batch."""
        k, b, _, h, w = x.shape
        lam = [float(r.beta(self.aug.alpha, self.aug.alpha)) for r in self.rngs]
        perm = torch.stack([torch.randperm(b, generator=g) for g in self.gens]).to(x.device)
        rows = torch.arange(k, device=x.device)[:, None]
        partner, y_partner = x[rows, perm], y[rows, perm]
        if self.aug.mix == "mixup":
            share = torch.tensor(lam, device=x.device)  # (k,)
            mixed = torch.lerp(partner, x, share.view(k, 1, 1, 1, 1).to(x.dtype))
        else:
            box = torch.zeros(k, h, w, dtype=torch.bool)
            kept = []
            for j, (lj, g) in enumerate(zip(lam, self.gens, strict=True)):
                # A box of area (1 − λ)·H·W at a uniform centre, clipped to the image; λ becomes
                # the share of the image left as the member's own.
                side = np.sqrt(1.0 - lj)
                cy, cx = (torch.rand(2, generator=g) * torch.tensor([h, w])).tolist()
                y0, y1 = (
                    int(np.clip(cy - side * h / 2, 0, h)),
                    int(np.clip(cy + side * h / 2, 0, h)),
                )
                x0, x1 = (
                    int(np.clip(cx - side * w / 2, 0, w)),
                    int(np.clip(cx + side * w / 2, 0, w)),
                )
                box[j, y0:y1, x0:x1] = True
                kept.append(1.0 - (y1 - y0) * (x1 - x0) / (h * w))
            share = torch.tensor(kept, device=x.device)
            mixed = torch.where(box.to(x.device)[:, None, None], partner, x)  # (k, 1, 1, H, W)
        own = F.one_hot(y, self.num_classes).float()
        other = F.one_hot(y_partner, self.num_classes).float()
        target = torch.lerp(other, own, share.view(k, 1, 1))  # rows sum to 1
        return mixed, target
