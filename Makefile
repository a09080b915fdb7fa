# Two commands do everything on a fresh machine:
#   make run    set up, prepare the embedded corpus, train the quick-start model, evaluate, sample
#   make test   set up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqgen-installed

.PHONY: setup run test test-slow test-cluster cluster-packages bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "seqgen needs Python >= 3.10")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/seqgen-prepare data=text_embedded
	$(BIN)/seqgen-train experiment=text_quickstart

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# Real engines on this machine (docs/cluster.md): a one-node SLURM (Debian's slurm-wlm and munge,
# run as root), submitit through it, a Ray head on 127.0.0.1. About 10 minutes on 2 cores.
test-cluster: setup cluster-packages
	$(BIN)/python -m pytest -q -s -m cluster tests/cluster

cluster-packages:
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge)

bench: setup
	$(BIN)/python benchmarks/text_throughput.py
	$(BIN)/seqgen-prepare data=text_embedded
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/handwriting_synthesis.py
	$(BIN)/python benchmarks/sweep_overhead.py
	$(BIN)/python benchmarks/ddp_scaling.py

clean:
	rm -rf outputs multirun data
