"""golden/sparse_iteration.py: ConMerge overlapped with compute (a two-stage pipeline against an
event-by-event reference) and the loop-order model (weights, activations, blocks)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exion.config import ExionConfig, preset
from golden import conmerge
from golden.cycle_model import compute_cycles, issue_interval
from golden.core_gather import gather_bytes
from golden.core_mem import item_bytes
from golden.sparse_iteration import (core_iteration, dense_cycles, fetch_pipeline_cycles,
                                     group_work, iteration, loop_order, overlapped_cycles,
                                     serial_cycles, window_capacity)

CFG = ExionConfig(rows=4, cols=4, lanes=4, merge_degree=2, cau_window=2)


def ref_pipeline(work, k, cfg):
    """Block by block: the CAU schedules group g once it finished g - 1 and the SMEM half of
    group g - 2 is free (its last block issued, plus II: the block's own fetch slot); the
    SDUE issues each block II after the one before it, not before its group's schedule is
    done. End: the last block's issue plus its kc + pipeline + drain."""
    ii = issue_interval(k, cfg)
    issues = []                       # (group, issue time) of every block
    cau_free, last_issue, sched_done, end = 0, None, [], 0
    for g, (a, n) in enumerate(work):
        mine = [t for gg, t in issues if gg == g - 2]
        half_free = mine[-1] + ii if mine else 0
        cau_free = max(cau_free, half_free if g >= 2 else 0) + a
        sched_done.append(cau_free)
        for _ in range(n):
            t = cau_free if last_issue is None else max(cau_free, last_issue + ii)
            issues.append((g, t))
            last_issue = t
            end = t + compute_cycles(1, k, cfg)
        end = max(end, cau_free)
    return end


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 12)), min_size=1, max_size=12),
       st.sampled_from([16, 64, 384]))
def test_overlapped_pipeline(work, k):
    cfg = preset("exion")
    ii = issue_interval(k, cfg)
    o = overlapped_cycles(work, k, cfg)
    assert o == ref_pipeline(work, k, cfg)
    assert o <= serial_cycles(work, k, cfg)
    # never faster than either stage alone
    assert o >= sum(a for a, _ in work)
    assert o >= sum(n for _, n in work) * ii if any(n for _, n in work) else True


def test_overlap_examples():
    cfg = preset("exion")
    k = 384                                     # II = 24
    # one group: nothing to overlap
    assert overlapped_cycles([(100, 5)], k, cfg) == 100 + compute_cycles(5, k, cfg)
    # CAU-bound: schedule 300 per group, 5 blocks = 120 SDUE cycles
    work = [(300, 5)] * 4
    assert overlapped_cycles(work, k, cfg) == 4 * 300 + compute_cycles(5, k, cfg)
    # SDUE-bound: the first SCHEDULE, then every block back to back
    work = [(50, 10)] * 4
    assert overlapped_cycles(work, k, cfg) == 50 + 30 * 24 + compute_cycles(10, k, cfg)
    assert serial_cycles(work, k, cfg) == 4 * (50 + compute_cycles(10, k, cfg))
    assert overlapped_cycles([], k, cfg) == 0 == serial_cycles([], k, cfg)
    assert overlapped_cycles([(7, 0), (9, 0)], k, cfg) == 16


def test_group_work_and_iteration():
    rng = np.random.default_rng(5)
    mask = rng.random((10, 37)) < 0.3
    work = group_work(mask, CFG)
    sched = conmerge.cau_schedule(mask, CFG, token_sort="none")
    assert sum(b for _, b in work) == len(sched.blocks) and len(work) == 3
    r = iteration(mask, 32, CFG)
    assert r.blocks == len(sched.blocks)
    assert r.overlapped <= r.serial and r.steady <= r.overlapped
    assert r.dense == dense_cycles(10, 37, 32, CFG)
    assert r.ideal == pytest.approx(r.dense * mask.mean())
    ffd = group_work(mask, CFG, strategy="ffd")
    assert [a for a, _ in ffd] == [a for a, _ in work]   # the CAU's time stands in
    empty = iteration(np.zeros((4, 9), bool), 32, CFG)
    assert empty.blocks == 0 and empty.sdue == 0 and empty.overlapped == empty.cau


