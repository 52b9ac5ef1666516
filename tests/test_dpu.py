"""DPU (hw/dpu.py) against the golden model, under Icarus and Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

CONFIGS = {
    "exion": preset("exion"),
    # operand_stages = 1: the operand register after the weight switch (latency 1 + 2).
    "l4_m3_s2_o1": preset("toy", lanes=4, merge_degree=3, adder_stages=2, operand_stages=1,
                          acc_width=28),
    "l1_m1_s0": preset("toy", lanes=1, merge_degree=1, adder_stages=0, acc_width=24),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_dpu(sim, name):
    run_bench(CONFIGS[name], "dpu", sim, "sim.tb_dpu")
