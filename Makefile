# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
# Model weights and sample images come from the local mirror (air-gapped: no downloads needed).
export VIGIL_MIRROR ?= $(SHARED)/models:$(SHARED)/data/seed

.PHONY: setup runtime demo test lint bench clean

# The runtime only (what `pip install .` gives a user): enough for `make demo`.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev tools on top (pytest, mypy, moto, psycopg...): for `make test`, `make lint`, `make bench`.
$(VENV)/.installed: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

runtime: $(VENV)/.runtime
setup: $(VENV)/.installed

# Not activated afterwards: the demo prints its closing commands with the full path of this venv's `vigil`.
demo: runtime
	$(BIN)/vigil demo
	@echo "To use vigil from this shell: source $(VENV)/bin/activate"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/lint-imports

# The venv's bin first on PATH: tests drive the `vigil` console script and command transforms run `python3`.
test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-workspace
