"""Cycle and traffic model: the timing formula on hand-computed cases and sanity properties."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from exion.config import ExionConfig
from golden.conmerge import STRATEGIES, schedule
from golden.cycle_model import (compare_strategies, compute_cycles, evaluate, format_table,
                                gemm_sequence_cycles, issue_interval, stream_bytes)
from golden.schedule import check_schedule

# rows 4, cols 2, lanes 4, adder_stages 1 -> pipeline_depth = 1 + 1 + 1 = 3
SMALL = ExionConfig(rows=4, cols=2, lanes=4, adder_stages=1, merge_degree=2)


def test_pipeline_depth_of_small():
    assert SMALL.pipeline_depth == 3


def test_operand_stage_adds_a_cycle_of_depth():
    # The DPU's operand register: one cycle more per run, and II where the pipeline binds it.
    o1 = SMALL.replace(operand_stages=1)
    assert o1.pipeline_depth == 4
    assert compute_cycles(1, 32, o1) == 8 + 4 + 2
    assert compute_cycles(3, 4, o1) == 2 * 4 + 1 + 4 + 2          # kc = 1: II = depth 4
    assert issue_interval(40, o1) == issue_interval(40, SMALL) == 10
    assert gemm_sequence_cycles([(2, 4), (3, 40)], o1) == 2 * 4 + 2 * 10 + 10 + 4 + 2


@pytest.mark.parametrize("blocks,k,expected", [
    (0, 10, 0),                       # nothing to do
    (1, 32, 8 + 3 + 2),               # kc = 8: one block, pipeline, drain
    (5, 10, 4 * 3 + 3 + 3 + 2),       # kc = 3 > cols: II = 3
    (3, 4, 2 * 3 + 1 + 3 + 2),        # kc = 1, cols = 2 < depth 3: II = pipeline_depth
    (3, 40, 2 * 10 + 10 + 3 + 2),     # kc = 10: II = kc
    (2, 9, 1 * 3 + 3 + 3 + 2),        # kc = ceil(9 / 4) = 3
])
def test_compute_cycles_by_hand(blocks, k, expected):
    assert compute_cycles(blocks, k, SMALL) == expected


@pytest.mark.parametrize("gemms,expected", [
    ([], 0),
    ([(0, 8)], 0),                                    # no blocks, no cycles
    ([(5, 10)], 4 * 3 + 3 + 3 + 2),                   # one command: compute_cycles
    ([(2, 32), (1, 32)], 2 * 8 + 8 + 3 + 2),          # kc = 8 twice: blocks every 8 cycles
    ([(2, 4), (3, 40)], 2 * 3 + 2 * 10 + 10 + 3 + 2),  # II 3 (depth), then II 10
    # an empty command: the SDUE drains before it, the run after it starts afresh
    ([(3, 40), (0, 4), (2, 4)], 2 * 10 + 10 + 3 + 2 + 1 * 3 + 1 + 3 + 2),
    # kc 10 then kc 1 < pipeline depth 3: the kc-1 block waits 10 + 3 - 1 = 12 cycles
    ([(2, 40), (1, 4)], 1 * 10 + 12 + 1 + 3 + 2),
    ([(1, 12), (1, 8)], 4 + 2 + 3 + 2),               # kc 3 then 2: gap 3 + 3 - 2 = 4
    ([(1, 8), (1, 12)], 3 + 3 + 3 + 2),               # kc 2 then 3: II 3
])
def test_gemm_sequence_by_hand(gemms, expected):
    assert gemm_sequence_cycles(gemms, SMALL) == expected


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 64)), min_size=1, max_size=5))
@settings(max_examples=50, deadline=None)
def test_gemm_sequence_is_one_run_when_commands_match(runs):
    """Commands of one K back to back cost what one command of all their blocks costs; a
    command of no blocks splits the sequence into runs that add up."""
    k = runs[0][1]
    same = [(n, k) for n, _ in runs]
    parts, cur = [], 0
    for n, _ in same:
        if n == 0:
            parts.append(cur)
            cur = 0
        cur += n
    parts.append(cur)
    want = sum(compute_cycles(p, k, SMALL) for p in parts)
    assert gemm_sequence_cycles(same, SMALL) == want
    with pytest.raises(ValueError):
        gemm_sequence_cycles([(1, 0)], SMALL)


def test_exion_default_numbers():
    cfg = ExionConfig()  # 16 x 16, 16 lanes, adder_stages 1 -> depth 3
    assert issue_interval(1152, cfg) == 72
    assert compute_cycles(4608, 1152, cfg) == 4607 * 72 + 72 + 3 + 16
    assert compute_cycles(10, 64, cfg) == 9 * 16 + 4 + 3 + 16  # drain-bound: II = cols


def test_drain_ports_by_hand():
    # 16 x 16, 16 lanes, depth 3: the drain takes 16 / D cycles.
    for d, ii64, ii32 in ((1, 16, 16), (2, 8, 8), (4, 4, 4), (8, 4, 3)):
        cfg = ExionConfig(drain_ports=d)
        assert issue_interval(64, cfg) == ii64      # kc = 4
        assert issue_interval(32, cfg) == ii32      # kc = 2; D = 8: II = pipeline_depth
        assert issue_interval(1152, cfg) == 72      # long reductions: unchanged
        assert compute_cycles(10, 64, cfg) == 9 * ii64 + 4 + 3 + 16 // d
    # K = 1 and K = lanes * cols on a 4 x 8 array with 2 ports, no adder stage (depth 2).
    cfg = ExionConfig(rows=4, cols=8, lanes=4, drain_ports=2, adder_stages=0)
    assert compute_cycles(3, 1, cfg) == 2 * 4 + 1 + 2 + 4
    assert compute_cycles(3, 32, cfg) == 2 * 8 + 8 + 2 + 4


def test_compute_cycles_rejects_bad_arguments():
    with pytest.raises(ValueError):
        compute_cycles(-1, 8, SMALL)
    with pytest.raises(ValueError):
        compute_cycles(1, 0, SMALL)


def test_traffic_by_hand():
    # 5 tokens, 4 channels, K = 8, 12-bit data; rows 4 -> 2 groups (second has 1 token).
    mask = np.array([[1, 0, 0, 0],
                     [0, 0, 0, 0],
                     [0, 1, 0, 0],
                     [0, 0, 0, 0],
                     [0, 0, 0, 1]], dtype=bool)
    cfg = SMALL.replace(wmem_bank_bytes=24)  # W = 8 * 4 * 12 bits = 48 B = 2 banks x 24 B
    s = schedule(mask, cfg, "condense")
    r = evaluate(s, mask, 8)
    assert r.blocks == 2 and r.kc == 2 and r.ii == 3  # II = pipeline_depth here
    assert r.compute_cycles == 1 * 3 + 2 + 3 + 2
    assert r.weight_resident  # fits: fetched once, only the 3 needed channels
    assert r.weight_bytes == 3 * 8 * 12 // 8
    assert r.act_bytes == 5 * 8 * 12 // 8
    assert r.out_bytes == 3 * 12 // 8 + 1  # 36 bits -> 5 bytes
    # not resident: per group, group 0 needs channels 0, 1; group 1 channel 3
    r2 = evaluate(s, mask, 9)
    assert not r2.weight_resident
    assert r2.weight_bytes == -(-3 * 9 * 12 // 8)
    d = evaluate(schedule(mask, cfg, "dense"), mask, 9)
    assert d.weight_bytes == 2 * 4 * 9 * 12 // 8  # dense fetches every channel per group
    total = d.weight_bytes + d.act_bytes + d.out_bytes
    assert d.memory_cycles == -(-total // 32)
    assert d.total_cycles == max(d.memory_cycles, d.compute_cycles)
    assert d.bound == ("memory" if d.memory_cycles > d.compute_cycles else "compute")
    # on-chip reads (kc = 3): dense group 0 tile 0 has rows 0, 2 and columns 0, 1 busy,
    # group 1 tile 1 row 0 and column 1; the other two tiles are idle
    assert d.imem_reads == (2 + 1) * 3 and d.wmem_reads == (2 + 1) * 3
    assert r.omem_writes == 3
    assert "strategy condense" in r.summary()


def test_bound_follows_bandwidth():
    rng = np.random.default_rng(1)
    mask = rng.random((32, 64)) < 0.3
    slow = ExionConfig(offchip_bytes_per_cycle=0.01)
    fast = ExionConfig(offchip_bytes_per_cycle=1e6)
    s = schedule(mask, slow, "greedy")
    assert evaluate(s, mask, 64).bound == "memory"
    s = schedule(mask, fast, "greedy")
    r = evaluate(s, mask, 64)
    assert r.bound == "compute" and r.total_cycles == r.compute_cycles


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3),
       st.sampled_from([1, 2, 4, 8]), st.integers(1, 70),
       arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 11)),
              elements=st.integers(0, 9)), st.integers(0, 10))
def test_utilization_and_ideal(rows, cols, degree, lanes, k, levels, thr):
    cfg = ExionConfig(rows=rows, cols=cols, lanes=lanes, merge_degree=degree, adder_stages=0)
    mask = levels < thr
    for strategy in STRATEGIES:
        s = schedule(mask, cfg, strategy)
        r = evaluate(s, mask, k)
        assert r.compute_cycles == compute_cycles(len(s.blocks), k, cfg)
        assert 0.0 <= r.utilization <= 1.0
        assert r.ideal_cycles <= r.compute_cycles or r.compute_cycles == 0
        assert r.total_cycles >= r.compute_cycles and r.total_cycles >= r.memory_cycles
        assert r.required_macs == int(mask.sum()) * k


def test_compare_strategies_table():
    rng = np.random.default_rng(2)
    mask = rng.random((48, 80)) < 0.1
    cfg = ExionConfig()
    reps = compare_strategies(mask, 64, cfg)
    assert [r.strategy for r in reps] == list(STRATEGIES)
    by = {r.strategy: r for r in reps}
    assert by["greedy"].compute_cycles <= by["condense"].compute_cycles
    assert by["condense"].compute_cycles <= by["dense"].compute_cycles
    assert by["condense"].weight_bytes <= by["dense"].weight_bytes
    table = format_table(reps)
    assert "greedy" in table and "x comp" in table
    for strategy in STRATEGIES:
        check_schedule(schedule(mask, cfg, strategy), mask)


def test_stream_bytes_by_hand():
    # SMALL: 4 x 2, 4 lanes of 12 bits (6-byte beats in), merge 2, OMEM words of 4 x 12 bits
    assert SMALL.data_width == 12
    cmds = [("LOAD_IMEM", {"count": 3}), ("LOAD_WMEM", {"count": 5, "streams": 1}),
            ("LOAD_WMEM", {"count": 2}), ("GEMM", {"kc": 9}), ("READ_OMEM", {"count": 7})]
    assert stream_bytes(cmds, SMALL) == (4 * 3 * 6 + 2 * 1 * 5 * 6 + 2 * 2 * 2 * 6, 7 * 6)
    assert stream_bytes([], SMALL) == (0, 0)
    odd = ExionConfig(rows=3, cols=2, lanes=2, data_width=5, adder_stages=1)  # 10, 15 bits
    assert stream_bytes([("LOAD_IMEM", {"count": 1}), ("READ_OMEM", {"count": 1})], odd) \
        == (3 * 2, 2)


def test_predict_cycles_operand_stage():
    """The predictors' operand register (operand_stages = 1): one cycle more per PREDICT, one
    more per lane chunk of outputs of a PREDICT_PROJ (the loop waits for each chunk's
    writes); 0 is the formula without it; anything else is refused."""
    from golden.cycle_model import PREDICT_OVERHEAD, predict_cycles, predict_proj_cycles

    assert predict_cycles(24, 4) == 24 * 4 + PREDICT_OVERHEAD + 3
    assert predict_cycles(24, 4, operand_stages=1) == predict_cycles(24, 4) + 1
    assert predict_cycles(1, 1, operand_stages=0) == 1 + 4 + 1
    # 9 channels over 4 lanes: 3 chunks
    assert predict_proj_cycles(9, 2, 4, 3, False, operand_stages=1) == 9 * 2 + 3 * (3 + 1 + 1)
    assert predict_proj_cycles(9, 2, 4, 3, True, operand_stages=1) == 9 * 2 + 3 * (3 + 1 + 3)
    assert (predict_proj_cycles(9, 2, 4, 3, True, operand_stages=1)
            - predict_proj_cycles(9, 2, 4, 3, True)) == 3
    for bad in (2, -1, True, 1.0):
        with pytest.raises(ValueError, match="operand_stages"):
            predict_cycles(4, 1, operand_stages=bad)
        with pytest.raises(ValueError, match="operand_stages"):
            predict_proj_cycles(4, 1, 4, 1, False, operand_stages=bad)


def test_core_model_passes_operand_stages():
    """The command-level model and the runtime's counting backend take the operand stage from
    their configuration: CYCLES of a PREDICT and a PREDICT_PROJ grow by the formula's amount."""
    from exion.regmap import encode
    from exion_tools.runtime.count_backend import CountBackend
    from golden.core_model import CoreModel

    cmds = [("PREDICT", dict(kc=2, topk=1, n_keys=10, n_rows=4, ibuf=0, wbuf=0)),
            ("PREDICT_PROJ", dict(kc=2, n_ch=9, n_rows=3, ibuf=0, wbuf=0, dbuf=1))]
    got = {}
    for stages in (0, 1):
        cfg = SMALL.replace(operand_stages=stages)
        for op, f in cmds:
            m = CoreModel(cfg)
            args, word = encode(op, **f)
            assert m.issue(args, word) == 0, m.regs.cause
            m.run()
            got[stages, op] = m.regs.cycles
            count = CountBackend(cfg)
            count.command(op, **f)
            assert count.reg("CYCLES") == m.regs.cycles
    assert got[1, "PREDICT"] - got[0, "PREDICT"] == 1
    assert got[1, "PREDICT_PROJ"] - got[0, "PREDICT_PROJ"] == 3
