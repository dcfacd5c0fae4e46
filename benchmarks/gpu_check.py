"""GPU check: every model x optimizer for one epoch, bf16 and fp16 runs, one inspection of each
kind, a 2-worker study with `--devices`, and CIFAR-sized augmented training (resnet18 on 3×32×32
shapes32 with crop + flip: images/s in fp32 and bf16, and bf16 without augmentation); prints
PASS/FAIL per item and the epoch time vs CPU. The augment item is skipped on the CPU.

On a CUDA machine (about 2-4 minutes on one GPU):
    pip install 'torch==<the pinned version>' --index-url https://download.pytorch.org/whl/cu124
    make install            # or: pip install -e '.[dev]'
    python benchmarks/gpu_check.py
Without CUDA it runs the same items on the CPU at tiny sizes (the CI runs that fallback):
    python benchmarks/gpu_check.py --cpu [--items models,precision,inspect,study,augment]
The last line is `gpu_check device=<d> passed=<n> failed=<m>`; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from trainlab.config import OPTIMIZERS, load_config
from trainlab.inspect.recipes import KINDS, run_inspection
from trainlab.models import list_models
from trainlab.track.store import Store
from trainlab.train.experiment import run

ITEMS = ("models", "precision", "inspect", "study", "augment")
DATA = {  # one dataset per data kind; tiny options for the CPU fallback
    "image": ("digits", {}),
    "signal": ("mnist1d", {"num_samples": 600}),
    "tokens": ("seq_pair", {"n": 400}),
    "vector": ("moons", {"n": 400}),
}
TINY_MODEL = {  # small enough that the CPU fallback takes seconds
    "cnn": {"width": 4, "depth": 1},
    "gru": {"hidden": 8},
    "inception": {"width": 4, "depth": 1},
    "mlp": {"width": 16, "depth": 1},
    "plainnet": {"depth": 8, "width": 4},
    "resnet": {"depth": 8, "width": 4},
    "resnet18": {"width": 4},
    "transformer": {"dim": 16, "depth": 1, "heads": 2},
    "vit": {"dim": 16, "depth": 1, "heads": 2},
    "vit_tiny": {"dim": 12, "depth": 1, "heads": 3},
}
AUGMENT_IMAGES = 20_000  # shapes32 training pool of the augment item (18,000 train after val)
INSPECT = {  # what each inspection trains (tiny on the CPU)
    "features": ["data.name=mnist1d", "model.name=cnn"],
    "attention": ["data.name=seq_pair", "model.name=transformer"],
    "inception": ["data.name=digits", "model.name=inception", "model.options.width=4"],
    "residual": ["data.name=mnist1d", "model.name=resnet", "model.options.depth=8"],
    "recorder": ["data.name=mnist1d", "model.name=mlp"],
}


class Checks:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def item(self, name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        try:
            info = fn()
        except Exception as exc:  # a check reports every failure and goes on
            self.failed += 1
            last = traceback.format_exception_only(exc)[-1].strip()
            print(f"FAIL {name:<32} {last}", flush=True)
            return
        self.passed += 1
        print(f"PASS {name:<32} {info}  ({time.perf_counter() - t0:.1f} s)", flush=True)


def _config(model: str, kind: str, device: str, optim: str, tiny: bool, *more: str) -> object:
    data, options = DATA[kind]
    items = [f"data.name={data}", f"model.name={model}", f"optim.name={optim}", "train.epochs=1"]
    items += [f"train.device={device}", "train.batch_size=128"]
    if tiny:
        items += [f"data.options.{k}={v}" for k, v in options.items()]
        items += [f"model.options.{k}={v}" for k, v in TINY_MODEL.get(model, {}).items()]
    return load_config(None, items + list(more))


def _epoch_seconds(cfg: object) -> float:
    result = run(cfg)  # type: ignore[arg-type]
    if result.history.status != "finished":
        raise RuntimeError(f"ended {result.history.status}: {result.history.reason}")
    return float(result.history.epochs[-1]["train_seconds"])


def check_models(checks: Checks, device: str, tiny: bool, only: set[str]) -> None:
    for m in list_models():
        if only and m.name not in only:
            continue
        kind = m.kinds[0]
        cpu_s = None
        if device != "cpu":  # the reference: the same model's CPU epoch (adam)
            cpu_s = _epoch_seconds(_config(m.name, kind, "cpu", "adam", tiny))
        for optim in OPTIMIZERS:

            def one(
                model: str = m.name, optim: str = optim, kind: str = kind, cpu: float | None = None
            ) -> str:
                s = _epoch_seconds(_config(model, kind, device, optim, tiny))
                vs = f"  cpu {cpu:.3f} s ({cpu / s:.1f}x)" if cpu is not None else ""
                return f"{device} {s:.3f} s/epoch{vs}"

            checks.item(f"{m.name} x {optim}", lambda f=one, c=cpu_s: f(cpu=c))


def check_precision(checks: Checks, device: str, tiny: bool) -> None:
    for precision in ("bf16", "fp16"):
        for model in ("cnn", "transformer"):
            kind = "image" if model == "cnn" else "tokens"

            def one(model: str = model, kind: str = kind, precision: str = precision) -> str:
                cfg = _config(model, kind, device, "adam", tiny, f"train.precision={precision}")
                return f"{device} {_epoch_seconds(cfg):.3f} s/epoch"

            checks.item(f"{model} {precision}", one)


def check_inspections(
    checks: Checks, device: str, tiny: bool, store: Store, only: set[str]
) -> None:
    for kind in KINDS:
        if only and kind not in only:
            continue

        def one(kind: str = kind) -> str:
            items = [*INSPECT[kind], f"train.device={device}", "train.epochs=1"]
            if tiny:
                items += ["model.options.width=4"] if kind in ("features", "residual") else []
            result = run_inspection(kind, store, load_config(None, items))
            return f"{len(result.summary.figures)} figure(s)"

        checks.item(f"inspect {kind}", one)


def check_study(checks: Checks, device: str, tiny: bool, store: Path) -> None:
    cmd = [sys.executable, "-m", "trainlab", "study", "grid"]
    helptext = subprocess.run([*cmd, "--help"], capture_output=True, text=True).stdout
    if "--devices" not in helptext:
        print("skipped: --devices not available", flush=True)
        return

    def one() -> str:
        argv = [*cmd, "data.name=moons", "data.options.n=400", "train.epochs=1"]
        argv += ["--vary", "optim.lr=0.01,0.003", "--seeds", "1", "--workers", "2"]
        argv += ["--store", str(store)] + (["--devices", "cuda:0"] if device != "cpu" else [])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=240)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
        return "2 workers finished"

    checks.item("study grid --workers 2" + (" --devices cuda:0" if device != "cpu" else ""), one)


def check_augment(checks: Checks, device: str) -> None:
    """resnet18 on CIFAR-sized shapes32 with crop 4 + flip: training images/s of the second epoch
    (the first pays for kernel selection), fp32 and bf16, and bf16 without augmentation."""
    if device == "cpu":
        print("skipped: augment throughput is measured on a GPU only", flush=True)
        return
    base = ["data.name=shapes32", f"data.options.n={AUGMENT_IMAGES}", "data.options.n_test=1000",
            "model.name=resnet18", "optim.name=sgd", "optim.momentum=0.9", "optim.lr=0.1",
            "train.epochs=2", "train.batch_size=512", f"train.device={device}"]  # fmt: skip
    crop_flip = ["data.augment.crop=4", "data.augment.flip=true"]
    cases = {"fp32 crop+flip": ["train.precision=fp32", *crop_flip],
             "bf16 crop+flip": ["train.precision=bf16", *crop_flip],
             "bf16 no augment": ["train.precision=bf16"]}  # fmt: skip
    for label, more in cases.items():

        def one(more: list[str] = more) -> str:
            result = run(load_config(None, base + more))
            if result.history.status != "finished":
                raise RuntimeError(f"ended {result.history.status}: {result.history.reason}")
            seconds = float(result.history.epochs[-1]["train_seconds"])
            return f"{len(result.dataset.y_train) / seconds:,.0f} images/s ({seconds:.2f} s/epoch)"

        checks.item(f"resnet18 cifar-size {label}", one)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu", action="store_true", help="the CPU fallback even where CUDA exists")
    p.add_argument("--items", default=",".join(ITEMS), help=f"comma-separated subset of {ITEMS}")
    p.add_argument("--models", default="", help="only these models (default: all)")
    p.add_argument("--kinds", default="", help="only these inspection kinds (default: all)")
    args = p.parse_args(argv)
    items = [i for i in args.items.split(",") if i]
    if unknown := set(items) - set(ITEMS):
        p.error(f"--items: unknown {sorted(unknown)}; choose from {', '.join(ITEMS)}")
    cuda = torch.cuda.is_available() and not args.cpu
    device, tiny = ("cuda", False) if cuda else ("cpu", True)
    name = torch.cuda.get_device_name(0) if cuda else "no CUDA: CPU fallback at tiny sizes"
    print(f"gpu_check on {device} ({name}); torch {torch.__version__}", flush=True)
    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        if "models" in items:
            check_models(checks, device, tiny, set(filter(None, args.models.split(","))))
        if "precision" in items:
            check_precision(checks, device, tiny)
        if "inspect" in items:
            kinds = set(filter(None, args.kinds.split(",")))
            check_inspections(checks, device, tiny, store, kinds)
        if "study" in items:
            check_study(checks, device, tiny, Path(tmp) / "study-store")
        if "augment" in items:
            check_augment(checks, device)
    print(f"gpu_check device={device} passed={checks.passed} failed={checks.failed}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
