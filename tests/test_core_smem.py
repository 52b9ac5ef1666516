"""The SMEM transfer engine (hw/core_smem.py): ``STORE_SMEM`` / ``LOAD_SMEM`` through the master
port, schedule reuse over FFN-Reuse's sparse iterations, under Icarus and Verilator on the two
small configurations of tests/test_core.py (shared builds), against cocotbext-axi's AxiRam with
random pauses on every channel (sim/tb_core_smem.py); and the golden side (golden/core_smem.py)
on its own: the checks, the memory image, the cycle functions."""

import pytest

from exion.regmap import encode
from golden import core_mem, core_smem, dma
from golden.core_model import CoreModel
from golden.schedule import pack_block
from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_smem(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_smem")


@pytest.mark.rtl
def test_core_smem_bus32():
    """A 32-bit port: a block spans several bus words (the block register and the word
    select). Icarus only, the build of tests/test_core_dma.py's 32-bit case."""
    run_bench(CONFIGS["4x4"].replace(bus_width=32), "core", "icarus", "sim.tb_core_smem")
