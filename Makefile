# Quick start: `make demo` runs the demo, `make test` runs the tests, `make lint` checks format and lint.
# Each creates .venv on first use and installs the package with what it needs: the demo only the
# library and the experiments extra (no torch); the tests and lint add pytest, ruff and the PyTorch oracles.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_STAMP := $(VENV)/.demo-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: demo test test-all lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[experiments]'
	touch $(DEMO_STAMP)

# torch/torchvision are the parity oracles (optional extra), pinned to one pair that imports together.
$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[test,torch,experiments]'
	touch $(TEST_STAMP) $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m experiments.demo

# Tests of one file share a worker (--dist loadfile): some reuse outputs of earlier tests in the file.
# The default suite (CI) leaves out tests marked slow: the measured receptive field of every
# deep registry model (float64 gradients, minutes each on 2 cores). `make test-all` runs them.
test: $(TEST_STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

test-all: $(TEST_STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

# ruff (in the test extra) with the settings of pyproject.toml: formatting first, then the lint rules.
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

bench: $(TEST_STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