def test_loop_order_traffic():
    cfg = CFG
    k = 16                                              # 4 lanes: kc 4
    cap = window_capacity(k, cfg)
    assert cap == cfg.wmem_bank_bytes * cfg.cols * 8 // (k * cfg.data_width)
    rng = np.random.default_rng(9)
    mask = rng.random((12, 3 * cap)) < 0.05
    mask[:, 5] = False                                   # a channel no token needs
    per_group = loop_order(mask, k, cfg)                 # one window: weights per group
    assert not per_group.resident and per_group.window == 3 * cap
    gm = conmerge.group_masks(mask, conmerge.token_order(mask, cfg, "none"), cfg.rows)
    need = gm.any(axis=1)
    assert per_group.weight_bytes == -(-int(need.sum()) * k * 12 // 8)
    assert per_group.blocks == len(conmerge.cau_schedule(mask, cfg, token_sort="none").blocks)
    win = loop_order(mask, k, cfg, cap)                  # resident windows: weights once
    assert win.resident and win.window == cap
    assert win.weight_bytes == -(-int(need.any(axis=0).sum()) * k * 12 // 8)
    active = int(sum(gm[g].any() for g in range(len(gm))))
    assert per_group.act_bytes == -(-active * cfg.rows * k * 12 // 8)
    assert win.act_bytes >= per_group.act_bytes
    assert win.ideal_blocks == per_group.ideal_blocks
    assert win.total == max(win.compute, win.cau, win.memory)
    dense = loop_order(mask, k, cfg, cap, strategy="dense")
    assert dense.blocks == 3 * 3 * -(-cap // cfg.cols) and dense.cau == 0
    assert dense.out_bytes == mask.size * 12 // 8
    with pytest.raises(ValueError, match="window"):
        loop_order(mask, k, cfg, 0)
    # the extremes: all-zero (no blocks, no weights) and all-one masks
    zero = loop_order(np.zeros((8, 40), bool), k, cfg, 8)
    assert zero.blocks == 0 and zero.weight_bytes == 0 and zero.act_bytes == 0
    ones = loop_order(np.ones((8, 40), bool), k, cfg, 8)
    assert ones.blocks == 2 * 5 * 2 and ones.efficiency == pytest.approx(
        ones.ideal_blocks / ones.blocks)


def ref_fetch_pipeline(work, k, cfg):
    """Event by event: the CAU schedules group g after g - 1 once the SMEM half of g - 2 is
    free (its last block issued); the loader gathers g after g - 1 once g's vectors are in
    SMEM; each block issues II after the one before it, not before its group's gather."""
    ii = issue_interval(k, cfg)
    issued = {}                        # group -> issue time of its last block
    cau = load = 0
    last, end = None, 0
    for g, (a, f, n) in enumerate(work):
        cau = max(cau, issued.get(g - 2, 0) + (ii if g - 2 in issued else 0)) + a
        load = max(load, cau) + f
        for _ in range(n):
            t = load if last is None else max(load, last + ii)
            last = issued[g] = t
            end = t + compute_cycles(1, k, cfg)
        if not n:
            issued[g] = issued.get(g - 1, 0) if last is None else last
            # (a group of no blocks frees its half at once: the previous block's issue)
        end = max(end, load)
    return end


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 400), st.integers(1, 12)),
                min_size=1, max_size=12),
       st.sampled_from([4, 16, 64, 384]))
def test_fetch_pipeline(work, k):
    """The three-stage recurrence against the event-by-event reference; with no fetch it is
    the two-stage overlapped pipeline."""
    assert fetch_pipeline_cycles(work, k, CFG) == ref_fetch_pipeline(work, k, CFG)
    assert (fetch_pipeline_cycles([(a, 0, n) for a, _, n in work], k, CFG)
            == overlapped_cycles([(a, n) for a, _, n in work], k, CFG))


