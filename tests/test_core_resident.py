"""Resident weights on the core (sim/tb_core_resident.py): a sparse GEMM with RESIDENT reads
a channel window's weights in place, against the command-level model, under Icarus and
Verilator with random pauses on every bus and stream, on the core tests' two
configurations (merge degree 2 on 4 columns: the class a shift; 3 on 3: a reciprocal); also
row groups side by side in one IMEM buffer, read by dense and resident GEMMs at their
``ibase`` (activations resident), and ``ibase + kc`` past IMEM refused."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_resident(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_resident")
