"""The core's AXI4 master port (hw/core_dma.py) end to end, under Icarus and Verilator, on the
two small configurations of tests/test_core.py (shared builds): dense GEMM and an FFN-Reuse
sparse GEMM with all data through the port against cocotbext-axi's AxiRam, random pauses on
every AXI channel and AXI4-Lite, cycles and bytes against the model with no pauses, and bus
errors, misaligned and out-of-region transfers (sim/tb_core_dma.py)."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_dma(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_dma")


@pytest.mark.rtl
def test_core_dma_bus32():
    """A 32-bit port (4 bytes per beat) under the 4x4 core's 6-byte items: the unpacker's
    other regime (an item spans bus words, the bus never waits) and the packer's two words
    per OMEM beat, with the same cases. Icarus only: a second Verilator build of the core
    costs more than this file's share of `make test`; the paths are the same RTL, run under
    Verilator at 256 bits above."""
    run_bench(CONFIGS["4x4"].replace(bus_width=32), "core", "icarus", "sim.tb_core_dma")
