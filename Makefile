# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   -> runs the main job (train on N-MNIST, simulate, crossbar, SpiNNaker, energy) into out/main
#   make test   -> runs the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out/main

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so that nothing pulls a CUDA build
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	# compile the event engine's kernels into numba's cache now, not in the user's first run
	$(PY) -m spiking.engines.warmup
	touch $@

.PHONY: install demo quickstart test bench-install
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/spiking run main --out $(OUT)

quickstart: $(VENV)/.installed
	$(VENV)/bin/spiking run quickstart --out out/quickstart

test: $(VENV)/.installed
	$(PY) -m pytest -q

# Peers for benchmarks/ and the live oracle tests (brian2, nest-simulator, snntorch, norse, spikingjelly,
# dcls, nir, neurobench; neurobench --no-deps: it asks for torchaudio, which would pull a CUDA torch).
bench-install: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -r requirements-bench.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -c constraints.txt norse==1.1.0 spikingjelly==2.0.0 neurobench==2.3.0
