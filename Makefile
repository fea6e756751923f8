# Every target creates or reuses .venv itself: a fresh machine needs only Python 3.11+.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SRC_DIRS := src tests bench examples scripts

.PHONY: demo test lint typecheck pytest coverage bench load docs clean

$(STAMP): pyproject.toml hatch_build.py src/consentgate/html/_speedups.c
	@if [ -z "$(PYTHON)" ]; then echo "consentgate needs Python 3.11 or newer on PATH"; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,selftest,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/consentgate demo

lint: $(STAMP)
	$(BIN)/ruff format --check $(SRC_DIRS)
	$(BIN)/ruff check $(SRC_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The same run with branch coverage. Not part of `make test`: on CPython 3.11 the tracer more
# than doubles the time of the rewriter's tests, and the CI run must stay under 20 minutes.
coverage: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/rewrite.py
	$(BIN)/python bench/audit.py

load: $(STAMP)
	$(BIN)/python tests/load/run_load.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage
