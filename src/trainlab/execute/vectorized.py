"""The seeds of one config trained as one model: parameters stacked along a leading member axis
(`stacked.stack_modules`), one forward/backward per batch for all k members, one optimizer step
on the stacked tensors. Per-operator overhead — the cost of a small model — is paid once for k
runs.

Each member is built by `prepare` under its own seed exactly as its lone run, reads its own split
and its own seeded batch order, and keeps its own optimizer state (Adam, SGD, ... are elementwise,
so a stacked step is k independent steps). Gradient clipping is per member; L1/L2 penalties are
summed over members, so each member's gradient sees its own. Dropout masks are drawn for all
members at once from one generator: with dropout a member matches its lone twin in distribution
only. A member whose train loss turns non-finite is stored `diverged`, its slice zeroed and
masked out of the loss; the others go on. Each member is stored as its own run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.errors import one_line
from trainlab.execute.jobs import Job
from trainlab.execute.reliability import save_reliability
from trainlab.execute.stacked import Unsupported, stack_modules
from trainlab.execute.unit import Answer
from trainlab.track.env import capture_env
from trainlab.track.store import Store
from trainlab.train.loop import MODEL_FILE, History, summarize
from trainlab.train.optim import build_optimizer, build_schedule
from trainlab.train.regularize import penalty

Tensors = dict[str, torch.Tensor]


class Stack:
    """k models of one architecture as one stacked module, with their k datasets stacked alike."""

    def __init__(self, members: Sequence[tuple[RunConfig, nn.Module, Dataset]]) -> None:
        self.cfgs = [c for c, _, _ in members]
        self.models = [m for _, m, _ in members]
        self.data = [d for _, _, d in members]
        shapes = {(d.x_train.shape, d.x_val.shape) for d in self.data}
        if len(shapes) > 1:
            raise Unsupported("the seeds' train/val splits differ in size")
        self.k = len(members)
        self.model = stack_modules(self.models)
        self.params: Tensors = dict(self.model.named_parameters())
        self.buffers: Tensors = dict(self.model.named_buffers())
        self.penalized = [n for n, p in self.models[0].named_parameters() if p.ndim > 1]
        self.x_train = torch.stack([d.x_train for d in self.data])  # (k, n, *input_shape)
        self.y_train = torch.stack([d.y_train for d in self.data])  # (k, n)
        self.x_val = torch.stack([d.x_val for d in self.data])
        self.y_val = torch.stack([d.y_val for d in self.data])
        self.smoothing = self.cfgs[0].regularize.label_smoothing
        try:  # a dry forward (eval mode, no gradient: nothing changes) before anything is stored
            self.evaluate(self.x_val[:, :2], self.y_val[:, :2], 2)
        except Exception as exc:
            raise Unsupported(f"the stacked model cannot run ({one_line(exc)})") from None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(k, B, ...) inputs -> (k, B, classes): member j's model on its own x[j]."""
        k, b = x.shape[:2]
        out = self.model(x.reshape(k * b, *x.shape[2:]))
        return out.view(k, b, -1)

    def step_losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per member mean training loss (k,) and the logits (k, B, classes)."""
        logits = self.logits(x)
        k, b, c = logits.shape
        per = F.cross_entropy(logits.reshape(k * b, c), y.reshape(-1), reduction="none",
                              label_smoothing=self.smoothing)  # fmt: skip
        return per.view(k, b).mean(1), logits

    def fit(self, on_epoch: Callable[[int, dict[str, float]], None]) -> list[History]:
        """Train all members as `fit` trains one; `on_epoch(member, metrics)` after each epoch."""
        cfg, t, k = self.cfgs[0], self.cfgs[0].train, self.k
        device = self.x_train.device
        n = self.x_train.shape[1]
        opt = build_optimizer(self.params.values(), cfg.optim)  # type: ignore[arg-type]
        sched = build_schedule(opt, cfg.schedule, t.epochs, math.ceil(n / t.batch_size))
        gens = [torch.Generator().manual_seed(c.seed) for c in self.cfgs]  # each lone run's order
        torch.manual_seed(cfg.seed)  # dropout masks of the group
        hists = [History() for _ in range(k)]
        active = [True] * k
        rows = torch.arange(k, device=device)[:, None]
        penalized = [self.params[name] for name in self.penalized]
        step = 0
        for epoch in range(1, t.epochs + 1):
            self.model.train()
            t0 = time.perf_counter()
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
            xs, ys = self.x_train[rows, perm], self.y_train[rows, perm]  # (k, n, ...) (k, n)
            mask = torch.tensor(active, device=device, dtype=self.x_train.dtype)
            loss_sum = torch.zeros(k, device=device)
            correct = torch.zeros(k, device=device, dtype=torch.long)
            for i in range(0, n, t.batch_size):
                xb, yb = xs[:, i : i + t.batch_size], ys[:, i : i + t.batch_size]
                losses, logits = self.step_losses(xb, yb)
                extra = penalty(penalized, cfg.regularize)  # type: ignore[arg-type]
                opt.zero_grad(set_to_none=True)
                total = (losses * mask).sum()
                (total if extra is None else total + extra).backward()
                if cfg.regularize.grad_clip is not None:
                    clip_per_member(list(self.params.values()), cfg.regularize.grad_clip)
                opt.step()
                sched.step_batch()
                step += 1
                loss_sum += losses.detach() * yb.shape[1]
                correct += (logits.detach().argmax(-1) == yb).sum(1)
            train_loss = (loss_sum / n).tolist()
            train_acc = (correct.double() / n).tolist()
            train_seconds = time.perf_counter() - t0
            for j in range(k):
                if active[j] and not math.isfinite(train_loss[j]):
                    hists[j].status = "diverged"
                    hists[j].reason = f"non-finite train loss at epoch {epoch}"
                    active[j] = False
                    self._zero(j, opt)
            if not any(active):
                break
            val_loss, val_acc = self.evaluate(self.x_val, self.y_val, t.eval_batch_size)
            lr = opt.param_groups[0]["lr"]
            sched.step_epoch(0.0)  # never the plateau schedule: see groups.why_alone
            share = sum(active)  # the epoch's wall time is shared by the members still training
            seconds = (time.perf_counter() - t0) / share
            for j in [j for j in range(k) if active[j]]:
                metrics = {"epoch": epoch, "step": step, "train_loss": train_loss[j],
                           "train_acc": train_acc[j], "val_loss": val_loss[j],
                           "val_acc": val_acc[j], "lr": lr, "seconds": seconds,
                           "train_seconds": train_seconds / share}  # fmt: skip
                hists[j].epochs.append(metrics)
                on_epoch(j, metrics)
        return hists

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, bs: int
    ) -> tuple[list[float], list[float]]:
        """Per member mean cross-entropy and accuracy on (k, N, ...) inputs in eval mode."""
        self.model.eval()
        parts = [self.logits(x[:, i : i + bs]) for i in range(0, x.shape[1], bs)]
        self.model.train()
        logits = torch.cat(parts, dim=1)  # (k, N, classes)
        loss = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").mean(1)
        acc = (logits.argmax(-1) == y).float().mean(1)  # float32, as `evaluate`
        return loss.tolist(), acc.tolist()

    def _zero(self, j: int, opt: torch.optim.Optimizer) -> None:
        """Mask a diverged member out: zero its slice and its optimizer state (finite from now)."""
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


def clip_per_member(params: list[torch.Tensor], max_norm: float) -> None:
    """`clip_grad_norm_` for each member on its own: scale by max_norm / (its global norm + 1e-6)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    k = grads[0].shape[0]
    norms = torch.stack([g.reshape(k, -1).norm(2, dim=1) for g in grads]).norm(2, dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)  # (k,)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.ndim - 1)))


