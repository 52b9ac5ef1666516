"""DPU (hw/dpu.py) against the golden model, under Icarus and Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

CONFIGS = {
    "exion": preset("exion"),
    "l4_m3_s2": preset("toy", lanes=4, merge_degree=3, adder_stages=2, acc_width=28),
    "l1_m1_s0": preset("toy", lanes=1, merge_degree=1, adder_stages=0, acc_width=24),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_dpu(sim, name):
    run_bench(CONFIGS[name], "dpu", sim, "sim.tb_dpu")
