"""Seeding and threads: one call makes a run reproducible on its machine."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return the CPU generator that orders the training batches."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_deterministic(on: bool) -> None:
    """Deterministic kernels (torch.use_deterministic_algorithms, cuDNN deterministic, no cuDNN
    autotuning) or the fastest ones. An op with no deterministic kernel warns instead of failing."""
    if on:
        # cuBLAS needs a fixed workspace to be deterministic; set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads: the explicit value, else $OMP_NUM_THREADS, else cores available."""
    from trainlab.track.env import available_cores

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else available_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda, then mps, then cpu; an explicit device that is absent is an error upstream."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def threads_per_worker(workers: int) -> int:
    """Threads each of `workers` processes may use so they never oversubscribe the cores.

    Measured on 2 cores: 2 processes x 1 thread give 1.6-2.1x the throughput of one after another;
    2 x 2 threads (oversubscribed) give 0.28x.
    """
    from trainlab.track.env import available_cores

    return max(1, available_cores() // max(1, workers))


def worker_env(threads: int) -> dict[str, str]:
    """Environment for a worker process: thread caps set before it imports torch."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env
