# Two commands a newcomer needs: `make dev` and `make test`. Both build .venv from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest bench clean lint-js test-js

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

dev: $(STAMP)
	$(BIN)/addin-api dev

lint: $(STAMP)
	$(BIN)/ruff check addin_api tests
	$(BIN)/ruff format --check addin_api tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict addin_api

pytest: $(STAMP)
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

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache node_modules
