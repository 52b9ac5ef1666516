"""ConMerge Assistant Unit (hw/cau.py) against the golden ConMerge rule of its configuration
(greedy, or ``window`` with ``cau_window`` open blocks and the ``cau_sort`` order), word for
word, under Icarus and Verilator; plus its timing function."""

import os

import pytest

from exion.config import preset
from golden.cycle_model import cau_cycles, group_beats
from sim.runner import SIMULATORS, run_bench

CONFIGS = {
    "exion": preset("exion"),                       # 16 x 16, D = 2
    "toy_d1": preset("toy", merge_degree=1),        # 8 x 3, condense only
    "toy_d3": preset("toy", merge_degree=3),
    "toy_w2_sort": preset("toy", cau_window=2, cau_sort=1),       # D = 2
    "toy_w3_d3": preset("toy", merge_degree=3, cau_window=3),
    "w4_sort": preset("toy", rows=4, cols=2, merge_degree=4, cau_window=4, cau_sort=1),
    # several channels a cycle: the same words, fewer cycles
    "toy_r2": preset("toy", cau_rate=2),
    "toy_w2_sort_r4": preset("toy", cau_window=2, cau_sort=1, cau_rate=4),
    "w2_d3_r3": preset("toy", rows=4, cols=2, merge_degree=3, cau_window=2, cau_rate=3),
    # best fit (cau_fit = 1): the fullest fitting slot
    "toy_best_d3": preset("toy", merge_degree=3, cau_fit=1),
    "toy_w2_sort_best_r4": preset("toy", cau_window=2, cau_sort=1, cau_fit=1, cau_rate=4),
    "w4_d4_sort_best_r4": preset("toy", rows=4, cols=2, merge_degree=4, cau_window=4, cau_sort=1,
                                 cau_fit=1, cau_rate=4),
}


#: Every configuration under Icarus; the sorted best-fit two-block window placing four channels
#: a cycle also under Verilator (the greedy CAU runs under Verilator inside the 4 x 4 core of
#: tests/test_core.py, the sorted window at two a cycle inside its 8 x 3 core). A Verilator
#: build costs 45 s (toy) to 80 s (16 x 16), mostly fixed cost, so one small design per extra
#: simulator keeps the regression inside its time budget.
CASES = [(name, "icarus") for name in CONFIGS] + [("toy_w2_sort_best_r4", s) for s in SIMULATORS
                                                  if s != "icarus"]
#: The resident mode (the ``resident`` input, a SCHEDULE's ``RESIDENT`` flag) on the same
#: builds: first and best fit, one and several open blocks, merge degree 1 to 4, several
#: channels a cycle, a non-power-of-two column count (the 8 x 3 toy: ``j % 3`` in RTL).
RESIDENT = ["toy_d1", "toy_w2_sort", "toy_w3_d3", "w4_sort", "toy_w2_sort_r4",
            "toy_w2_sort_best_r4", "w4_d4_sort_best_r4"]
RES_CASES = [(name, "icarus") for name in RESIDENT] + [("toy_w2_sort_best_r4", s)
                                                       for s in SIMULATORS if s != "icarus"]
if os.environ.get("EXION_CAU_ALL_SIMS"):  # every configuration under every simulator
    CASES = [(name, s) for name in CONFIGS for s in SIMULATORS]
    RES_CASES = [(name, s) for name in CONFIGS for s in SIMULATORS]


@pytest.mark.rtl
@pytest.mark.parametrize("name,sim", CASES)
def test_cau(sim, name):
    run_bench(CONFIGS[name], "cau", sim, "sim.tb_cau")


@pytest.mark.rtl
@pytest.mark.parametrize("name,sim", RES_CASES)
def test_cau_resident(sim, name):
    """The resident rule, word for word and cycle for cycle (sim/tb_cau.py)."""
    run_bench(CONFIGS[name], "cau", sim, "sim.tb_cau", extra_env={"EXION_CAU_RESIDENT": "1"})


def test_cau_cycles_formula():
    assert cau_cycles(group_beats([0] * 16, 8)) == 2 + 1
    assert cau_cycles(group_beats([1, 0, 3] + [0] * 13, 8)) == 2 + 1 + 1
    assert cau_cycles(group_beats([0] * 16, 8, skip_empty=True)) == 1 + 1
    assert cau_cycles(group_beats([], 8)) == 2
    # W open blocks: the flush emits min(W, blocks) of them, one a cycle, at least one cycle
    beats = group_beats([1, 0, 3] + [0] * 13, 8)
    assert cau_cycles(beats, window=1, blocks=5) == 2 + 1 + 1
    assert cau_cycles(beats, window=4, blocks=0) == 2 + 1 + 1
    assert cau_cycles(beats, window=4, blocks=3) == 2 + 1 + 3
    assert cau_cycles(beats, window=2, blocks=3) == 2 + 1 + 2


def test_best_fit_rule():
    """Best fit takes the fitting slot whose OR has the most set bits; first fit the lowest."""
    from golden.conmerge_rules import window_blocks, window_group
    # a -> slot 0; b conflicts with a -> slot 1; c fits both: first fit slot 0 (1 row set),
    # best fit slot 1 (2 rows set)
    assert window_group([0, 1, 2], [1, 3, 8], 2, 2, 1, fit="first")[2:] == ([0, 1, 0],
                                                                          [0, 0, 1])
    assert window_group([0, 1, 2], [1, 3, 8], 2, 2, 1, fit="best")[2:] == ([0, 1, 1],
                                                                         [0, 0, 1])
    # ties go to the lowest slot
    assert window_group([0, 1, 2], [1, 1, 2], 2, 2, 1, fit="best")[2:] == ([0, 1, 0], [0, 0, 1])
    # a full slot (merge degree reached) is not a fit, however full its rows
    assert window_group([0, 1, 2], [3, 4, 8], 2, 2, 1, fit="best")[2:] == ([0, 0, 1], [0, 1, 0])
    # best fit puts 1100 beside 0011 and 1110 beside 0001: one block of 2 slots; first fit
    # puts 1100 beside 0001, and 1110 then fits nowhere: a second block
    cvs = [0b0001, 0b0011, 0b1100, 0b1110]
    assert window_blocks(cvs, 2, 2, 2, fit="first") == 2
    assert window_blocks(cvs, 2, 2, 2, fit="best") == 1
    with pytest.raises(ValueError, match="fit"):
        window_group([0], [1], 2, 2, 1, fit="worst")


def test_cau_cycles_rate():
    from golden.conmerge_rules import window_emits
    beats = group_beats([1, 2, 4, 8, 16, 0, 3, 5], 8)        # one beat, 7 nonzero lanes
    assert cau_cycles(beats, rate=1) == 7 + 1
    assert cau_cycles(beats, rate=2) == 4 + 1
    assert cau_cycles(beats, rate=4) == 2 + 1
    # an emitting placement starts a cycle: [0, 1] [2 3 4 5] [6]
    assert cau_cycles(beats, rate=4, emits=[False, False, True] + [False] * 4) == 3 + 1
    assert cau_cycles(beats, rate=4, emits=[True] + [False] * 6) == 2 + 1
    assert cau_cycles(beats, rate=1, emits=[True] * 7) == 7 + 1
    assert cau_cycles(group_beats([0] * 16, 8), rate=4) == 2 + 1
    # one slot of one stream: every channel after the first emits the block before it
    assert window_emits([1, 1, 0, 1], 1, 1) == [False, True, True]
    assert window_emits([1, 2, 4], 2, 2, 1) == [False, False, False]
