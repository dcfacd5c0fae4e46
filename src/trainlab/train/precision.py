"""How the loop runs on an accelerator: mixed precision (autocast, a grad scaler for fp16) and the
channels-last memory layout for conv nets. fp32 is the default and the only bit-exact mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from trainlab.data.spec import DataSpec

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def mixed_precision(
    precision: str, device: torch.device
) -> tuple[Callable[[], Any], torch.amp.GradScaler]:
    """A context factory for the forward pass and a grad scaler (enabled for fp16 only: bf16 has
    fp32's exponent range, so its gradients do not underflow)."""
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if precision == "fp32":
        return contextlib.nullcontext, scaler
    dtype = DTYPES[precision]

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=dtype)

    return autocast, scaler


def channels_last(model: nn.Module, spec: DataSpec, wanted: bool) -> torch.memory_format | None:
    """Put a model on image data in NHWC layout (fast conv kernels on GPUs with tensor cores);
    the memory format the batches need, or None when the layout stays as it is."""
    if not wanted or len(spec.input_shape) != 3:  # (C, H, W) samples: (B, C, H, W) batches
        return None
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return torch.channels_last
