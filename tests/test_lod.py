"""Leading-one detector (hw/lod.py), exhaustive over all data_width-bit inputs, under Icarus and
Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: One bundle design (hw.predictor.EagerUnits: LOD, predictor, selector) serves
#: tests/test_lod.py, test_predictor.py and test_selector.py, so each simulator builds it once.
#: 12-bit operands (the LOD test is exhaustive over all 4096), 4 predictor lanes, and
#: ep_k = 0.125, which gives the selector an 8-entry top-k list for 64 keys; the predictor's
#: operand register (operand_stages = 1, the FPGA build's; the cores test it without).
CFG = preset("toy", lanes=4, acc_width=28, ep_k=0.125, operand_stages=1)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_lod_exhaustive(sim):
    run_bench(CFG, "eager_units", sim, "sim.tb_lod")
