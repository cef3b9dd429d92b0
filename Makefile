# cli-proxy-api — `make start` runs the suite, `make test` proves it.
# Every target that needs Python first makes sure .venv is installed; a stamp
# keyed on pyproject.toml makes that instant after the first run.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help install install-test start stop status logs test fuzz browsers postgres lint bench clean distclean console-screenshots

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# A fresh Debian may lack ensurepip (package python3-venv): install it when root.
$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	    echo "python3 -m venv failed: installing python3-venv"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	      && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "python3 -m venv failed: install the python3-venv package" >&2; exit 1; \
	  fi; }

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e '.[test,webai]'
	@touch $@ $(STAMP)

install: $(STAMP) ## create .venv and install the suite (idempotent)

install-test: $(TEST_STAMP) ## install with the test extras (and webai's, so its tests run)

start: install ## start the suite under supervisord and wait until it is healthy
	@./scripts/start.sh

stop: ## stop the suite; nothing is left running
	@if [ -x $(PY) ]; then ./scripts/stop.sh; else echo "not installed: nothing to stop"; fi

status: install ## table of programs, state, pid, uptime, restarts, RSS/CPU, health
	@./scripts/status.sh

logs: install ## tail the router log (scripts/logs.sh NAME [-f] [-n N] for others)
	@./scripts/logs.sh router -n 50

# pytest-timeout fails a test after 120 s and tests/conftest.py ends the run, with every
# stack, when one test takes 240 s; this bound (SIGINT: pytest prints where it was) covers
# what lies outside any test, such as collection or the interpreter's exit.
PYTEST_LIMIT ?= 2400

test: install-test browsers postgres ## ruff, format check, mypy --strict, then the whole pytest suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy router suite ops webai aistudio bench
	@mkdir -p logs
	@set -o pipefail; rc=0; \
	  timeout -s INT -k 60 $(PYTEST_LIMIT) $(PY) -m pytest tests -q -p no:cacheprovider --durations=10 2>&1 \
	    | tee logs/pytest.log || rc=$$?; \
	  echo "pytest: $$(grep -E '^=*.* (passed|failed|error|errors|no tests ran)( |,|$$)' logs/pytest.log | tail -n 1 | tr -d '=' | sed 's/^ *//')"; \
	  exit $$rc

# docs/console.md's pictures, from the console's own browser test (Chromium, the suite, fakes).
console-screenshots: install-test browsers ## run the console's browser test, saving each screen to docs/console/
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(PY) -m pytest tests/router/console/test_console_browser.py -q -p no:cacheprovider

# The aistudio tests drive Debian's chromium (headless, and headful under Xvfb for login).
# Installed here when root; otherwise they skip, except with CI set, where a missing one fails.
browsers: ## install Debian's chromium and xvfb when missing (as root)
	@missing=""; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  command -v Xvfb >/dev/null || missing="$$missing xvfb"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	      echo "installing$$missing"; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 \
	        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
	        || echo "could not install$$missing: the aistudio tests will fail under CI"; \
	    else echo "missing$$missing (not root, not installing): the aistudio tests skip, or fail under CI"; fi; \
	  fi

# The credential-store tests start a private PostgreSQL (initdb/pg_ctl as the postgres user).
# Installed here when root; otherwise they skip, except with CI set, where a missing one fails.
postgres: ## install Debian's postgresql when missing (as root)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
	  if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	    echo "installing postgresql"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
	      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
	      || echo "could not install postgresql: the store tests will fail under CI"; \
	  else echo "postgresql missing (not root, not installing): the store tests skip, or fail under CI"; fi; \
	fi

# make test runs 2,000 examples per client and management endpoint; this, 20,000 (in
# shards of 2,500, each reproducible: see tests/router/api/test_fuzz.py).
FUZZ_EXAMPLES ?= 20000

fuzz: install-test ## hostile input at every endpoint, 20,000 examples each (FUZZ_EXAMPLES=N)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/router/api/test_fuzz.py -q -p no:cacheprovider

lint: install-test ## ruff check, ruff format --check, mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy router suite ops webai aistudio bench

bench: install-test ## load test: fake upstream, bare relay and router side by side
	@command -v wrk >/dev/null || { \
	  if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk \
	      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
	      || echo "wrk could not be installed: bench uses its Python load generator"; \
	  else echo "wrk not found (not root, not installing): bench uses its Python load generator"; fi; }
	$(PY) -m bench
	$(PY) -m bench.aistudio

clean: stop ## stop the suite, remove run/, logs and caches (keeps .venv)
	rm -rf run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find logs -mindepth 1 ! -name .gitkeep -delete 2>/dev/null || true
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## clean, and remove .venv
	rm -rf $(VENV)