def test_core_iteration_extremes():
    """A full mask: the dense blocks (full columns do not merge), every weight row gathered
    once per group (bytes three groups over the minimum); an empty one: no blocks, no bytes,
    only the SCHEDULEs."""
    rng = np.random.default_rng(3)
    full = np.ones((12, 10), bool)
    r = core_iteration(full, 16, CFG)
    kc, ib = 4, item_bytes(CFG.lanes, CFG.rows, CFG.data_width)[0]
    row = -(-kc * ib // CFG.bus_bytes) * CFG.bus_bytes
    assert r.sparsity == 0 and r.blocks == r.ideal_blocks == 3 * -(-10 // CFG.cols)
    assert r.gather_bytes == 3 * 10 * row == 3 * r.min_bytes
    assert r.dense_compute == dense_cycles(12, 10, 16, CFG)
    empty = core_iteration(np.zeros((12, 10), bool), 16, CFG)
    assert empty.blocks == empty.gather_bytes == empty.min_bytes == empty.sdue == 0
    assert empty.gathered == empty.compute == empty.cau
    mask = rng.random((20, 24)) < 0.3
    r = core_iteration(mask, 32, CFG)
    sched = conmerge.cau_schedule(mask, CFG, token_sort="none")
    assert r.blocks == len(sched.blocks)
    assert r.gather_bytes == gather_bytes(sched.blocks, 8, CFG.cols, CFG.merge_degree,
                                          CFG.bus_bytes, ib)
    assert r.compute <= r.gathered and r.steady <= r.compute


def test_resident_iteration():
    """The resident loop order: window size, bytes, blocks against the resident rule per
    (window, group), the unconstrained rule with one window equal to core_iteration's blocks,
    and the fetch pipeline never faster than the on-chip one."""
    from golden.sparse_resident import (dense_window_cycles, resident_iteration,
                                        resident_window)
    cfg = preset("toy", merge_degree=2, cau_window=2, cau_rate=2)
    kc = 3
    k = kc * cfg.lanes
    assert resident_window(k, cfg) == cfg.cols * 2 * (cfg.words("wmem") // kc)
    rng = np.random.default_rng(5)
    mask = rng.random((3 * cfg.rows + 2, 50)) < 0.2
    mask[:, 7] = False                                   # a channel nobody needs
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    row = -(-kc * ib // cfg.bus_bytes) * cfg.bus_bytes
    for win in (12, 50):
        r = resident_iteration(mask, k, cfg, win)
        assert r.windows == -(-50 // win) and r.window == win
        assert r.weight_bytes == r.min_weight_bytes == int(mask.any(axis=0).sum()) * row
        assert r.act_once == mask.shape[0] * kc * ib
        want = 0
        for w0 in range(0, 50, win):
            want += len(conmerge.cau_schedule(mask[:, w0:w0 + win], cfg, token_sort="none",
                                              resident=True).blocks)
        assert r.blocks == want
        assert r.cycles >= r.compute > 0
        assert r.act_bytes >= (r.act_once if win == 50 else 0)
    # one window, the unconstrained rule: core_iteration's blocks and on-chip pipeline
    one = resident_iteration(mask, k, cfg, 50, rule="cau")
    core = core_iteration(mask, k, cfg)
    assert (one.blocks, one.compute) == (core.blocks, core.compute)
    assert resident_iteration(mask, k, cfg, 50).blocks >= one.blocks
    # bandwidth: more bytes per cycle is never slower
    fast = resident_iteration(mask, k, cfg.replace(offchip_bytes_per_cycle=1024.0), 12)
    assert fast.cycles <= resident_iteration(mask, k, cfg, 12).cycles
    with pytest.raises(ValueError, match="rule"):
        resident_iteration(mask, k, cfg, rule="ffd")
    with pytest.raises(ValueError, match="window"):
        resident_iteration(mask, k, cfg, 0)
    cyc, nbytes = dense_window_cycles(mask.shape[0], 50, k, cfg)
    assert nbytes >= 50 * row + mask.shape[0] * kc * ib
    assert cyc >= dense_cycles(mask.shape[0], 50, k, cfg) - compute_cycles(1, k, cfg)


def test_acts_resident():
    """Activations resident (GEMM ibase): every token fetched once when the row groups' tiles
    fit IMEM (imem_buffers x floor(words / kc) groups), the same blocks and weights, never
    slower; refused when they do not fit (one word short of the boundary)."""
    from golden.sparse_resident import (dense_window_cycles, imem_groups,
                                        resident_iteration)
    cfg = preset("toy", merge_degree=2, cau_window=2, cau_rate=2)
    kc = 3
    k = kc * cfg.lanes
    rng = np.random.default_rng(6)
    tokens = 3 * cfg.rows + 2                            # 4 row groups, the last of 2 tokens
    mask = rng.random((tokens, 50)) < 0.3
    word = cfg.lanes * cfg.data_width // 8
    fits = cfg.replace(imem_bank_bytes=2 * kc * word)    # 2 groups a buffer, 2 buffers
    short = cfg.replace(imem_bank_bytes=(2 * kc - 1) * word)
    assert (imem_groups(k, fits), imem_groups(k, short)) == (4, 2)
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    for win in (12, 50):
        re = resident_iteration(mask, k, fits, win)
        on = resident_iteration(mask, k, fits, win, acts_resident=True)
        assert on.act_bytes == on.act_once == tokens * kc * ib
        assert (on.blocks, on.weight_bytes, on.compute) == (re.blocks, re.weight_bytes,
                                                            re.compute)
        assert on.compute <= on.cycles <= re.cycles
        assert re.act_bytes > on.act_bytes if win == 12 else re.act_bytes == on.act_bytes
    with pytest.raises(ValueError, match="acts_resident: 4 row groups"):
        resident_iteration(mask, k, short, 12, acts_resident=True)
    with pytest.raises(ValueError, match="acts_resident"):
        dense_window_cycles(tokens, 50, k, short, acts_resident=True)
    row = -(-kc * ib // cfg.bus_bytes) * cfg.bus_bytes
    small = fits.replace(wmem_bank_bytes=3 * 2 * word)   # windows of 6 channels (3 columns)
    assert window_capacity(k, small) == 6
    c0, b0 = dense_window_cycles(tokens, 50, k, small)
    c1, b1 = dense_window_cycles(tokens, 50, k, small, acts_resident=True)
    assert b1 == 50 * row + tokens * kc * ib < b0 and c1 <= c0
