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
