# ViSN Keyloop booking functions: one entry point for setting up, developing and testing.
# `make dev` and `make test` run `setup` first, so a fresh clone needs nothing else.

PYTHON ?= python3.11
# firebase.json's "runtime" must name the Python that builds venv/ (firebase-tools checks).
PYTHON_VERSION := 3.11
VENV := venv
PY := $(VENV)/bin/python
# `make dev`: project id, host and ports (the defaults match firebase.json's "emulators").
PROJECT ?= demo-visn
DEV_HOST ?= 127.0.0.1
SANDBOX_PORT ?= 8790
FIRESTORE_PORT ?= 8380
AUTH_PORT ?= 9099
FUNCTIONS_PORT ?= 5001
HUB_PORT ?= 4400
LOGGING_PORT ?= 4500
EVENTARC_PORT ?= 9299
TASKS_PORT ?= 9499
# The dev console page (devtools/console/), served from its own origin.
CONSOLE_PORT ?= 5180
# auto: firebase-tools' own Firestore emulator where it can run (Java 21+), else gcloud's.
FIRESTORE ?= auto
PYTEST_ARGS ?=
# `make bench BENCH_ARGS='--latency-ms 200'`: see `python -m bench.run --help`.
BENCH_ARGS ?=
# The DMS sync's figures (python -m bench.dms_sync --help).
SYNC_BENCH_ARGS ?=

.PHONY: setup dev test lint typecheck pytest sandbox clean bench soak lock system-deps alerts deploy

# `make lock`: requirements.in -> requirements.txt (what a deploy installs) and
# requirements-dev.in -> requirements-dev.txt (that plus the dev tools), every transitive
# package pinned with its hashes, resolved for Cloud Functions' python311 on Linux against PyPI
# itself: no machine-local index or config leaks into the files (uv ignores pip.conf; --no-config
# its own). `make lock UPGRADE=1` moves every package to its newest release within the pins.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --no-config \
	--python-version $(PYTHON_VERSION) --python-platform linux \
	--default-index https://pypi.org/simple --custom-compile-command 'make lock' \
	$(if $(UPGRADE),--upgrade)

setup: $(VENV)/.installed node_modules/.installed

# venv/ from the hashed lock: requirements-dev.txt holds requirements.txt's exact versions and
# hashes plus the dev tools (tests/unit/test_lock.py checks), so the tests and the emulator
# run what a deploy installs.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version[:4] != "$(PYTHON_VERSION)")'; then \
		echo "venv/ was built with another Python: rebuilding"; rm -rf $(VENV); fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	@touch $@

lock: $(VENV)/.installed
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt

# The npm manifest lives in js/ (a package.json in the functions source would make firebase-tools
# take the Python functions for a Node codebase); node_modules in the root links to js/'s so node
# resolves the packages from tests/ and devtools/ as usual.
node_modules/.installed: js/package.json js/package-lock.json
	@if [ -d node_modules ] && [ ! -L node_modules ]; then rm -rf node_modules; fi
	cd js && npm ci --no-audit --no-fund --loglevel=error
	ln -sfn js/node_modules node_modules
	@touch js/node_modules/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The one system package the tests need beyond the machine's toolchain: Debian's chromium, for
# the dev console's browser test (tests/browser). Installed with apt-get when missing and we are
# root (as in CI); otherwise one line says what to install (the browser test then skips, or
# fails with CI=true, and so does this step).
system-deps:
	@if [ -n "$$VISN_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser test (tests/browser)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "make test: install Debian's chromium for the browser test: sudo apt-get install chromium"; \
		[ "$$CI" != true ]; \
	fi

test: lint typecheck pytest

# The booking path against its physical limit and the flow it replaces (bench/README.md).
# Only the Python half of `setup`: the npm tools are not used, and `npm ci` alone takes
# 1.5 min of the 3 the benchmark may take on a fresh clone.
bench: $(VENV)/.installed
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.dms_sync $(SYNC_BENCH_ARGS)

# The saga's model test for longer, with random seeds (tests/saga/test_model.py), and the
# interleaving explorer's every pair of actors (tests/saga/test_interleavings.py; `make test`
# runs the pairs that matter most).
SOAK_EXAMPLES ?= 300
SOAK_STEPS ?= 30
soak: $(VENV)/.installed
	SAGA_MODEL_EXAMPLES=$(SOAK_EXAMPLES) SAGA_MODEL_STEPS=$(SOAK_STEPS) SAGA_MODEL_RANDOM=1 \
		$(PY) -m pytest tests/saga/test_model.py -p no:cacheprovider -o addopts="" -q -rA --timeout=0
	SAGA_SOAK=1 $(PY) -m pytest tests/saga/test_interleavings.py -p no:cacheprovider -q --timeout=0

# The whole local stack, in the foreground until Ctrl-C: the Keyloop sandbox, Firestore, and
# firebase-tools' functions and auth emulators, seeded with demo data, and the dev console
# page that calls them through the Firebase JS SDK (devtools/stack/).
dev: setup
	$(PY) -m devtools.stack --project $(PROJECT) --host $(DEV_HOST) --firestore $(FIRESTORE) \
		--sandbox-port $(SANDBOX_PORT) --firestore-port $(FIRESTORE_PORT) \
		--auth-port $(AUTH_PORT) --functions-port $(FUNCTIONS_PORT) --hub-port $(HUB_PORT) \
		--logging-port $(LOGGING_PORT) --eventarc-port $(EVENTARC_PORT) --tasks-port $(TASKS_PORT) \
		--console-port $(CONSOLE_PORT)

# Log-based metrics, alert policies and the dashboard (ops/) applied to a real project with gcloud:
# `make alerts PROJECT=visn-prod CHANNELS='projects/visn-prod/notificationChannels/ID'`;
# DRY_RUN=1 prints the gcloud commands only (docs/deploy.md, "Alerts").
CHANNELS ?=
DRY_RUN ?=
alerts: $(VENV)/.installed
	@case "$(PROJECT)" in demo-*) \
		echo "usage: make alerts PROJECT=<project id> [CHANNELS='<channel> ...'] [DRY_RUN=1]"; \
		exit 2;; esac
	$(PY) -m ops.apply --project $(PROJECT) $(foreach c,$(CHANNELS),--channel $(c)) \
		$(if $(DRY_RUN),--dry-run)

# Our functions into a project, after the pre-flight checks (ops/deploy, docs/deploy.md):
# `make deploy PROJECT=visn-staging`; DRY_RUN=1 runs the same read-only checks and prints what
# would be deployed. A demo- project is checked against the stand-in (ops/deploy/standin.json)
# and never deployed: `make deploy PROJECT=demo-visn DRY_RUN=1`.
deploy: setup
	$(PY) -m ops.deploy --project $(PROJECT) $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) node_modules js/node_modules .mypy_cache .ruff_cache .pytest_cache dev
