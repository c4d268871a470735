PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench

$(BIN)/mapper: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,synth]"
	# tinysoundfont renders `mapper dataset synth`; --no-deps skips pyaudio (live playback only, needs PortAudio)
	$(BIN)/pip install -q --no-deps tinysoundfont==0.3.7
	touch $(BIN)/mapper

install: $(BIN)/mapper

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py
