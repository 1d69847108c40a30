# The two commands of the README contract: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-sqlite test-postgres lint bench venv clean

run: $(VENV)/.base-installed
	scripts/run

test: $(VENV)/.dev-installed
	scripts/test

test-sqlite: $(VENV)/.dev-installed
	scripts/test sqlite

test-postgres: $(VENV)/.dev-installed
	scripts/test postgres

# Performance figures (see bench/README.md); BENCH_ARGS=--quick for the short run.
bench: $(VENV)/.dev-installed
	scripts/dockerd-up
	$(PY) -m bench.run $(BENCH_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

venv: $(VENV)/.dev-installed

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "DockMon needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall whenever a requirements file changes.
$(VENV)/.base-installed: requirements/base.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(VENV)/.base-installed $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
