PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench starter-model

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

# The bundled starter model (models/starter/), re-made: the synthetic songs, Debian's two redistributable
# Frets on Fire song packages (needs apt-get and dpkg-deb), CPU training with one torch thread, then the
# fp16 export. v2 (the timing given in its context, profiles/starter.yaml) starts from v1's weights, read
# from git at STARTER_V1 (v1 is `make starter-model` at that commit: 3000 steps from scratch), so one
# command re-makes v2 from the same start. The bundled model is this recipe's run as it stands; its card
# (models/starter/card.json, "training") records the command, steps and time.
STARTER_DATA ?= runs/starter-data
STARTER_STEPS ?= 1000
STARTER_V1 ?= 9f19ed7
STARTER_V1_FILES = config.json model.safetensors tokenizer.json profile.json
starter-model: install
	$(BIN)/mapper dataset synth --out $(STARTER_DATA)/synth --songs 60 --seconds 60 --seed 16
	mkdir -p $(STARTER_DATA)/fof && cd $(STARTER_DATA)/fof && apt-get download fretsonfire-songs-muldjord fretsonfire-songs-sectoid \
		&& for deb in *.deb; do dpkg-deb -x $$deb x; done
	$(BIN)/mapper dataset fof --src $(STARTER_DATA)/fof/x/usr/share/games/fretsonfire/data/songs --out $(STARTER_DATA)/synth
	mkdir -p runs/starter-v1 && for name in $(STARTER_V1_FILES); do \
		git show $(STARTER_V1):models/starter/$$name > runs/starter-v1/$$name || exit 1; done
	OMP_NUM_THREADS=1 $(BIN)/mapper train --profile profiles/starter.yaml --data $(STARTER_DATA)/synth \
		--init runs/starter-v1 --out runs/starter --workers 0 --cpu --max-steps $(STARTER_STEPS)
	$(BIN)/python -m training.starter_bundle export runs/starter
