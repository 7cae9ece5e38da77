# Tongban: `make run` runs the stack, `make test` passes the tests. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install infra-deps run demo bench chaos soak registry-scale compose-test test test-unit test-usecases test-integration lint format contracts i18n clean

help:
	@echo "make run      - start Kafka, PostgreSQL, the services, the console and the federation gateway (Ctrl-C stops all; SCALE=2: two processes of each service)"
	@echo "make run PROVINCES=2 - also a second Tongban (Jiangsu, 320000: its broker, services, gateway on 8101-8110), each gateway trusting the other"
	@echo "make demo     - start both provinces' stacks, drive one application end to end at windows, one online, one across to Jiangsu and back, print them, stop (PROVINCES=1: Anhui alone)"
	@echo "make test     - install what is needed and run the whole test suite"
	@echo "make lint     - ruff and mypy"
	@echo "make bench    - intake vs a bare insert, the pipeline's rate and drain, paced latency vs raw Kafka, CPU per application, flame graphs, a targets table (BENCH_ARGS=--quick: about a minute)"
	@echo "make compose-test - build the image (classic builder), start docker-compose on it, run a window-to-hand-over journey inside containers, down -v (base images made from Debian's packages where no registry answers)"
	@echo "make chaos    - faults (SIGKILL of each service, the relay mid-batch, the broker; PostgreSQL immediate stop; a frozen consumer) while windows post, then exactly once (CHAOS_ARGS=--short: every fault once, under three minutes)"
	@echo "make soak     - 30 minutes at half of saturation on make run's stack: memory per process flat within 10 %, outbox and inbox pruned, latency per 5 minutes, a plot per process in test-artifacts/soak (SOAK_ARGS='--minutes 5 --rate 8')"
	@echo "make registry-scale - delivery's certificate registry hash-partitioned at 3.2 × 10^7 rows (kept in .tongban/registry-scale), verification and print lookup at 200 requests/s, the projection to 3.21 × 10^8 (REGISTRY_ARGS=--measure-only: about two minutes)"
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
# on 8201-8204), sharing their consumer groups' partitions (tooling/scale.py).
run: infra-deps
	$(BIN)/tongban run --provinces $(or $(PROVINCES),1) $(if $(SCALE),--scale $(SCALE))

demo: infra-deps
	$(BIN)/tongban demo --provinces $(or $(PROVINCES),2)

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

# Memory, pruning and latency over half an hour on make run's stack (its fixed ports); exit
# status 1 when a process's memory grew more than 10 %, the messaging tables were not pruned,
# a process was restarted, or an application was lost or doubled (benchmarks/soak.py).
soak: infra-deps
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

# The certificate registry at a tenth of Anhui's size in a PostgreSQL cluster of its own, kept
# between runs; not part of the test suite (benchmarks/registry_scale.py).
registry-scale: infra-deps
	$(BIN)/python -m benchmarks.registry_scale $(REGISTRY_ARGS)

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
