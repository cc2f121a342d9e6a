# Two commands for a newcomer: `make demo` and `make test`; both install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install test demo bench notebooks lint clean

install: $(STAMP)

# torch goes in first, pinned, so that no other requirement pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e ".[dev,ray,notebooks]"
	touch $(STAMP)

test: install
	$(BIN)/ruff check interp probes tests bench
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/interp study

bench: install
	$(BIN)/python -m bench

# The notebooks, executed in place on the demo zoos (committed with their outputs).
notebooks: install
	cd notebooks && ../$(BIN)/python execute.py

lint: install
	$(BIN)/ruff check interp probes tests bench
	$(BIN)/ruff format --check interp probes tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
