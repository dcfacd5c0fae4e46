"""What the loop tells its watchers: `Callback` hooks, `StopTraining`, the run's `History`.

No torch import at run time, so the CLI can define its progress bar without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


class StopTraining(Exception):  # a signal to stop, not an error
    """Raised by a callback to end training early with `status` (e.g. `pruned`)."""

    def __init__(self, status: str, reason: str = "") -> None:
        super().__init__(reason or status)
        self.status = status
        self.reason = reason


class Callback:
    """Base class with no-op hooks; override the ones you need."""

    def on_step(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        """After optimizer step `step` (1-based); `loss` is the batch loss tensor (no sync done)."""

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        """After epoch `epoch` (1-based) with its metrics (train_loss, val_acc, lr, seconds, ...)."""

    def on_end(self, model: nn.Module, history: History) -> None:
        """Once, after the test evaluation (or after divergence / a stop)."""


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    status: str = "finished"  # finished | diverged | pruned | ...
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
