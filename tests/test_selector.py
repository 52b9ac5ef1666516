"""Key selector (hw/selector.py) against golden.eager.select, under Icarus and Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: ep_k = 0.125 gives an 8-entry list for 64 keys (the generated default for this config).
CFG = preset("toy", ep_k=0.125)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_selector(sim):
    run_bench(CFG, "selector", sim, "sim.tb_selector")
