# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install everything, run the default DAG (SmolLM2 on CPU, real samples)
#   make test   create .venv, install everything, run the test suite
# torch is pinned to 2.13.0: on the project's CPU machines that installs the CPU build from local disk;
# on a cluster pip takes the usual build for it.

VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.goldenlayers-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test test-fast dry-run lint report publish clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,slurm]'
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --profile profiles/default

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not slurm"

dry-run: $(STAMP)
	$(BIN)/snakemake -n --quiet rules
	$(BIN)/snakemake -n --quiet rules --configfile config/paper.yaml

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/paper.yaml

report: $(STAMP)
	$(BIN)/snakemake --cores 1 --profile profiles/default --report results/report.html

clean:
	rm -rf results logs benchmarks/*/ .snakemake
