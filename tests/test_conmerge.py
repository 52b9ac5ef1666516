"""ConMerge schedulers: every strategy is exact on arbitrary masks; greedy is the CAU rule."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from exion.config import SORT_STRATEGIES, ExionConfig
from golden import cycle_model
from golden.conmerge import (STRATEGIES, cau_schedule, conflict_vectors, group_masks,
                             ideal_blocks, lower_bound_blocks, schedule, synthetic_mask,
                             token_order)
from golden.conmerge_rules import placement_order, window_blocks
from golden.schedule import check_schedule, pack_block, unpack_block


@st.composite
def case(draw, max_rows=5, max_cols=5):
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    degree = draw(st.integers(1, 4))
    cfg = ExionConfig(rows=rows, cols=cols, merge_degree=degree)
    m = draw(st.integers(1, 13))
    n = draw(st.integers(1, 17))
    levels = draw(arrays(np.uint8, (m, n), elements=st.integers(0, 9)))
    threshold = draw(st.integers(0, 10))  # 0: all zero, 10: all one
    return cfg, levels < threshold


# -- reference implementations written from the docs' wording ----------------------------

def ref_conflict_vectors(mask, toks):
    """{channel: conflict vector} of the nonzero channels of one row group, bit r = row r."""
    cv = {}
    for ch in range(mask.shape[1]):
        v = sum(1 << r for r, t in enumerate(toks) if t >= 0 and mask[t, ch])
        if v:
            cv[ch] = v
    return cv


def ref_greedy(mask, cfg, order):
    """docs/conmerge.md, the CAU rule, as plainly as possible: list of (group, slots)."""
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    out = []
    for g in range(len(order) // R):
        cv = ref_conflict_vectors(mask, order[g * R:(g + 1) * R])
        block = []  # list of slots, a slot is a list of channels
        for ch in sorted(cv):
            for slot in block:
                if len(slot) < D and all(cv[o] & cv[ch] == 0 for o in slot):
                    slot.append(ch)
                    break
            else:
                if len(block) < C:
                    block.append([ch])
                else:
                    out.append((g, block))
                    block = [[ch]]
        if block:
            out.append((g, block))
    return out


def ref_ffd(mask, cfg, order):
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    out = []
    for g in range(len(order) // R):
        cv = ref_conflict_vectors(mask, order[g * R:(g + 1) * R])
        slots = []
        for ch in sorted(cv, key=lambda c: (-bin(cv[c]).count("1"), c)):
            for slot in slots:
                if len(slot) < D and all(cv[o] & cv[ch] == 0 for o in slot):
                    slot.append(ch)
                    break
            else:
                slots.append([ch])
        for i in range(0, len(slots), C):
            out.append((g, slots[i:i + C]))
    return out


def ref_window(mask, cfg, order, open_blocks, sort_window):
    """docs/conmerge.md, the window rule: a list of open blocks, the oldest emitted when full."""
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    out = []
    for g in range(len(order) // R):
        cv = ref_conflict_vectors(mask, order[g * R:(g + 1) * R])
        key = (lambda c: (c // sort_window, -bin(cv[c]).count("1"), c))
        window = []  # open blocks, oldest first; a block is a list of slots
        for ch in sorted(cv, key=key):
            slot = next((sl for blk in window for sl in blk
                         if len(sl) < D and all(cv[o] & cv[ch] == 0 for o in sl)), None)
            if slot is not None:
                slot.append(ch)
                continue
            if not window or len(window[-1]) == C:
                if len(window) == open_blocks:
                    out.append((g, window.pop(0)))
                window.append([])
            window[-1].append([ch])
        out += [(g, blk) for blk in window]
    return out


def as_slots(block, cfg):
    return [[int(ch) for ch in block.slots[c] if ch >= 0] for c in range(cfg.cols)
            if block.slots[c, 0] >= 0]


# -- properties ----------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True)
@given(case(), st.sampled_from(SORT_STRATEGIES))
def test_every_strategy_is_exact(c, sort):
    cfg, mask = c
    for strategy in STRATEGIES:
        s = schedule(mask, cfg, strategy, token_sort=sort)
        check_schedule(s, mask)
        assert s.strategy == strategy
        for b in s.blocks:
            assert unpack_block(pack_block(b, cfg), cfg) == b


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case())
def test_block_counts(c):
    cfg, mask = c
    R, C = cfg.rows, cfg.cols
    n = {st_: len(schedule(mask, cfg, st_).blocks) for st_ in STRATEGIES}
    groups = -(-mask.shape[0] // R)
    assert n["dense"] == groups * -(-mask.shape[1] // C)
    assert n["skip_zero_tiles"] <= n["dense"]
    assert n["column"] == groups * -(-int(mask.any(axis=0).sum()) // C)
    assert n["column"] <= n["dense"]
    assert n["condense"] <= n["skip_zero_tiles"]
    lb = lower_bound_blocks(mask, cfg)
    assert ideal_blocks(mask, cfg) <= lb
    assert lb <= n["greedy"] <= n["condense"]
    assert lb <= n["ffd"] <= n["condense"]
    assert lb <= n["window"] <= n["condense"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case())
def test_greedy_degree_one_is_condense(c):
    cfg, mask = c
    cfg = cfg.replace(merge_degree=1)
    g = schedule(mask, cfg, "greedy")
    k = schedule(mask, cfg, "condense")
    assert g.blocks == k.blocks
    assert g.words() == k.words()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case(), st.sampled_from(SORT_STRATEGIES))
def test_greedy_matches_reference_rule(c, sort):
    cfg, mask = c
    s = schedule(mask, cfg, "greedy", token_sort=sort)
    ref = ref_greedy(mask, cfg, s.token_order.tolist())
    assert [(b.group, as_slots(b, cfg)) for b in s.blocks] == ref


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case(), st.sampled_from(SORT_STRATEGIES), st.integers(1, 4), st.sampled_from([1, 2, 3, 8]))
def test_window_matches_reference_rule(c, sort, open_blocks, sort_window):
    # conflict freedom and exactly-once (check_schedule), and the rule as docs/conmerge.md words it
    cfg, mask = c
    s = schedule(mask, cfg, "window", token_sort=sort, open_blocks=open_blocks,
                 sort_window=sort_window)
    check_schedule(s, mask)
    ref = ref_window(mask, cfg, s.token_order.tolist(), open_blocks, sort_window)
    assert [(b.group, as_slots(b, cfg)) for b in s.blocks] == ref
    if open_blocks == 1 and sort_window == 1:
        assert s.words() == schedule(mask, cfg, "greedy", token_sort=sort).words()


@settings(max_examples=100, deadline=None, derandomize=True)
@given(case(), st.integers(1, 4), st.integers(0, 1))
def test_cau_rule_and_its_cycles(c, window, sort):
    # cau_schedule is window with the configuration's W and the beat as sort window;
    # window_blocks counts each group's blocks; schedule_cycles' flush follows min(W, blocks)
    cfg, mask = c
    cfg = cfg.replace(cau_window=window, cau_sort=sort)
    s = cau_schedule(mask, cfg, token_sort="none")
    w = schedule(mask, cfg, "window", token_sort="none", open_blocks=window,
                 sort_window=8 if sort else 1)
    assert s.words() == w.words()
    if window == 1 and not sort:
        assert s.words() == schedule(mask, cfg, "greedy", token_sort="none").words()
    gm = group_masks(mask, s.token_order, cfg.rows)
    for g in range(gm.shape[0]):
        cvs = conflict_vectors(gm[g]).tolist()
        nb = sum(1 for b in s.blocks if b.group == g)
        assert window_blocks(cvs, cfg.cols, cfg.merge_degree, window, 8 if sort else 1) == nb
        order = placement_order(cvs, 8 if sort else 1)
        assert sorted(order) == [i for i, v in enumerate(cvs) if v]
        beats = cycle_model.group_beats(cvs, 8)
        want = cycle_model.cau_cycles(beats) + max(1, min(window, nb)) - 1 \
            + cycle_model.SCHEDULE_OVERHEAD - (0 if any(cvs) else 1)
        assert cycle_model.schedule_cycles(cvs, 8, cfg) == want


def test_placement_order_sorts_within_aligned_runs():
    cvs = [0b1, 0b111, 0, 0b11, 0b1111, 0b1, 0b11, 0]
    assert placement_order(cvs, 1) == [0, 1, 3, 4, 5, 6]
    assert placement_order(cvs, 4) == [1, 3, 0, 4, 6, 5]
    assert placement_order(cvs, 8) == [4, 1, 3, 6, 0, 5]


def test_window_example():
    # rows 0/1 of one group; channels 0..3 need rows {0}, {0}, {0}, {1}; 1 column, degree 2.
    # greedy: [0] then 1 conflicts -> emit; [1] ; [2,3]. window of 2 blocks: 0, 1 in two
    # blocks, 2 conflicts with both and the window is full -> emit [0]; 3 joins slot of 1.
    cfg = ExionConfig(rows=2, cols=1, merge_degree=2)
    mask = np.array([[1, 1, 1, 0], [0, 0, 0, 1]], bool)
    got = [as_slots(b, cfg) for b in schedule(mask, cfg, "window").blocks]
    assert got == [[[0]], [[1, 3]], [[2]]]
    assert [as_slots(b, cfg) for b in schedule(mask, cfg, "greedy").blocks] == \
        [[[0]], [[1]], [[2, 3]]]


def test_window_bad_arguments():
    cfg = ExionConfig(rows=2, cols=2)
    mask = np.ones((2, 2), bool)
    for kw in ({"open_blocks": 0}, {"open_blocks": 65}, {"sort_window": 0}, {"open_blocks": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            schedule(mask, cfg, "window", **kw)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(case())
def test_ffd_matches_reference(c):
    cfg, mask = c
    s = schedule(mask, cfg, "ffd")
    ref = ref_ffd(mask, cfg, s.token_order.tolist())
    assert [(b.group, as_slots(b, cfg)) for b in s.blocks] == ref


@pytest.mark.parametrize("rows,cols,degree", [(1, 1, 1), (1, 4, 3), (4, 1, 4), (3, 5, 2)])
def test_degenerate_arrays(rows, cols, degree):
    cfg = ExionConfig(rows=rows, cols=cols, merge_degree=degree)
    rng = np.random.default_rng(rows * 100 + cols * 10 + degree)
    for shape in [(1, 1), (7, 11), (rows * 3 + 1, cols * 2 + 1)]:
        for density in (0.0, 0.05, 0.5, 1.0):
            mask = rng.random(shape) < density
            for strategy in STRATEGIES:
                check_schedule(schedule(mask, cfg, strategy), mask)


def test_single_element_and_extremes():
    cfg = ExionConfig(rows=4, cols=4, merge_degree=2)
    mask = np.zeros((9, 10), dtype=bool)
    for strategy in STRATEGIES:
        s = schedule(mask, cfg, strategy)
        check_schedule(s, mask)
        if strategy not in ("dense", "column"):
            assert s.blocks == []
    mask[5, 7] = True
    for strategy in STRATEGIES:
        s = schedule(mask, cfg, strategy)
        check_schedule(s, mask)
        if strategy not in ("dense", "column"):
            assert len(s.blocks) == 1 and s.blocks[0].active == 1
    full = np.ones((9, 10), dtype=bool)
    for strategy in STRATEGIES:
        s = schedule(full, cfg, strategy)
        check_schedule(s, full)
        assert len(s.blocks) == 3 * 3  # dense: merging cannot help (every cv conflicts)


def test_empty_dimensions():
    cfg = ExionConfig(rows=4, cols=4)
    for shape in [(0, 5), (5, 0), (0, 0)]:
        mask = np.zeros(shape, dtype=bool)
        for strategy in STRATEGIES:
            s = schedule(mask, cfg, strategy)
            check_schedule(s, mask)


def test_dense_layout():
    cfg = ExionConfig(rows=2, cols=3, merge_degree=2)
    mask = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=bool)
    s = schedule(mask, cfg, "dense")
    assert [b.slots[:, 0].tolist() for b in s.blocks] == [[0, 1, 2], [3, 4, -1]]
    assert all((b.slots[:, 1] == -1).all() for b in s.blocks)
    assert s.blocks[0].sel.tolist() == [[1, 0, 1], [0, 0, 0]]
    assert s.blocks[1].sel.tolist() == [[1, 0, 0], [1, 1, 0]]


def test_column_skips_only_globally_dead_channels():
    cfg = ExionConfig(rows=2, cols=2, merge_degree=1)
    mask = np.zeros((4, 6), dtype=bool)
    mask[0, 1] = mask[3, 4] = mask[2, 5] = True
    s = schedule(mask, cfg, "column")
    check_schedule(s, mask)
    assert [(b.group, b.slots[:, 0].tolist()) for b in s.blocks] == \
        [(0, [1, 4]), (0, [5, -1]), (1, [1, 4]), (1, [5, -1])]


def test_greedy_example_from_docs():
    """docs/conmerge.md: channels with cvs 0101, 1010, 0100, 1001 on a 4 x 2, D = 2 array."""
    cfg = ExionConfig(rows=4, cols=2, merge_degree=2)
    mask = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=bool)
    assert conflict_vectors(mask).tolist() == [0b0101, 0b1010, 0b0100, 0b1001]
    s = schedule(mask, cfg, "greedy")
    assert len(s.blocks) == 1 and s.blocks[0].slots.tolist() == [[0, 1], [2, 3]]


def test_token_orders():
    cfg = ExionConfig(rows=2, cols=2)
    mask = np.array([[1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool)
    assert token_order(mask, cfg, "none").tolist() == [0, 1, 2, 3, 4, -1]
    assert token_order(mask, cfg, "popcount").tolist() == [1, 4, 3, 0, 2, -1]
    with pytest.raises(ValueError):
        token_order(mask, cfg, "random")
    assert token_order(mask, cfg.replace(token_sort="popcount")).tolist()[0] == 1


def test_signature_clusters_similar_tokens():
    """Two interleaved kinds of tokens: signature puts each kind in its own groups."""
    rng = np.random.default_rng(3)
    cfg = ExionConfig(rows=4, cols=4, merge_degree=1)
    mask = np.zeros((16, 64), dtype=bool)
    mask[0::2, :32] = rng.random((8, 32)) < 0.5
    mask[1::2, 32:] = rng.random((8, 32)) < 0.5
    order = token_order(mask, cfg, "signature")
    assert sorted(order.tolist()) == list(range(16))
    for g in range(4):
        kinds = {t % 2 for t in order[g * 4:(g + 1) * 4].tolist()}
        assert len(kinds) == 1
    plain = schedule(mask, cfg, "condense", token_sort="none")
    sig = schedule(mask, cfg, "condense", token_sort="signature")
    check_schedule(sig, mask)
    assert len(sig.blocks) < len(plain.blocks)


def test_group_masks_and_cvs():
    mask = np.eye(3, dtype=bool)
    gm = group_masks(mask, np.array([2, 0, 1, -1]), 2)
    assert gm.shape == (2, 2, 3)
    assert conflict_vectors(gm[0]).tolist() == [0b10, 0, 0b01]
    assert conflict_vectors(gm[1]).tolist() == [0, 0b01, 0]
    wide = np.zeros((64, 2), dtype=bool)
    wide[63, 1] = True
    assert conflict_vectors(wide).tolist() == [0, 1 << 63]


def test_bad_arguments():
    cfg = ExionConfig(rows=2, cols=2)
    with pytest.raises(ValueError):
        schedule(np.zeros((2, 2), bool), cfg, "magic")
    with pytest.raises(ValueError):
        schedule(np.zeros(4, bool), cfg, "dense")


def test_dit_sized_mask():
    # A DiT-XL/2-sized FC1 mask schedules correctly; how long it takes is printed by
    # bench/bench_conmerge.py, not asserted here.
    rng = np.random.default_rng(0)
    mask = rng.random((256, 4608)) >= 0.8
    cfg = ExionConfig()
    for strategy in ("greedy", "ffd"):
        check_schedule(schedule(mask, cfg, strategy), mask)


def test_synthetic_masks():
    for kind in ("uniform", "column"):
        m = synthetic_mask(64, 512, 0.9, kind, seed=1)
        assert m.shape == (64, 512) and abs(m.mean() - 0.1) < 0.02
    col = synthetic_mask(64, 512, 0.9, "column", seed=1)
    assert (~col.any(axis=0)).mean() > 0.4  # whole channels dead
    with pytest.raises(ValueError):
        synthetic_mask(4, 4, 0.5, "striped")
