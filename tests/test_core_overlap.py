"""ConMerge overlapped with compute on the core (sim/tb_core_overlap.py): an FFN-Reuse sparse
iteration over several row groups in the serial order and with SCHEDULE g + 1 in one SMEM half
beside the sparse GEMM of group g in the other, against the command-level model, under
Icarus and Verilator with random pauses on every bus and stream (bench/bench_core_overlap.py
prints the wall cycles without pauses)."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_overlap(sim):
    run_bench(CONFIGS["4x4"], "core", sim, "sim.tb_core_overlap")
