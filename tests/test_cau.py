"""ConMerge Assistant Unit (hw/cau.py) against the golden greedy ConMerge, word for word, under
Icarus and Verilator; plus its timing function."""

import os

import pytest

from exion.config import preset
from golden.cycle_model import cau_cycles, group_beats
from sim.runner import SIMULATORS, run_bench

CONFIGS = {
    "exion": preset("exion"),                       # 16 x 16, D = 2
    "toy_d1": preset("toy", merge_degree=1),        # 8 x 3, condense only
    "toy_d3": preset("toy", merge_degree=3),
}


#: Every configuration under Icarus; the toy D = 3 one also under Verilator. A Verilator build
#: costs 45 s (toy) to 80 s (16 x 16), mostly fixed cost, so one small design per extra
#: simulator keeps the regression inside its time budget.
CASES = [(name, "icarus") for name in CONFIGS] + [("toy_d3", s) for s in SIMULATORS
                                                  if s != "icarus"]
if os.environ.get("EXION_CAU_ALL_SIMS"):  # every configuration under every simulator
    CASES = [(name, s) for name in CONFIGS for s in SIMULATORS]


@pytest.mark.rtl
@pytest.mark.parametrize("name,sim", CASES)
def test_cau(sim, name):
    run_bench(CONFIGS[name], "cau", sim, "sim.tb_cau")


def test_cau_cycles_formula():
    assert cau_cycles(group_beats([0] * 16, 8)) == 2 + 1
    assert cau_cycles(group_beats([1, 0, 3] + [0] * 13, 8)) == 2 + 1 + 1
    assert cau_cycles(group_beats([0] * 16, 8, skip_empty=True)) == 1 + 1
    assert cau_cycles(group_beats([], 8)) == 2
