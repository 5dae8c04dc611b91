# Entry points: `make train`, `make test` (the whole suite, what CI runs) and `make test-fast` (the suite without
# the tests marked slow, for the development loop). All create .venv and install snnlab on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: install train test test-fast lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

train: install  ## default run: python train.py $(ARGS)
	$(BIN)/python train.py $(ARGS)

test: install  ## the test suite (GPU tests skip without CUDA/CuPy)
	$(BIN)/python -m pytest -q $(ARGS)

test-fast: install  ## the suite without the tests marked slow (end-to-end runs, DDP, recipes): under 2 min on 2 cores
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python scripts/bench_neurons.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
