"""ConMerge Assistant Unit (hw/cau.py) against the golden greedy ConMerge, word for word, under
Icarus and Verilator; plus its timing function."""

import pytest

from exion.config import preset
from hw.cau import cau_cycles, group_beats
from sim.runner import SIMULATORS, run_bench

CONFIGS = {
    "exion": preset("exion"),                       # 16 x 16, D = 2
    "toy_d1": preset("toy", merge_degree=1),        # 8 x 3, condense only
    "toy_d3": preset("toy", merge_degree=3),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_cau(sim, name):
    run_bench(CONFIGS[name], "cau", sim, "sim.tb_cau")


def test_cau_cycles_formula():
    assert cau_cycles(group_beats([0] * 16, 8)) == 2 + 1
    assert cau_cycles(group_beats([1, 0, 3] + [0] * 13, 8)) == 2 + 1 + 1
    assert cau_cycles(group_beats([0] * 16, 8, skip_empty=True)) == 1 + 1
    assert cau_cycles(group_beats([], 8)) == 2
