# Two commands do everything on a fresh machine:
#   make run    set up, prepare the embedded corpus, train the quick-start model, evaluate, sample
#   make test   set up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqgen-installed

.PHONY: setup run test test-slow bench clean image image-fashion fashion-mnist-data

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

bench: setup
	$(BIN)/python benchmarks/text_throughput.py
	$(BIN)/seqgen-prepare data=text_embedded
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/handwriting_synthesis.py
	$(BIN)/python benchmarks/sweep_overhead.py
	$(BIN)/python benchmarks/ddp_scaling.py
	$(BIN)/python benchmarks/mdlstm.py --minutes 3 --datasets digits

# The image family: the embedded 8x8 digits, then (optionally) Fashion-MNIST from Debian's package.
image: setup
	$(BIN)/seqgen-prepare data=image_digits
	$(BIN)/seqgen-train experiment=image_quickstart

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
fashion-mnist-data:
	dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || ($(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist)

image-fashion: setup fashion-mnist-data
	$(BIN)/seqgen-prepare data=fashion_mnist

clean:
	rm -rf outputs multirun data
