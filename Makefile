# batchml: `make demo` runs a sample end to end, `make test` runs the test suite.
# Both create the project virtualenv (.venv) on first use and install what they need into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff format --check batchml tests bench samples
	$(BIN)/ruff check batchml tests bench samples
	$(BIN)/mypy

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash samples/demo.sh

bench: $(STAMP)
	$(BIN)/python bench/cli_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
