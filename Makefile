# Two commands set up and run everything on a fresh machine: `make demo` and `make test` (docs build and tests).
# torch is installed first, pinned, so that the range in pyproject is already met by the CPU wheel
# and pip never pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
# Where pip would otherwise take PyPI's default Linux wheel (a CUDA build), e.g.
# make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: install demo test lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: install
	$(BIN)/graphkd distill --out runs/demo

# The docs first: a broken link or API reference fails the build (--strict), and pytest's summary stays last.
test: install
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check graphkd tests benchmarks examples
