"""The AXI4 master (hw/dma.py) against cocotbext-axi's AxiRam and golden/dma.py, under Icarus
and Verilator: random descriptors with random pauses on every channel and stream, extremes,
cycle timing with a fixed-latency memory, refused descriptors and bus errors."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: Bus widths: 32 bits (4 KB pages of 1024 beats, so 256-beat bursts are the limit) and 128.
CONFIGS = {"bus32": preset("exion", rows=2, cols=2, lanes=2, bus_width=32),
           "bus128": preset("exion", rows=2, cols=2, lanes=2, bus_width=128)}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_dma(sim, name):
    run_bench(CONFIGS[name], "dma", sim, "sim.tb_dma")
