"""The N-core top (hw/multicore.py) through its one control port (sim/tb_multicore.py), and
its AXI4-Lite demultiplexer's parameter checks (hw/axil_demux.py)."""

import pytest

from exion.config import preset
from exion.regmap import RegisterMap
from hw.axil_demux import AxiLiteDemux
from sim.runner import run_bench

#: Two small cores (the core bench's "4x4"), and three of them: a core select with an unmapped
#: value (3 of 4), whose DECERR the address-space test checks.
CONFIGS = {
    "2x4x4": preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                    omem_bank_bytes=96, schedule_depth=16, cores=2, name="exion"),
    "3x4x4": preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                    omem_bank_bytes=96, schedule_depth=16, cores=3, name="exion"),
}


#: Simulator runs: two cores on Icarus, three (the same bench with the unmapped select's
#: DECERR on top) on Verilator: each case on both took 4-5 minutes of the regression's CPU.
RUNS = [("icarus", "2x4x4"), ("verilator", "3x4x4")]


@pytest.mark.rtl
@pytest.mark.parametrize("sim, name", RUNS)
def test_multicore(sim, name):
    run_bench(CONFIGS[name], "multicore", sim, "sim.tb_multicore")


def test_address_map():
    """Core i at i * core_stride: the stride covers a core's whole window; the select bits
    cover every core."""
    for cores in (1, 2, 3, 4, 24, 64):
        m = RegisterMap(preset("exion", cores=cores))
        assert m.core_stride == 1 << m.addr_width
        assert (1 << (m.top_addr_width - m.addr_width)) >= cores
        assert m.manifest()["core_stride"] == m.core_stride
        assert f"#define EXION_CORE_STRIDE 0x{m.core_stride:X}u" in m.c_header()


@pytest.mark.parametrize("kw, name", [
    (dict(ports=0, port_addr_width=12), "ports"),
    (dict(ports=65, port_addr_width=12), "ports"),
    (dict(ports=2, port_addr_width=3), "port_addr_width"),
    (dict(ports=2, port_addr_width=27), "port_addr_width"),
])
def test_demux_bad_parameters(kw, name):
    with pytest.raises(ValueError, match=name):
        AxiLiteDemux(**kw)
