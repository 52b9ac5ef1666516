"""The CFSE row units (hw/cfse_rows.py: LayerNorm + adaLN and softmax of every row at once)
against golden.cfse, bit for bit, and their cycles against golden.cycle_model, under Icarus
and Verilator (sim/tb_cfse_rows.py), at 4 rows."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_cfse_rows(sim):
    run_bench(CONFIGS["4x4"], "cfse_rows", sim, "sim.tb_cfse_rows")
