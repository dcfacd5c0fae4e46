# Two commands on a fresh machine: `make demo` (the main job) and `make test` (lint, types, tests).
# torch is installed first, pinned, so pip never resolves an unpinned torch to a multi-GB CUDA
# build. On a GPU machine: `make TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>" demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-browser lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[dev,tensorboard,mlflow,ray,ui]'  # exports, Ray and the dashboard are tested
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trainlab suite --budget quick
	@echo "report: $(CURDIR)/trainlab-runs/report.html"
	@echo "browse the store live: $(BIN)/trainlab ui --store trainlab-runs   (then open http://127.0.0.1:8765/)"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks experiments
	$(BIN)/ruff format src tests benchmarks experiments

test: lint
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layering contracts in pyproject.toml
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# Playwright drives Debian's chromium (/usr/bin/chromium; no browser download).
test-browser: $(STAMP)
	$(BIN)/pytest -m browser -n 0 $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/pytest -m slow -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py
	$(BIN)/python benchmarks/recorder_overhead.py
	$(BIN)/python benchmarks/ui_latency.py

clean:
	rm -rf $(VENV) trainlab-runs .pytest_cache .mypy_cache .ruff_cache
