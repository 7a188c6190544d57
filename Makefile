# The README's two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test lint typecheck pytest install install-dev migrate serve sweep clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(BIN)/activate
	$(PY) -m pip install --quiet -e .

install-dev: $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[dev]'

demo: install
	$(BIN)/tillpoint demo

migrate: install
	$(BIN)/tillpoint migrate

serve: install
	$(BIN)/tillpoint serve

sweep: install
	$(BIN)/tillpoint sweep

lint: install-dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy src

# The browser tests inject axe-core from node_modules.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

pytest: install-dev node_modules/.package-lock.json
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
