# Two commands on a fresh machine:  make demo   |   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first, pinned: its CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install dev demo test check lint format typecheck up bench chaos clean eval-gate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[embeddings,gateway]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[embeddings,gateway,dev]"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## Start a Temporal dev server and a worker, ingest examples/corpus, ask three questions.
demo: install
	HF_HUB_OFFLINE=1 $(BIN)/ragstate demo

## Install the dev dependencies, lint, type-check and run the whole suite (CI: .ci/run); the 25
## slowest tests close every run, so that what the suite costs stays in sight.
## Most tests wait on a dev server, a worker or a subprocess rather than compute, so one worker
## process per core (pytest-xdist; each with its own dev server) runs them side by side.
## TEST_WORKERS=0 runs in one process (a debugger, or a test's output as it happens).
TEST_WORKERS ?= 2
PYTEST := HF_HUB_OFFLINE=1 PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q -p no:cacheprovider
test: dev lint typecheck
	$(PYTEST) -n $(TEST_WORKERS) --durations=25

## The edit loop, about 3 minutes: lint, types and the fast tests (the slow ones, 3 s or more
## each, are listed in tests/slow_tests.py and run by `make test`).
check: dev lint typecheck
	$(PYTEST) -m "not slow" --durations=10

## ruff: lint and formatting (settings in pyproject.toml); `make format` rewrites.
lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## mypy over the installed layout: workflows/, activities/ and workers/ install as
## ragstate.workflows, .activities and .workers, a mapping mypy cannot follow, so the package is
## assembled from links under build/typecheck/ first. Its cache lives beside, in build/mypy-cache:
## inside build/typecheck/ it went with the links, and every run was cold (a minute or more, not 4 s).
typecheck: dev
	rm -rf build/typecheck && mkdir -p build/typecheck/ragstate
	for f in ragstate/*; do ln -s "$(CURDIR)/$$f" build/typecheck/ragstate/; done
	for d in workflows activities workers; do ln -s "$(CURDIR)/$$d" build/typecheck/ragstate/$$d; done
	cd build/typecheck && $(abspath $(BIN))/mypy --config-file $(CURDIR)/pyproject.toml \
		--cache-dir $(CURDIR)/build/mypy-cache -p ragstate

## The local stack in the foreground (UI on http://localhost:8233).
up: install
	HF_HUB_OFFLINE=1 $(BIN)/ragstate up

## The fault suite (issue 11): its own server, workers and fake Anthropic API, killed and fed bad
## input; prints the table in docs/reliability.md, exit 1 when a target is missed. One scenario:
## make chaos CHAOS_ARGS="--only llm-429"   (--list for the names, --json for JSON).
chaos: dev
	cd tests && HF_HUB_OFFLINE=1 PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/python -m chaos $(CHAOS_ARGS)

## Retrieval regression gate: `ragstate eval` on the shared collections against the committed
## baseline; exit 1 when a collection's hybrid nDCG@10 drops by more than 0.005 (a paired
## bootstrap interval per collection is printed). About 6 minutes on 2 CPUs (npl: 11k documents),
## so outside `make test`. After a deliberate change: add --save bench/baselines/retrieval.json.
DATASETS ?= ../shared/datasets
eval-gate: dev
	HF_HUB_OFFLINE=1 $(BIN)/ragstate eval $(DATASETS)/cisi $(DATASETS)/med $(DATASETS)/npl \
		--baseline bench/baselines/retrieval.json --tolerance 0.005

clean:
	rm -rf $(VENV) .ragstate build
