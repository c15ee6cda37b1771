# One virtual environment in .venv, made on first use. `make run` and `make test` are the
# README's Quick start; .ci/run calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench-setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/loadtui

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Two workers: most tests wait on real servers (sleeps, 10 s background tasks), not on CPU.
test: lint
	$(BIN)/pytest -n 2

bench-setup: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
