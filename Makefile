# The README's Quick start: `make demo` runs the example app, `make test` passes the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= examples/quickstart/mooring.toml

.PHONY: demo test test-unit lint typecheck pytest install install-test clean bench bench-smoke setup-demo setup-test chaos chaos-smoke

# Debian packages first (scripts/setup-debian.sh: apt-get as root, else the one command to run).
setup-demo:
	@sh scripts/setup-debian.sh demo

setup-test:
	@sh scripts/setup-debian.sh test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: setup-demo install
	$(BIN)/mooring validate -f $(DEMO)
	$(BIN)/mooring up -f $(DEMO)
	$(BIN)/mooring ps
	@echo
	@echo "The app keeps running (try: curl http://127.0.0.1:8080/)."
	@echo "Logs:  $(BIN)/mooring logs --follow -f $(DEMO)"
	@echo "Stop:  $(BIN)/mooring down -f $(DEMO)"

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-logo  # the layer contracts of .importlinter (DESIGN.md §2)

typecheck: install-test
	$(BIN)/mypy --strict src/mooring

# Two workers, a test file per worker at a time (most tests wait on real processes, not the CPU):
# the whole suite in ~20 min instead of ~60 on this 2-core machine.
pytest: install-test
	$(BIN)/pytest -n 2 --dist loadfile --durations=30

test: setup-test lint typecheck pytest

# The pure tests only (tests/conftest.py marks them): under a minute, no engine or process started.
test-unit: install-test
	$(BIN)/pytest -q -m unit

# The benchmark suite (docs/performance.md). The peers are installed on first run into bench/.peers.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/suite.py

bench-smoke: setup-test $(VENV)/.installed-bench
	$(BIN)/python bench/suite.py --smoke

# The fault campaign (docs/reliability.md): N randomized trials of engine kills, freezes, instance kills
# and store locks across rolling, canary, blue_green, rollback and down. CHAOS_N=50 by default.
CHAOS_N ?= 50
chaos: install-test
	$(BIN)/python bench/chaos.py --trials $(CHAOS_N)

# CI's short version (< 3 min): one trial of each engine fault, with a short freeze and lock
chaos-smoke: install-test
	$(BIN)/python bench/chaos.py --trials 3 --freeze 5 --lock 6

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
