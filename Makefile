# The series in two commands:  make run   (execute every notebook into build/)
#                              make test  (unit tests + nbval checks of the notebooks)
# Both work offline with the assets bundled in data/. `make test` is always offline; for `make run`,
# HF_HUB_OFFLINE=0 lets the notebooks use the Hugging Face Hub when it can be reached.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: run test assets bench notebooks readme clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) src/mlm_tutorial/preflight.py --venv $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

## Execute every notebook headless into build/ (or $MLM_TUTORIAL_BUILD): .ipynb, HTML, slides, student copies.
run: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m mlm_tutorial.notebook_tools run

## Unit tests and nbval checks of the notebooks, offline.
test: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

## Rebuild the bundled tokenizers and models from data/news (maintainers; takes up to 15 minutes).
assets: $(VENV)/.installed
	$(PY) -m mlm_tutorial.assets build --out data

## Speed benchmarks: writes build/bench.json and prints a table.
bench: $(VENV)/.installed
	$(PY) benchmarks/run.py

## Maintainers: write the Colab install cells, slide types and titles, then re-execute the source notebooks in
# place so their stored outputs are fresh.
# Notebook 00 runs last (its map of the series reads the others); a notebook that fails keeps its outputs.
# Refuses to start (and changes nothing) while build/checkpoints holds earlier training runs: run `make clean` first.
notebooks: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m mlm_tutorial.notebook_tools refresh --sync
	$(PY) -m mlm_tutorial.notebook_tools readme

## Regenerate the README's notebook table (from the notebooks) and performance section (from benchmarks/reference_run.json).
readme: $(VENV)/.installed
	$(PY) -m mlm_tutorial.notebook_tools readme

clean:
	rm -rf build
