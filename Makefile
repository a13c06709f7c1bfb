# batchml: `make demo` runs the samples end to end, `make test` runs the test suite.
# Both create the project virtualenv (.venv) on first use. `make demo` installs only what the
# samples need (the demo extra); `make dev` (run by test, check and bench) adds the test and
# development tools (the dev extra: Ray, Azure storage, pytest, ruff, mypy).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: test check demo dev bench clean

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

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

check: $(DEV_STAMP)
	$(BIN)/ruff format --check batchml tests bench samples
	$(BIN)/ruff check batchml tests bench samples
	$(BIN)/mypy

demo: $(DEMO_STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash samples/demo.sh

bench: $(DEV_STAMP)
	$(BIN)/python bench/cli_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
