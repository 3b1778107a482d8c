# Quick start: `make demo` runs the demo, `make test` runs the tests.
# Both create .venv on first use and install the package with what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch/torchvision are the parity oracles (optional extra), pinned to the pair on local disk.
	$(PY) -m pip install -q -e '.[test,torch,experiments]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.demo

# Tests of one file share a worker (--dist loadfile): some reuse outputs of earlier tests in the file.
# The default suite (CI) leaves out tests marked slow: the measured receptive field of every
# deep registry model (float64 gradients, minutes each on 2 cores). `make test-all` runs them.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
