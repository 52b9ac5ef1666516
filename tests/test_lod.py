"""Leading-one detector (hw/lod.py), exhaustive over all data_width-bit inputs, under Icarus and
Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_lod_exhaustive(sim):
    run_bench(preset("exion"), "lod", sim, "sim.tb_lod")
