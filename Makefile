# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/exocortex: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/exocortex

## Index this repository, show what was indexed, and pack the context for a sample question.
run: install
	$(BIN)/exocortex index .
	$(BIN)/exocortex status .
	$(BIN)/exocortex pack "How does an index run decide which files to process again?" --budget 4k

## Install and run the whole test suite: the memory-bound tests (pytest-memray `limit_memory`)
## run once, in their own run with --memray, which is what enforces their limits.
test: install
	$(BIN)/python -m pytest -q -m "not limit_memory"
	$(BIN)/python -m pytest -q --memray -m limit_memory

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/exocortex

bench: install
	$(BIN)/python benchmarks/index_speed.py

clean:
	rm -rf $(VENV) .exocortex .pytest_cache .mypy_cache .ruff_cache
