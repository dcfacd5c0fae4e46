"""The seeds of one config trained as one model: parameters stacked along a leading member axis
(`stacking.stack_modules`), one forward/backward per batch for all k members, one optimizer step
on the stacked tensors — through the same `step.Step` as `fit`, so precision, compile, penalties,
clipping and schedules are the loop's own. Per-operator overhead, the cost of a small model, is
paid once for k runs.

Each member is built by `prepare` under its own seed exactly as its lone run, reads its own split,
its own seeded batch order and its own augmentation draws (train/augment.py), and keeps its own
optimizer state (Adam, SGD, ... are elementwise, so a stacked step is k independent steps). Gradient clipping is per member; L1/L2 penalties are
summed over members, so each member's gradient sees its own. Dropout masks are drawn for all
members at once from one generator: with dropout a member matches its lone twin in distribution
only. A member whose train loss turns non-finite is `diverged`, its slice zeroed and masked out
of the loss; the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.data.stream import Streamed
from trainlab.errors import one_line
from trainlab.train.augment import augmenter
from trainlab.train.callbacks import Callback, History
from trainlab.train.feed import views
from trainlab.train.metrics import scores
from trainlab.train.seed import set_deterministic
from trainlab.train.stacking import Unsupported, stack_modules
from trainlab.train.step import Step, epoch_row, train_epoch

Tensors = dict[str, torch.Tensor]


class Members(nn.Module):
    """The stacked module on member-major batches: (k, B, ...) -> (k, B, classes), member j's
    model on its own x[j]."""

    def __init__(self, stacked: nn.Module, k: int) -> None:
        super().__init__()
        self.stacked, self.k = stacked, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[1]
        return self.stacked(x.reshape(self.k * b, *x.shape[2:])).view(self.k, b, -1)


class Stack:
    """k models of one architecture as one stacked module, with their k datasets stacked alike."""

    def __init__(self, members: Sequence[tuple[RunConfig, nn.Module, Dataset | Streamed]]) -> None:
        self.cfgs = [c for c, _, _ in members]
        self.models = [m for _, m, _ in members]
        if any(isinstance(d, Streamed) for _, _, d in members):
            raise Unsupported("the data stream from the host (over data.device_budget)")
        self.data = [d for _, _, d in members if isinstance(d, Dataset)]
        shapes = {(d.x_train.shape, d.x_val.shape) for d in self.data}
        if len(shapes) > 1:
            raise Unsupported("the seeds' train/val splits differ in size")
        self.k = len(members)
        self.model = stack_modules(self.models)
        self.net = Members(self.model, self.k)
        self.params: dict[str, nn.Parameter] = dict(self.model.named_parameters())
        self.buffers: Tensors = dict(self.model.named_buffers())
        self.penalized = [n for n, p in self.models[0].named_parameters() if p.ndim > 1]
        self.x_train = torch.stack([d.x_train for d in self.data])  # (k, n, *input_shape)
        self.y_train = torch.stack([d.y_train for d in self.data])  # (k, n)
        self.x_val = torch.stack([d.x_val for d in self.data])
        self.y_val = torch.stack([d.y_val for d in self.data])
        self.smoothing = self.cfgs[0].regularize.label_smoothing
        self.mask = torch.ones(self.k, device=self.x_train.device)  # 0: a diverged member
        try:  # a dry forward (eval mode, no gradient: nothing changes) before anything is stored
            self.evaluate(self.x_val[:, :2], self.y_val[:, :2], 2)
        except Exception as exc:
            raise Unsupported(f"the stacked model cannot run ({one_line(exc)})") from None

    def losses(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per member mean training loss (k,), and their sum over members still training."""
        k, b, c = logits.shape
        target = y.reshape(k * b, *y.shape[2:])  # class ids, or probabilities under mixup
        per = F.cross_entropy(logits.reshape(k * b, c), target, reduction="none",
                              label_smoothing=self.smoothing).view(k, b).mean(1)  # fmt: skip
        return per, (per * self.mask).sum()

    def fit(
        self,
        on_epoch: Callable[[int, dict[str, float]], None],
        callbacks: Sequence[Callback] = (),
    ) -> list[History]:
        """Train all members as `fit` trains one; `on_epoch(member, metrics)` after each epoch;
        `callbacks`' `on_step` sees the stacked module and the (k,) losses."""
        cfg, t, k = self.cfgs[0], self.cfgs[0].train, self.k
        set_deterministic(t.deterministic)
        device = self.x_train.device
        n = self.x_train.shape[1]
        penalized = [self.params[name] for name in self.penalized]
        step = Step(self.net, cfg, math.ceil(n / t.batch_size), self.losses, penalized,
                    clip_per_member, augment=augmenter(self.cfgs, self.data[0].spec))  # fmt: skip
        gens = [torch.Generator().manual_seed(c.seed) for c in self.cfgs]  # each lone run's order
        torch.manual_seed(cfg.seed)  # dropout masks of the group
        hists = [History() for _ in range(k)]
        rows = torch.arange(k, device=device)[:, None]
        for epoch in range(1, t.epochs + 1):
            self.model.train()
            t0 = time.perf_counter()
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
            xs, ys = self.x_train[rows, perm], self.y_train[rows, perm]  # (k, n, ...) (k, n)
            loss_sum, correct = train_epoch(step, views(xs, ys, t.batch_size, axis=1), callbacks)
            train_loss = (loss_sum / n).tolist()
            train_acc = (correct.double() / n).tolist()
            train_seconds = time.perf_counter() - t0
            active = self.mask.tolist()
            for j in range(k):
                if active[j] and not math.isfinite(train_loss[j]):
                    hists[j].status = "diverged"
                    hists[j].reason = f"non-finite train loss at epoch {epoch}"
                    active[j] = 0.0
                    self._zero(j, step.opt)
            if not any(active):
                break
            val_loss, val_acc, more = self.evaluate(self.x_val, self.y_val, t.eval_batch_size)
            lr = step.end_epoch(0.0)  # never the plateau schedule: see execute/groups.why_alone
            share = sum(active)  # the epoch's wall time is shared by the members still training
            seconds = (time.perf_counter() - t0) / share
            for j in [j for j in range(k) if active[j]]:
                metrics = epoch_row(epoch, step.count, (train_loss[j], train_acc[j]),
                                    (val_loss[j], val_acc[j]), lr, seconds, train_seconds / share,
                                    more[j])  # fmt: skip
                hists[j].epochs.append(metrics)
                on_epoch(j, metrics)
        return hists

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, bs: int
    ) -> tuple[list[float], list[float], list[dict[str, float]]]:
        """Per member mean cross-entropy, accuracy and the config's `train.metrics` on
        (k, N, ...) inputs in eval mode (fp32, as `metrics.evaluate`)."""
        self.model.eval()
        parts = [self.net(x[:, i : i + bs]) for i in range(0, x.shape[1], bs)]
        self.model.train()
        logits = torch.cat(parts, dim=1)  # (k, N, classes)
        loss = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").mean(1)
        acc = (logits.argmax(-1) == y).float().mean(1)  # float32, as `evaluate`
        names, spec = self.cfgs[0].train.metrics, self.data[0].spec
        more = [scores(names, logits[j], y[j], spec) if names else {} for j in range(self.k)]
        return loss.tolist(), acc.tolist(), more

    def _zero(self, j: int, opt: torch.optim.Optimizer) -> None:
        """Mask a diverged member out: zero its slice and its optimizer state (finite from now)."""
        self.mask[j] = 0
        with torch.no_grad():
            for p in self.params.values():
                p[j] = 0
                for state in opt.state.get(p, {}).values():
                    if torch.is_tensor(state) and state.ndim and state.shape[0] == self.k:
                        state[j] = 0

    def member(self, j: int) -> nn.Module:
        """Member j as a plain module (its own object from `prepare`, now holding its weights)."""
        model = self.models[j]
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.params[name][j])
            for name, b in model.named_buffers():
                b.copy_(self.buffers[name][j])
        return model


def clip_per_member(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """`clip_grad_norm_` for each member on its own: scale by max_norm / (its global norm + 1e-6)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    k = grads[0].shape[0]
    norms = torch.stack([g.reshape(k, -1).norm(2, dim=1) for g in grads]).norm(2, dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)  # (k,)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.ndim - 1)))
