# Tongban: `make run` runs the stack, `make test` passes the tests. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install infra-deps run demo bench test test-unit test-usecases test-integration lint format contracts i18n clean

help:
	@echo "make run      - start Kafka, PostgreSQL, the four services and the console (Ctrl-C stops all)"
	@echo "make demo     - start the stack, drive one application end to end at windows and one online at the portal, print them, stop"
	@echo "make test     - install what is needed and run the whole test suite"
	@echo "make lint     - ruff and mypy"
	@echo "make bench    - intake vs a bare insert, the pipeline's rate and drain, paced latency vs raw Kafka, CPU per application, flame graphs, a targets table (BENCH_ARGS=--quick: about a minute)"
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

run: infra-deps
	$(BIN)/tongban run

demo: infra-deps
	$(BIN)/tongban demo

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
