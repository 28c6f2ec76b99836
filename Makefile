# Two commands a newcomer needs: `make dev` and `make test`. Both build .venv from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest system-deps bench bench-sync clean lint-js test-js

# Debian packages the tests drive: Chromium (the browser tests, never `playwright install`) and redis-server (the
# shared-state tests). `make test` installs the missing ones with apt-get when it runs as root, else stops naming
# the command to run. Each entry is <command>:<package>.
SYSTEM_DEPS := chromium:chromium redis-server:redis-server

# Two stamps: `make dev` installs only what running needs ($(RUN_STAMP)); `make test` and the other targets add the
# test extras ($(STAMP), which implies the first).
RUN_STAMP := $(VENV)/.installed-run

define make_venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
endef

$(RUN_STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(RUN_STAMP) $(STAMP)

dev: $(RUN_STAMP)
	$(BIN)/addin-api dev

lint: $(STAMP)
	$(BIN)/ruff check addin_api tests
	$(BIN)/ruff format --check addin_api tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict addin_api

system-deps:
	@missing=""; \
	for dep in $(SYSTEM_DEPS); do command -v "$${dep%%:*}" >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing the Debian packages the tests need:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$$missing || exit 1; \
		for dep in $(SYSTEM_DEPS); do command -v "$${dep%%:*}" >/dev/null 2>&1 \
			|| { echo "$${dep%%:*} is still missing after installing $${dep#*:}" >&2; exit 1; }; done; \
	else \
		echo "the tests need the Debian packages$$missing; install them with:" >&2; \
		echo "  sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest lint-js test-js

# The task pane's JavaScript: ESLint (flat config, eslint.config.js) from a local node_modules pinned by
# package-lock.json, and its pure modules' unit tests under node's own test runner (no dependencies).
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

lint-js: $(NODE_STAMP)
	node_modules/.bin/eslint

test-js:
	node --test tests/js/

# The devstack and the service under gunicorn on 127.0.0.1, a load generator, a table and bench-results.json.
bench: $(STAMP)
	$(BIN)/python tests/perf/bench.py

# Mailbox synchronization: the devstack, Redis, the service and two `addin-api sync` workers as processes; category
# applied → activity p50/p95, catch-up with notifications paused, cost per message, 1000 messages with a worker killed.
bench-sync: $(STAMP) system-deps
	$(BIN)/python tests/perf/bench_sync.py

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache node_modules