def train_group(store: Store, study_id: str, jobs: Sequence[Job]) -> list[Answer]:
    """Train `jobs` (seeds of one config) as one vectorized model; each stored as its own run."""
    from trainlab.train.experiment import _sigterm_as_interrupt, prepare

    try:
        members = [prepare(j.config) for j in jobs]
    except Exception as exc:
        raise Unsupported(f"a seed failed to prepare ({one_line(exc)})") from None
    stack = Stack(members)
    env = {**capture_env(), "vectorized": len(jobs)}
    records = [store.create_run(j.config, env) for j in jobs]
    for rec, job in zip(records, jobs, strict=True):
        (rec.dir / "config.yaml").write_text(
            yaml.safe_dump(job.config.model_dump(mode="json"), sort_keys=False)
        )
    note = f"vectorized: {len(jobs)} seeds as one model"
    try:
        with _sigterm_as_interrupt():
            hists = stack.fit(lambda j, m: store.log_epoch(records[j].id, int(m["epoch"]), m))
    except KeyboardInterrupt:
        for rec, job in zip(records, jobs, strict=True):
            store.finish_run(rec.id, "interrupted", {}, "interrupted by the user or a signal")
            store.link(study_id, rec.id, job.variant, role=job.role)
        raise
    except Exception as exc:  # a failed group never stops the study; its runs are `failed`
        error = one_line(exc)
        for rec, job in zip(records, jobs, strict=True):
            store.finish_run(rec.id, "failed", {}, error)
            store.link(study_id, rec.id, job.variant, role=job.role)
        return [{"run_id": r.id, "status": "failed", "error": error, "note": note} for r in records]
    answers: list[Answer] = []
    for j, (rec, job, hist) in enumerate(zip(records, jobs, hists, strict=True)):
        cfg, model, data = members[j]
        model = stack.member(j)
        hist.summary = summarize(model, data, cfg, hist)
        summary = {**hist.summary, "reason": hist.reason} if hist.reason else hist.summary
        if hist.status == "finished":
            if cfg.train.checkpoint != "none":
                tmp = rec.dir / f"{MODEL_FILE}.tmp{os.getpid()}"
                torch.save(model.state_dict(), tmp)
                os.replace(tmp, rec.dir / MODEL_FILE)
            save_reliability(rec.dir, model, data)
        store.finish_run(rec.id, hist.status, summary)
        store.link(study_id, rec.id, job.variant, role=job.role)
        answers.append(
            {"run_id": rec.id, "status": hist.status, "error": hist.reason, "note": note}
        )
    return answers
