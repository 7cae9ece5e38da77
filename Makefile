# Tongban: `make run` runs the stack, `make test` passes the tests. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install infra-deps run demo bench chaos compose-test test test-unit test-usecases test-integration lint format contracts i18n clean

help:
	@echo "make run      - start Kafka, PostgreSQL, the four services and the console (Ctrl-C stops all; SCALE=2: two processes of each service)"
	@echo "make demo     - start the stack, drive one application end to end at windows and one online at the portal, print them, stop"
	@echo "make test     - install what is needed and run the whole test suite"
	@echo "make lint     - ruff and mypy"
	@echo "make bench    - intake vs a bare insert, the pipeline's rate and drain, paced latency vs raw Kafka, CPU per application, flame graphs, a targets table (BENCH_ARGS=--quick: about a minute)"
	@echo "make compose-test - build the image (classic builder), start docker-compose on it, run a window-to-hand-over journey inside containers, down -v (base images made from Debian's packages where no registry answers)"
	@echo "make chaos    - faults (SIGKILL of each service, the relay mid-batch, the broker; PostgreSQL immediate stop; a frozen consumer) while windows post, then exactly once (CHAOS_ARGS=--short: every fault once, under three minutes)"
	@echo "make contracts - regenerate contracts/ from the event models"
	@echo "make i18n     - add the code's new user-facing texts to the zh_CN catalogs (shared/locale)"

# The virtualenv with the pinned packages; redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Kafka jars (Maven Central, cached under ~/.cache/tongban); PostgreSQL, fonts-noto-cjk,
# poppler-utils, chromium and npm (apt-get if missing); then axe-core from npm, as its lock file
# pins it (tests/axe), for the portal's browser test; again only when the lock file changed.
AXE := tests/axe/node_modules/axe-core/axe.min.js

infra-deps: install
	$(BIN)/python -m tooling.infra --prepare
	@$(MAKE) --no-print-directory $(AXE)

$(AXE): tests/axe/package.json tests/axe/package-lock.json
	npm ci --prefix tests/axe --no-audit --no-fund
	@touch $(AXE)

# make run SCALE=2: two processes of each of intake, routing, approval and delivery (the second
# on 8101-8104), sharing their consumer groups' partitions (tooling/scale.py).
run: infra-deps
	$(BIN)/tongban run $(if $(SCALE),--scale $(SCALE))

demo: infra-deps
	$(BIN)/tongban demo

# Tongban's image and docker-compose.yml run for real (tooling/compose_test): Debian's docker.io
# and docker-compose installed and the engine started when missing (root), base images made
# from Debian's packages where no registry answers; skipped with a message where no engine can
# start. The Kafka jars of infra-deps go into the local Kafka image.
compose-test: infra-deps
	$(BIN)/python -m tooling.compose_test
# Fault injection under load on make run's supervised stack (benchmarks/chaos.py); exit status 1
# when an application was lost or doubled or a fault never recovered.
chaos: infra-deps
	$(BIN)/python -m benchmarks.chaos $(CHAOS_ARGS)

# Options pass through: make bench BENCH_ARGS='--quick' (python -m benchmarks.journey --help).
bench: infra-deps
	$(BIN)/python -m benchmarks.journey $(BENCH_ARGS)

test: infra-deps
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

# Use cases against a PostgreSQL of their own (no Kafka, no HTTP), each test rolled back.
test-usecases: infra-deps
	$(BIN)/pytest tests/usecases

test-integration: infra-deps
	$(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

contracts: install
	$(BIN)/tongban contracts

# Texts marked _() / N_() that the catalogs lack go, untranslated, to their area's .po file.
i18n: install
	$(BIN)/python -m tooling.i18n

clean:
	rm -rf $(VENV) .tongban .pytest_cache .mypy_cache .ruff_cache
