"""CFSE GELU unit (hw/cfse.py) against golden.cfse.gelu, bit for bit, under Icarus and
Verilator: the edge set (segment boundaries, extremes, random codes) under both, every signed
16-bit input under Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: 4 lanes: the exhaustive run is 16384 beats per test.
CFG = preset("toy", lanes=4, acc_width=28, ep_k=0.125)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_cfse_gelu_edges(sim):
    run_bench(CFG, "cfse_gelu", sim, "sim.tb_cfse", extra_env={"CFSE_GELU_SPAN": "edges"})


@pytest.mark.rtl
def test_cfse_gelu_exhaustive_verilator():
    run_bench(CFG, "cfse_gelu", "verilator", "sim.tb_cfse",
              extra_env={"CFSE_GELU_SPAN": "all"})


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_cfse_softmax_rows(sim):
    run_bench(CFG, "cfse_softmax", sim, "sim.tb_cfse_softmax")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_cfse_layernorm_rows(sim):
    run_bench(CFG, "cfse_layernorm", sim, "sim.tb_cfse_layernorm")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_cfse_residual(sim):
    run_bench(CFG, "cfse_residual", sim, "sim.tb_cfse_residual")
