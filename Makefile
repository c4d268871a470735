PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench

$(BIN)/mapper: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/mapper

install: $(BIN)/mapper

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py
