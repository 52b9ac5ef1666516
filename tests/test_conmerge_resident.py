"""The resident rule (golden.conmerge_rules.resident_group, the CAU's RESIDENT mode): exact,
every channel in its class (slot ``j % cols``, stream ``(j // cols) % merge_degree``), equal to
a reference written from docs/conmerge.md, and its SCHEDULE timing."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exion.config import ExionConfig, preset
from golden.conmerge import cau_schedule, conflict_vectors, group_masks, schedule
from golden.conmerge_rules import (placement_order, resident_class, resident_group,
                                   window_blocks, window_emits, window_group)
from golden.cycle_model import SCHEDULE_OVERHEAD, cau_cycles, group_beats, schedule_cycles
from golden.schedule import check_schedule

from tests.test_conmerge import case, ref_conflict_vectors


def ref_resident(mask, cfg, order, open_blocks, sort_window, fit):
    """docs/conmerge.md, the resident rule, as plainly as possible: (group, slots[c][d])."""
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    out = []
    for g in range(len(order) // R):
        cv = ref_conflict_vectors(mask, order[g * R:(g + 1) * R])
        key = (lambda c: (c // sort_window, -bin(cv[c]).count("1"), c))
        window = []  # open blocks, oldest first; block[c][d] = channel or None
        for ch in sorted(cv, key=key):
            c, d = ch % C, (ch // C) % D
            ok = [b for b in window if b[c][d] is None
                  and all(cv[o] & cv[ch] == 0 for o in b[c] if o is not None)]
            if fit == "best" and ok:
                rows = [bin(sum(cv[o] for o in b[c] if o is not None)).count("1") for b in ok]
                ok = [ok[rows.index(max(rows))]]
            if not ok:
                if len(window) == open_blocks:
                    out.append((g, window.pop(0)))
                window.append([[None] * D for _ in range(C)])
                ok = [window[-1]]
            ok[0][c][d] = ch
        out += [(g, b) for b in window]
    return out


def check_classes(sched, cfg):
    for b in sched.blocks:
        for c in range(cfg.cols):
            for d in range(cfg.merge_degree):
                j = int(b.slots[c, d])
                assert j < 0 or resident_class(j, cfg.cols, cfg.merge_degree) == (c, d)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(case(), st.integers(1, 4), st.sampled_from([1, 8]), st.sampled_from(["first", "best"]))
def test_resident_matches_reference(c, w, sort_window, fit):
    cfg, mask = c
    s = schedule(mask, cfg, "resident", token_sort="none", open_blocks=w,
                 sort_window=sort_window, fit=fit)
    check_schedule(s, mask)
    check_classes(s, cfg)
    ref = ref_resident(mask, cfg, s.token_order.tolist(), w, sort_window, fit)
    got = [(b.group, [[None if x < 0 else int(x) for x in b.slots[k]]
                      for k in range(cfg.cols)]) for b in s.blocks]
    assert got == ref


def test_class_rule_by_hand():
    # 2 columns, degree 2: channel j -> slot j % 2, stream (j // 2) % 2. Channels 0 and 2 share
    # slot 0 (streams 0, 1) although 1 would fit beside 0 in the window rule.
    n, rb, rs, rd = resident_group([0, 1, 2, 3], [1, 2, 2, 1], 2, 2, 1)
    assert (n, rb, rs, rd) == (1, [0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1])
    assert window_group([0, 1, 2, 3], [1, 2, 2, 1], 2, 2, 1)[1:] == ([0, 0, 0, 0],
                                                                      [0, 0, 1, 1], [0, 1, 0, 1])
    # channels 0 and 4 (both slot 0 stream 0): a second block, though the others are empty
    assert resident_group([0, 4], [1, 2], 2, 2, 1) == (2, [0, 1], [0, 0], [0, 0])
    # W = 2: channel 4 conflicts with 0 in slot 0 -> opens block 1; 8 fits neither's stream 0
    # (taken) -> emits block 0, opens block 2; 1 (slot 1) goes into the oldest open block, 1
    flags = []
    assert resident_group([0, 4, 8, 1], [1, 1, 2, 1], 2, 2, 2, flags) == (
        3, [0, 1, 2, 1], [0, 0, 0, 1], [0, 0, 0, 0])
    assert flags == [False, False, True, False]
    # best fit: the block whose slot OR has the most rows (channel 2 -> slot 0 stream 1)
    # channels 0, 4 in slot 0 of blocks 0, 1
    assert resident_group([0, 4, 2], [0b001, 0b011, 0b100], 2, 2, 2, fit="best")[1] == [0, 1, 1]
    assert resident_group([0, 4, 2], [0b001, 0b011, 0b100], 2, 2, 2, fit="first")[1] == [0, 1, 0]
    with pytest.raises(ValueError, match="fit"):
        resident_group([0], [1], 2, 2, 1, fit="worst")


def test_cau_schedule_resident_and_cycles():
    cfg = preset("toy", merge_degree=3, cau_window=2, cau_sort=1, cau_fit=1, cau_rate=2)
    rng = np.random.default_rng(7)
    mask = rng.random((cfg.rows, 61)) < 0.3
    s = cau_schedule(mask, cfg, token_sort="none", resident=True)
    check_schedule(s, mask)
    check_classes(s, cfg)
    assert s.strategy == "resident"
    cvs = conflict_vectors(group_masks(mask, s.token_order, cfg.rows)[0]).tolist()
    nb = window_blocks(cvs, cfg.cols, 3, 2, 8, "best", resident=True)
    assert nb == len(s.blocks)
    emits = window_emits(cvs, cfg.cols, 3, 2, 8, "best", resident=True)
    assert len(emits) == sum(1 for v in cvs if v) and emits[0] is False
    want = cau_cycles(group_beats(cvs), window=2, blocks=nb, rate=2, emits=emits)
    assert schedule_cycles(cvs, 8, cfg, resident=True) == want + SCHEDULE_OVERHEAD
    # the placement order is the window rule's
    order = placement_order(cvs, 8)
    rec = resident_group(order, [cvs[i] for i in order], cfg.cols, 3, 2, fit="best")
    assert rec[0] == nb


def test_resident_extremes():
    cfg = ExionConfig(rows=4, cols=3, merge_degree=2)
    for mask in (np.zeros((5, 7), bool), np.ones((5, 7), bool), np.eye(4, 13, dtype=bool)):
        for w in (1, 3):
            s = schedule(mask, cfg, "resident", open_blocks=w)
            check_schedule(s, mask)
            check_classes(s, cfg)
    assert schedule(np.zeros((5, 7), bool), cfg, "resident").blocks == []
    assert schedule_cycles([0] * 9, 8, cfg, resident=True) == schedule_cycles([0] * 9, 8, cfg)


def test_resident_permutation():
    """A permutation per window; the classes' loads (row groups needing their channels)
    differ by at most one channel's load (longest-processing-time first)."""
    from golden.sparse_resident import resident_permutation
    cfg = ExionConfig(rows=4, cols=3, merge_degree=2)
    rng = np.random.default_rng(11)
    mask = rng.random((13, 40)) < np.linspace(0.02, 0.6, 40)[None, :]
    for window in (12, 40, 7):
        perm = resident_permutation(mask, cfg, window)
        for w0 in range(0, 40, window):
            assert sorted(perm[w0:w0 + window].tolist()) == list(range(w0, min(40, w0 + window)))
        need = group_masks(mask, np.r_[np.arange(13), [-1, -1, -1]], 4).any(axis=1).sum(axis=0)
        if window == 12:
            for w0 in range(0, 36, 12):
                loads = [sum(int(need[perm[w0 + p]]) for p in range(12)
                             if (p % 3, (p // 3) % 2) == (c, d)) for c in range(3)
                         for d in range(2)]
                assert max(loads) - min(loads) <= max(int(need[c]) for c in perm[w0:w0 + 12])
        s = schedule(mask[:, perm], cfg, "resident", token_sort="none", open_blocks=2)
        check_schedule(s, mask[:, perm])
    with pytest.raises(ValueError, match="window"):
        resident_permutation(mask, cfg, 0)
