# One virtual environment in .venv, made on first use. `make run` and `make test` are the
# README's Quick start; .ci/run calls `make test`.
#   make test       both tiers: ruff, then every test (unit and e2e) on three workers (~9 min);
#                   the Ray tests only where Ray is installed
#   make test-unit  the fast loop: tests not marked e2e (no servers, engines, tmux or Chromium)
#   make test-ray   installs the extra loadtui[ray], then runs the Ray tests (~1 min)
#   make test-stress  `make test` and the Ray tests, as on a busy machine: two CPU hogs
#                   (tests/hogs.py, busy loops; HOGS=8 for a busier one) run beside them and are
#                   always stopped; its exit code is pytest's. It must pass three times in a row.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the e2e tests drive from the system: the real TUI in tmux, the HTML report in Chromium.
SYSTEM_TOOLS := tmux chromium
HOGS ?= 2

.PHONY: run test test-unit test-ray test-stress lint system-tools bench-setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/loadtui

# ruff, then the layers' import contracts ([tool.importlinter] in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Installs the missing tools as root with apt-get (Debian's package names); otherwise stops at
# once and prints the one command to run.
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make test needs$$missing: install them with your package manager" >&2; exit 1; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "make test needs$$missing; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	fi; \
	echo "installing$$missing with apt-get (the e2e tests drive them)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null

# Three workers on two cores: most tests wait on real servers (sleeps, 10 s background tasks),
# not on CPU. Tests marked xdist_group("load") never run at the same time (--dist loadgroup,
# pyproject): one worker takes them in turn while the two others share the rest. (The suite
# also passes beside two CPU hogs: make test-stress.)
test: system-tools lint
	$(BIN)/pytest -n 3

test-unit: $(STAMP)
	$(BIN)/pytest -n 2 -m "not e2e"

test-ray: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	$(BIN)/pytest -n 2 -m ray

# The hogs stop however the tests end (the trap; and tests/hogs.py ends with this shell).
test-stress: system-tools lint
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	@$(BIN)/python tests/hogs.py $(HOGS) & hogs=$$!; \
	trap 'kill $$hogs 2>/dev/null' EXIT; trap 'exit 130' INT TERM HUP; \
	echo "$(HOGS) CPU hogs running (pid $$hogs)"; \
	$(BIN)/pytest -n 2

bench-setup: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
