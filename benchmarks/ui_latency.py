"""`trainlab ui` at scale: a store of 10,000 runs × 40 epochs (written straight through sqlite), served
by the real command; prints the runs page's time to first byte, a filter query and the curves of
50 runs (median of repeats, ms). Goals on 2 cores: ≤ 200, ≤ 200, ≤ 300.

    python benchmarks/ui_latency.py [--runs 10000] [--epochs 40] [--repeats 7]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from trainlab.config import RunConfig
from trainlab.track.store import Store

FILTER = "model.name=cnn and val_acc>0.9 and status=finished"
MODELS = ("mlp", "cnn", "resnet", "transformer")
OPTIMS = ("sgd", "adam", "adamw", "rmsprop")


def build(root: Path, runs: int, epochs: int) -> list[str]:
    """Rows as the store writes them (real RunConfig JSON), inserted in one transaction each table."""
    Store(root).close()  # schema and migrations (indexes) as a real store has them
    rng = random.Random(0)
    base = RunConfig.model_validate({"data": {"name": "digits"}, "model": {"name": "mlp"}})
    run_rows, epoch_rows, ids = [], [], []
    for i in range(runs):
        cfg = base.model_dump(mode="json")
        cfg["model"]["name"] = MODELS[i % len(MODELS)]
        cfg["optim"]["name"] = OPTIMS[(i // 4) % len(OPTIMS)]
        cfg["optim"]["lr"] = 10 ** rng.uniform(-4, -1)
        cfg["seed"] = i % 5
        rid = f"{i:010x}"
        ids.append(rid)
        acc = [
            min(0.99, 0.5 + 0.5 * (1 - 0.9**e) + rng.gauss(0, 0.02)) for e in range(1, epochs + 1)
        ]
        for e, a in enumerate(acc, 1):
            m = {"epoch": e, "step": e * 30, "train_loss": 1 / e, "train_acc": a, "val_loss": 1.1 / e,
                 "val_acc": a, "lr": cfg["optim"]["lr"], "seconds": 0.2, "train_seconds": 0.18}  # fmt: skip
            epoch_rows.append((rid, e, json.dumps(m)))
        summary = {"epochs": epochs, "val_acc": acc[-1], "test_acc": acc[-1] - 0.01,
                   "train_loss": 1 / epochs, "best_val_acc": max(acc)}  # fmt: skip
        run_rows.append(
            (
                rid,
                f"run-{i}",
                f"h{i}",
                json.dumps(cfg),
                cfg["seed"],
                "finished",
                1e9 + i,
                1e9 + i + 8,
                "{}",
                json.dumps(summary),
                None,
                "bench",
                1,
                None,
            )
        )
    con = sqlite3.connect(root / "trainlab.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO runs (id, name, config_hash, config, seed, status, created, ended, env,"
        " summary, error, host, pid, pid_start) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        run_rows,
    )
    con.executemany("INSERT INTO epochs VALUES (?,?,?)", epoch_rows)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    return ids


def first_byte_ms(host: str, port: int, path: str) -> float:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read(1)
    ms = (time.perf_counter() - t0) * 1000
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path}: HTTP {resp.status} {body[:200]!r}")
    return ms


def total_ms(host: str, port: int, path: str) -> float:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    ms = (time.perf_counter() - t0) * 1000
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path}: HTTP {resp.status}")
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t0 = time.perf_counter()
        ids = build(root, args.runs, args.epochs)
        print(f"built {args.runs} runs × {args.epochs} epochs in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "trainlab", "ui", "--store", str(root), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = urlsplit(server.stdout.readline().strip())
            host, port = url.hostname or "127.0.0.1", url.port or 0
            pages = {
                "first_byte_ms": ("/api/runs?" + urlencode({"page": 0}), first_byte_ms),
                "filter_ms": ("/api/runs?" + urlencode({"q": FILTER}), total_ms),
                "curves50_ms": ("/api/curves?" + urlencode({"ids": ",".join(ids[-50:])}), total_ms),
            }
            first_byte_ms(host, port, "/")  # the page itself; warms the server's caches
            out = {}
            for name, (path, measure) in pages.items():
                times = [measure(host, port, path) for _ in range(args.repeats)]
                out[name] = statistics.median(times)
                print(
                    f"{name}: median {out[name]:.1f} ms of {args.repeats} ({path[:60]})",
                    file=sys.stderr,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(" ".join(f"{k}={v:.0f}" for k, v in out.items()))


if __name__ == "__main__":
    main()
