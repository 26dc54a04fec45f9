# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
# Model weights and sample images come from the local mirror (air-gapped: no downloads needed).
export VIGIL_MIRROR ?= $(SHARED)/models:$(SHARED)/data/seed

CONSTRAINTS := deploy/containers/constraints.txt
REGISTRY ?=
ROLES ?= validate detect threat report server

.PHONY: setup runtime demo test lint bench clean images push lock containers-tools ingest-tools browser

# Runtime dependencies are pinned by the images' lock ($(CONSTRAINTS)), so the demo and the tests run on the
# versions the images carry (a stage must give the same bytes in its container as in-process).
# The runtime only (what `pip install .` gives a user): enough for `make demo`.
$(VENV)/.runtime: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

# The dev tools on top (pytest, mypy, moto, psycopg...): for `make test`, `make lint`, `make bench`.
$(VENV)/.installed: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

runtime: $(VENV)/.runtime
setup: $(VENV)/.installed

# Not activated afterwards: the demo prints its closing commands with the full path of this venv's `vigil`.
demo: runtime
	$(BIN)/vigil demo
	@echo "To use vigil from this shell: source $(VENV)/bin/activate"

lint: setup
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/mypy src
	$(BIN)/lint-imports
	$(BIN)/hadolint deploy/containers/Containerfile

# The venv's bin first on PATH: tests drive the `vigil` console script and command transforms run `python3`.
test: lint containers-tools ingest-tools browser
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run_all.py

# The dashboard's browser tests drive Debian's Chromium (installed when missing; never a browser download).
browser:
	deploy/browser/install.sh

# Container images (podman, buildah, mmdebstrap installed from Debian's packages when missing).
containers-tools:
	deploy/containers/install.sh

# GStreamer's RTSP server for the ingest tests' camera (Debian packages, installed when missing).
ingest-tools:
	deploy/ingest/install-rtsp.sh

images: containers-tools
	deploy/containers/build.sh $(ROLES)

# make push REGISTRY=host:port [TLS_VERIFY=false] [ROLES="..."]
push:
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host:port"; exit 2; }
	deploy/containers/push.sh $(REGISTRY) $(ROLES)

# Regenerate the dependency lock from a fresh resolved install of vigil[s3,postgres,server,ingest,models,dask].
lock:
	deploy/containers/lock.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-workspace
