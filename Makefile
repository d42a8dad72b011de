# ViSN Keyloop booking functions: one entry point for setting up, developing and testing.
# `make dev` and `make test` run `setup` first, so a fresh clone needs nothing else.

PYTHON ?= python3.11
# firebase.json's "runtime" must name the Python that builds venv/ (firebase-tools checks).
PYTHON_VERSION := 3.11
VENV := venv
PY := $(VENV)/bin/python
SANDBOX_HOST ?= 127.0.0.1
SANDBOX_PORT ?= 8790
PYTEST_ARGS ?=

.PHONY: setup dev test lint typecheck pytest sandbox clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version[:4] != "$(PYTHON_VERSION)")'; then \
		echo "venv/ was built with another Python: rebuilding"; rm -rf $(VENV); fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The whole local stack, in the foreground until Ctrl-C (for now: our Keyloop sandbox).
dev: setup
	$(PY) -m keyloop_sandbox --host $(SANDBOX_HOST) --port $(SANDBOX_PORT)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
