"""Key selector (hw/selector.py) against golden.eager.select, under Icarus and Verilator."""

import pytest

from exion.config import preset

from sim.runner import SIMULATORS, run_bench

#: The configuration of tests/test_lod.py (the same bundle design, built once per simulator).
CFG = preset("toy", lanes=4, acc_width=28, ep_k=0.125, operand_stages=1)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_selector(sim):
    run_bench(CFG, "eager_units", sim, "sim.tb_selector")
