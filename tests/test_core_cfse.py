"""The core's CFSE commands (hw/core_cfse.py: GELU, RESIDUAL, LAYERNORM, SOFTMAX) end to end
through the host interface under Icarus and Verilator, against the command-level model
(sim/tb_core_cfse.py): an on-chip FC1 -> GELU -> FC2 chain with the GELU keep-mask, seeded
random commands and extremes with their CYCLES, every check's cause."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_cfse(sim):
    run_bench(CONFIGS["4x4"], "core", sim, "sim.tb_core_cfse")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_cfse_mhalf(sim):
    """Mask-memory halves of GELU's keep-mask and SOFTMAX's key mask (sim/tb_core_cfse_mhalf.py):
    each half bit-exact, the refusals, a split SCHEDULE beside a GELU on the other half."""
    run_bench(CONFIGS["4x4"], "core", sim, "sim.tb_core_cfse_mhalf")
