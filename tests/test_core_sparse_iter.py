"""A whole FFN-Reuse loop with the CAU overlapped on the core (sim/tb_core_sparse_iter.py):
mask-memory and SMEM halves, the dense FFN_MASK GEMM of the next group beside the SCHEDULE of
this one and the SCHEDULE of the next beside the sparse GEMM of this one, against the
command-level model, under Icarus and Verilator with random pauses on every bus and stream."""

import pytest

from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_sparse_iter(sim):
    run_bench(CONFIGS["4x4"], "core", sim, "sim.tb_core_sparse_iter")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_sparse_iter_resident(sim):
    """The FFN loop with RESIDENT SCHEDULEs (the CAU's resident rule), three groups."""
    run_bench(CONFIGS["4x4"], "core", sim, "sim.tb_core_sparse_iter", testcase="ffn_loop",
              extra_env={"EXION_ITER_RESIDENT": "1", "EXION_ITER_GROUPS": "3"})
