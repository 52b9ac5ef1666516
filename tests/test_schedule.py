"""The schedule format of golden/schedule.py: pack/unpack round trip and the checker."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exion.config import ExionConfig
from golden.conmerge import schedule
from golden.schedule import (CHANNEL_BITS, GROUP_BITS, Block, Schedule, ScheduleError,
                             check_schedule, pack_block, unpack_block, word_bits)

CFG = ExionConfig(rows=4, cols=2, merge_degree=2)

#: The worked example of docs/schedule.md (4 x 2 array, merge degree 2).
EXAMPLE_MASK = np.array([[1, 0, 0, 1],
                         [0, 1, 0, 0],
                         [1, 0, 1, 0],
                         [0, 1, 0, 1]], dtype=bool)
EXAMPLE_WORD = 0xA529000380014000600010000


def _cfg(rows, cols, degree):
    return ExionConfig(rows=rows, cols=cols, merge_degree=degree)


@st.composite
def random_block(draw):
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 6))
    degree = draw(st.integers(1, 8))
    cfg = _cfg(rows, cols, degree)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    slots = rng.integers(-1, 1 << CHANNEL_BITS, size=(cols, degree))
    slots[rng.random((cols, degree)) < 0.3] = -1
    sel = rng.integers(0, degree + 1, size=(rows, cols))
    group = int(draw(st.integers(0, (1 << GROUP_BITS) - 1)))
    return cfg, Block(group, slots.astype(np.int64), sel.astype(np.int64))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(random_block())
def test_pack_unpack_round_trip(case):
    cfg, block = case
    word = pack_block(block, cfg)
    assert 0 <= word < (1 << word_bits(cfg))
    assert unpack_block(word, cfg) == block


def test_word_bits():
    assert word_bits(CFG) == 16 + 2 * 2 * (1 + 16) + 4 * 2 * 2 == 100
    assert word_bits(ExionConfig()) == 16 + 16 * 2 * 17 + 256 * 2


def test_pack_rejects_field_overflow():
    b = Block(1 << GROUP_BITS, np.full((2, 2), -1), np.zeros((4, 2), np.int64))
    with pytest.raises(ValueError):
        pack_block(b, CFG)


def test_worked_example_word():
    s = schedule(EXAMPLE_MASK, CFG, "greedy")
    check_schedule(s, EXAMPLE_MASK)
    assert len(s.blocks) == 1
    b = s.blocks[0]
    assert b.slots.tolist() == [[0, 1], [2, 3]]
    assert b.sel.tolist() == [[1, 2], [2, 0], [1, 1], [2, 2]]
    assert pack_block(b, CFG) == EXAMPLE_WORD
    assert s.words() == [EXAMPLE_WORD]
    assert unpack_block(EXAMPLE_WORD, CFG) == b


# -- the checker catches each kind of violation -------------------------------------------

def _good():
    s = schedule(EXAMPLE_MASK, CFG, "condense")
    check_schedule(s, EXAMPLE_MASK)
    return s


def _with_blocks(s, blocks, order=None):
    return Schedule(cfg=s.cfg, tokens=s.tokens, channels=s.channels,
                    token_order=s.token_order if order is None else order, blocks=blocks,
                    strategy="broken")


def _edit(block, slots=None, sel=None, group=None):
    return Block(block.group if group is None else group,
                 block.slots.copy() if slots is None else slots,
                 block.sel.copy() if sel is None else sel)


def test_checker_accepts_good_schedule():
    stats = check_schedule(_good(), EXAMPLE_MASK)
    assert stats["active"] == 7 and stats["blocks"] == 2


def test_checker_duplicated_output():
    s = _good()
    with pytest.raises(ScheduleError, match="computed 2 times"):
        check_schedule(_with_blocks(s, s.blocks + [s.blocks[0]]), EXAMPLE_MASK)


def test_checker_missing_output():
    s = _good()
    b = s.blocks[0]
    sel = b.sel.copy()
    r, c = np.argwhere(sel)[0]
    sel[r, c] = 0
    with pytest.raises(ScheduleError, match="never computed"):
        check_schedule(_with_blocks(s, [_edit(b, sel=sel)] + s.blocks[1:]), EXAMPLE_MASK)


def test_checker_missing_block():
    s = _good()
    with pytest.raises(ScheduleError, match="never computed"):
        check_schedule(_with_blocks(s, s.blocks[1:]), EXAMPLE_MASK)


def test_checker_extra_output():
    s = _good()
    b = s.blocks[0]
    sel = b.sel.copy()
    r, c = np.argwhere(sel == 0)[0]  # an idle DPU whose column has a valid stream 0
    assert b.slots[c, 0] >= 0
    sel[r, c] = 1
    with pytest.raises(ScheduleError, match="not in the mask"):
        check_schedule(_with_blocks(s, [_edit(b, sel=sel)] + s.blocks[1:]), EXAMPLE_MASK)


def test_checker_active_padding_row():
    mask = EXAMPLE_MASK[:3]  # 3 tokens on 4 rows: row 3 of group 0 is padding
    s = schedule(mask, CFG, "dense")
    check_schedule(s, mask)
    assert s.token_order.tolist() == [0, 1, 2, -1]
    b = s.blocks[0]
    sel = b.sel.copy()
    sel[3, 0] = 1
    with pytest.raises(ScheduleError, match="padding row"):
        check_schedule(_with_blocks(s, [_edit(b, sel=sel)] + s.blocks[1:]), mask)


def test_checker_sel_on_empty_stream():
    s = _good()  # condense: stream 1 of every slot is unused
    b = s.blocks[0]
    sel = b.sel.copy()
    r, c = np.argwhere(sel)[0]
    sel[r, c] = 2
    with pytest.raises(ScheduleError, match="unused weight stream"):
        check_schedule(_with_blocks(s, [_edit(b, sel=sel)] + s.blocks[1:]), EXAMPLE_MASK)


def test_checker_structural_errors():
    s = _good()
    b = s.blocks[0]
    cases = [
        (_with_blocks(s, [_edit(b, group=5)] + s.blocks[1:]), "group"),
        (_with_blocks(s, [_edit(b, sel=np.full((4, 2), 3))]), "sel outside"),
        (_with_blocks(s, [_edit(b, slots=np.full((2, 2), 4))]), "channel outside"),
        (_with_blocks(s, [_edit(b, sel=np.zeros((2, 2), np.int64))]), "do not match"),
        (_with_blocks(s, s.blocks, order=np.array([0, 1, 2, 2])), "permutation"),
        (_with_blocks(s, s.blocks, order=np.array([0, 1, 2])), "multiple of rows"),
    ]
    for bad, msg in cases:
        with pytest.raises(ScheduleError, match=msg):
            check_schedule(bad, EXAMPLE_MASK)
    with pytest.raises(ScheduleError, match="mask shape"):
        check_schedule(s, EXAMPLE_MASK[:, :3])
