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

.PHONY: install run test test-fast dry-run lint report slurm-profile record record-save easyedit-venv clean clean-all

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,slurm]'
	touch $@

# The DAG, then the HTML report, then the publish bundle again so that it holds the report.
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(MAKE) --no-print-directory report

# Results of record (config/record.yaml, committed under $(RECORD); README "Results of record"). Resumable:
# the saved outputs are put back, the model (and statistics) they read rebuilt, the restored files marked up to
# date with `snakemake --touch` (a checkout's file times are arbitrary), then the run continues and is saved.
RECORD ?= record/smollm2-135m
RECORD_CONFIG ?= config/record.yaml
record: $(STAMP)
	if [ -f $(RECORD)/SAVED.json ]; then \
	  $(BIN)/goldenlayers record-restore --record $(RECORD) --list .snakemake/restored.txt && \
	  $(BIN)/snakemake resume_inputs --configfile $(RECORD_CONFIG) --cores $(CORES) && \
	  $(BIN)/snakemake $$(cat .snakemake/restored.txt) --configfile $(RECORD_CONFIG) --cores 1 --touch --quiet; \
	fi
	$(BIN)/snakemake --configfile $(RECORD_CONFIG) --cores $(CORES)
	$(MAKE) --no-print-directory record-save

record-save: $(STAMP)
	$(BIN)/goldenlayers record-save --record $(RECORD)

# Test files run in $(TEST_WORKERS) parallel workers (pytest-xdist), each file on one worker so that its shared
# run or model is made once; many tests mostly wait (Snakemake and SLURM jobs starting), so 2 workers on 2 cores
# took 1.5x less wall time than one (README, Tests). TEST_WORKERS=0 runs the suite in one process, no workers.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not slurm" -n $(TEST_WORKERS) --dist loadfile

dry-run: $(STAMP)
	$(BIN)/snakemake -n --quiet rules
	$(BIN)/snakemake -n --quiet rules --configfile config/paper.yaml

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/paper.yaml

# results/report.html (every figure and table with its caption), then the publish rules rerun to bundle it.
# (Snakemake finds workflow/Snakefile and the workflow profile profiles/default from the repository root.)
report: $(STAMP)
	$(BIN)/snakemake --report results/report.html
	$(BIN)/snakemake --cores $(CORES)

# Installs profiles/slurm as the Snakemake profile named "slurm" (~/.config/snakemake/slurm, or under
# $$XDG_CONFIG_HOME), with the site settings from GL_SLURM_GPU_PARTITION, GL_SLURM_CPU_PARTITION and
# GL_SLURM_ACCOUNT or asked for. Then, from the repository root:  snakemake --cores 8 --profile slurm
slurm-profile: $(STAMP)
	$(BIN)/goldenlayers slurm-profile

# .venv-easyedit: EasyEdit's requirements (torch pinned to 2.13.0) for benchmarks/easyedit_side_by_side.py, from a
# checkout of zjunlp/EasyEdit at commit 14cea82:  make easyedit-venv EASYEDIT=/path/to/EasyEdit
easyedit-venv:
	@test -n "$(EASYEDIT)" || { echo "usage: make easyedit-venv EASYEDIT=/path/to/EasyEdit (a checkout of commit 14cea82)" >&2; exit 2; }
	scripts/setup-easyedit.sh "$(EASYEDIT)"

# What runs produce: results/, logs/ (job logs and Snakemake's benchmark files) and Snakemake's .snakemake/.
# clean-all also drops resources/ (downloaded models, data and corpora: slow to get again).
clean:
	rm -rf results logs .snakemake

clean-all: clean
	rm -rf resources
