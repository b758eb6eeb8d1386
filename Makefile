# mlnb: two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mlnb-installed

.PHONY: demo test test-slow install test-deps lab bench lint lint-ts test-ts clean

# Creates .venv and installs mlnb (with its JupyterLab extension) only when the project
# files changed since the last install, so a second run starts in seconds.
$(STAMP): pyproject.toml $(shell find labextension/src labextension/package.json labextension/style -type f 2>/dev/null)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,serve]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python demo_notebooks/run_demo.py

test-deps: install
	@bash scripts/ensure_browser.sh

test: test-deps lint test-ts
	$(BIN)/python -m pytest -q

# The extension's node modules, exactly as package-lock.json pins them (again when it changes).
labextension/node_modules/.package-lock.json: labextension/package-lock.json
	cd labextension && npm ci --no-audit --no-fund

# Unit tests of the extension's pure TypeScript logic (vitest).
test-ts: labextension/node_modules/.package-lock.json
	cd labextension && npm test --silent

# eslint + prettier on the extension's TypeScript, and the type check.
lint-ts: labextension/node_modules/.package-lock.json
	cd labextension && npm run --silent lint && npx tsc --noEmit -p .

# The long runs left out of `make test`: a real MLflow server (peer env) and Airflow's
# `dags test` of an exported pipeline (its own env).
test-slow: test-deps
	@bash bench/setup_peers.sh
	@bash scripts/setup_airflow.sh
	$(BIN)/python -m pytest -q -m slow

lab: install
	$(BIN)/jupyter lab --ip 127.0.0.1 --notebook-dir demo_notebooks

bench: install
	@bash bench/setup_peers.sh
	$(BIN)/python bench/run.py

# Style, the floors (import-linter contract in .importlinter) and types of the typed floors.
lint: install
	$(BIN)/ruff check mlnb tests bench demo_notebooks
	$(BIN)/ruff format --check mlnb tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(MAKE) --no-print-directory lint-ts

clean:
	rm -rf $(VENV) .venv-peers .venv-airflow demo_notebooks/out demo_notebooks/.mlnb demo_notebooks/data labextension/node_modules
