"""benchmarks/gpu_check.py's CPU fallback runs (a subset, so CI stays fast) and reports per item."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_gpu_check_cpu_fallback_passes_every_item(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    argv = [
        "--cpu",
        "--items",
        "models,precision,inspect,study",
        "--models",
        "mlp",
        "--kinds",
        "recorder",
    ]
    code = module.main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert sum(line.startswith("PASS mlp x ") for line in lines) == 5  # one per optimizer
    assert any(line.startswith("PASS cnn fp16") for line in lines)
    assert any(line.startswith("PASS inspect recorder") for line in lines)
    assert any(
        line.startswith("PASS study grid --workers 2") for line in lines
    )  # CPU: no --devices
    assert lines[-1] == "gpu_check device=cpu passed=11 failed=0"


def test_gpu_check_skips_the_augment_throughput_item_on_the_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--cpu", "--items", "augment"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "skipped: augment throughput is measured on a GPU only" in lines
    assert lines[-1] == "gpu_check device=cpu passed=0 failed=0"
