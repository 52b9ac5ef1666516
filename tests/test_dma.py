"""The AXI4 master (hw/dma.py) against cocotbext-axi's AxiRam and golden/dma.py, under Icarus
and Verilator: random descriptors with random pauses on every channel and stream, extremes,
cycle timing with a fixed-latency memory, refused descriptors and bus errors."""

import gc

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


@pytest.mark.parametrize("kw, msg", [
    (dict(bus_width=48), r"bus_width = 48 must be a power of two in \[32, 1024\]"),
    (dict(bus_width=2048), r"bus_width = 2048 is out of range \[32, 1024\]"),
    (dict(bus_width=64, addr_width=8), r"addr_width = 8 is out of range \[13, 64\]"),
    (dict(bus_width=64, read_outstanding=0), r"read_outstanding = 0 is out of range \[1, 64\]"),
    (dict(bus_width=64, write_outstanding=65), r"write_outstanding = 65 is out of range"),
    (dict(bus_width=64, max_burst=257), r"max_burst = 257 is out of range \[1, 256\]"),
])
# Amaranth tracks a component from its creation; a refused one is never elaborated, by design.
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_dma_parameters(kw, msg):
    from hw.dma import Dma
    with pytest.raises(ValueError, match=msg):
        Dma(**kw)
    gc.collect()    # the refused object's warning is raised here, under the filter above
