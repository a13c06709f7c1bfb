# batchml: `make demo` runs the samples end to end, `make test` runs the test suite.
# Both create the project virtualenv (.venv) on first use. `make demo` installs only what the
# samples need (the demo extra); `make dev` (run by test, check and bench) adds the test and
# development tools (the dev extra: Ray, Azure storage, pytest, ruff, mypy).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed-dev
AZURITE := $(VENV)/node/node_modules/.bin/azurite-blob

.PHONY: test check demo dev bench bytecode clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing batchml and what the demo needs into $(VENV) (pip install -e '.[demo]') ..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(DEMO_STAMP)

dev: $(DEV_STAMP)

# The Azure Blob Storage emulator the datastore tests start (tests/integration/azurite.py), from
# the npm registry into .venv/node. Without npm those tests are skipped, saying so.
$(AZURITE):
	@if command -v npm >/dev/null 2>&1; then \
		echo "Installing Azurite, the storage emulator the tests use, into $(VENV)/node (npm install azurite@3) ..."; \
		npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error azurite@3; \
	else \
		echo "npm not found: the tests that need Azurite (the storage emulator) will be skipped"; \
	fi

# batchml's own bytecode, as a wheel install has it (pip compiles what it installs; an editable
# install compiles nothing): where PYTHONDONTWRITEBYTECODE is set, as on many CI machines and
# images, every batchml command would otherwise compile each module it imports from source,
# about 0.1 s of `batch-endpoint invoke`. Only what changed since is compiled again; Python
# ignores a module's bytecode once its source changes.
bytecode: $(DEMO_STAMP)
	$(BIN)/python -m compileall -q batchml

test: $(DEV_STAMP) bytecode | $(AZURITE)
	$(BIN)/python -m pytest -q

check: $(DEV_STAMP)
	$(BIN)/ruff format --check batchml tests bench samples
	$(BIN)/ruff check batchml tests bench samples
	$(BIN)/mypy

demo: $(DEMO_STAMP) bytecode
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash samples/demo.sh

bench: $(DEV_STAMP) bytecode
	$(BIN)/python bench/cli_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
