# Two commands matter: `make demo` and `make test`. Both set up .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint docs prior setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/affordhand demo

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks examples docs
	$(BIN)/ruff check src tests benchmarks examples docs

# The whole suite: lint, the documentation (warnings are errors) and every test.
test: lint docs
	$(BIN)/python -m pytest

# The daily loop: lint and the tests not marked slow, browser or wheel (under two minutes on 2 cores).
test-fast: lint
	$(BIN)/python -m pytest -m "not slow and not browser and not wheel"

# The documentation site (Sphinx, furo, MyST, sphinx-argparse) into docs/_build/html; warnings are errors.
docs: $(STAMP)
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html

# Rebuild the shipped prior from scratch (see README for the time it takes).
prior: $(STAMP)
	$(BIN)/affordhand build-prior --seed 0

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache docs/_build
