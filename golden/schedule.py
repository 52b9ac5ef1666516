"""The ConMerge schedule: blocks of work for the ROWS x COLS SDUE, their binary format
(the "ConMerge vectors" the hardware consumes) and the checker every test and benchmark uses.

A GEMM ``Y[M, N] = X[M, K] @ W[K, N]`` with an output keep-mask ``mask[M, N]`` is cut into row
groups of ``rows`` tokens (``token_order`` says which token sits on which DPU row) and, per group,
into blocks. A block occupies the whole array for ``ceil(K / lanes)`` cycles:

* ``slots[c, d]`` (``cols x merge_degree``) is the output channel whose weight vector WMEM bank
  ``c`` delivers on stream ``d`` (``-1``: stream unused);
* ``sel[r, c]`` (``rows x cols``) is the conflict-vector switch of DPU ``(r, c)``: ``0`` idles the
  DPU, ``d + 1`` makes it multiply its row's input with stream ``d`` of its column.

DPU ``(r, c)`` with ``sel = d + 1`` therefore computes output
``(token_order[group * rows + r], slots[c, d])``. See ``docs/schedule.md``.

Binary format of one block (little-endian bit order, LSB first)::

    group          GROUP_BITS
    for c in 0..cols-1, d in 0..merge_degree-1:
        valid      1
        channel    CHANNEL_BITS
    for r in 0..rows-1, c in 0..cols-1:
        sel        cfg.sel_width
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exion.config import ExionConfig
from exion.formats import block_bits
from exion.limits import CHANNEL_BITS, GROUP_BITS

__all__ = [
    "GROUP_BITS", "CHANNEL_BITS", "Block", "Schedule", "ScheduleError",
    "word_bits", "pack_block", "unpack_block", "check_schedule", "coverage",
]


class ScheduleError(AssertionError):
    """A schedule does not compute its mask exactly once."""


@dataclass(frozen=True, eq=False)
class Block:
    """One ConMerged (or dense) block: see the module docstring."""

    group: int
    slots: np.ndarray  # (cols, merge_degree) int64, -1 = unused stream
    sel: np.ndarray    # (rows, cols) int64, 0 = idle, d + 1 = stream d

    def __eq__(self, other):
        return (isinstance(other, Block) and self.group == other.group
                and np.array_equal(self.slots, other.slots)
                and np.array_equal(self.sel, other.sel))

    @property
    def active(self) -> int:
        """DPUs doing useful work in this block."""
        return int(np.count_nonzero(self.sel))


@dataclass(eq=False)
class Schedule:
    """The blocks of one GEMM output mask, in execution order."""

    cfg: ExionConfig
    tokens: int
    channels: int
    token_order: np.ndarray  # (groups * rows,) token id per (group, row); -1 = padding row
    blocks: list[Block] = field(default_factory=list)
    strategy: str = ""

    @property
    def groups(self) -> int:
        return len(self.token_order) // self.cfg.rows

    def group_tokens(self, group: int) -> np.ndarray:
        r = self.cfg.rows
        return self.token_order[group * r:(group + 1) * r]

    def words(self) -> list[int]:
        return [pack_block(b, self.cfg) for b in self.blocks]


def word_bits(cfg: ExionConfig) -> int:
    """Bits of one packed block (ConMerge vector): :func:`exion.formats.block_bits`."""
    return block_bits(cfg)


def pack_block(block: Block, cfg: ExionConfig) -> int:
    """The block as one unsigned integer of :func:`word_bits` bits."""
    word, pos = 0, 0

    def put(value: int, bits: int):
        nonlocal word, pos
        if not 0 <= value < (1 << bits):
            raise ValueError(f"field value {value} does not fit {bits} bits")
        word |= value << pos
        pos += bits

    put(block.group, GROUP_BITS)
    for c in range(cfg.cols):
        for d in range(cfg.merge_degree):
            ch = int(block.slots[c, d])
            put(1 if ch >= 0 else 0, 1)
            put(ch if ch >= 0 else 0, CHANNEL_BITS)
    sw = cfg.sel_width
    for r in range(cfg.rows):
        for c in range(cfg.cols):
            put(int(block.sel[r, c]), sw)
    return word


def unpack_block(word: int, cfg: ExionConfig) -> Block:
    pos = 0

    def get(bits: int) -> int:
        nonlocal pos
        v = (word >> pos) & ((1 << bits) - 1)
        pos += bits
        return v

    group = get(GROUP_BITS)
    slots = np.full((cfg.cols, cfg.merge_degree), -1, np.int64)
    for c in range(cfg.cols):
        for d in range(cfg.merge_degree):
            valid, ch = get(1), get(CHANNEL_BITS)
            if valid:
                slots[c, d] = ch
    sel = np.zeros((cfg.rows, cfg.cols), np.int64)
    sw = cfg.sel_width
    for r in range(cfg.rows):
        for c in range(cfg.cols):
            sel[r, c] = get(sw)
    return Block(group, slots, sel)


def coverage(schedule: Schedule) -> np.ndarray:
    """How many times each output ``(token, channel)`` is computed by ``schedule``."""
    count = np.zeros((schedule.tokens, schedule.channels), np.int64)
    for b in schedule.blocks:
        toks = schedule.group_tokens(b.group)
        r, c = np.nonzero(b.sel)
        ch = b.slots[c, b.sel[r, c] - 1]
        np.add.at(count, (toks[r], ch), 1)
    return count


def check_schedule(schedule: Schedule, mask) -> dict:
    """Prove that ``schedule`` computes every ``True`` of ``mask`` exactly once and nothing else.

    Raises :class:`ScheduleError` naming the first violation; returns a few statistics
    (blocks, active DPU-blocks, utilization of DPU slots) on success.
    """
    cfg = schedule.cfg
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (schedule.tokens, schedule.channels):
        raise ScheduleError(
            f"mask shape {mask.shape} != schedule ({schedule.tokens}, {schedule.channels})")
    order = np.asarray(schedule.token_order)
    if len(order) % cfg.rows:
        raise ScheduleError(f"token_order length {len(order)} is not a multiple of rows")
    real = order[order >= 0]
    if sorted(real.tolist()) != list(range(schedule.tokens)):
        raise ScheduleError("token_order is not a permutation of the tokens (plus -1 padding)")
    for i, b in enumerate(schedule.blocks):
        if b.slots.shape != (cfg.cols, cfg.merge_degree) or b.sel.shape != (cfg.rows, cfg.cols):
            raise ScheduleError(f"block {i}: slots {b.slots.shape} / sel {b.sel.shape} "
                                f"do not match a {cfg.rows}x{cfg.cols}x{cfg.merge_degree} array")
        if not 0 <= b.group < schedule.groups:
            raise ScheduleError(f"block {i}: group {b.group} out of range [0, {schedule.groups})")
        if b.sel.min() < 0 or b.sel.max() > cfg.merge_degree:
            raise ScheduleError(f"block {i}: sel outside [0, {cfg.merge_degree}]")
        if b.slots.max(initial=-1) >= schedule.channels or b.slots.min(initial=0) < -1:
            raise ScheduleError(f"block {i}: channel outside [-1, {schedule.channels})")
        r, c = np.nonzero(b.sel)
        if np.any(b.slots[c, b.sel[r, c] - 1] < 0):
            raise ScheduleError(f"block {i}: a DPU selects an unused weight stream")
        if np.any(schedule.group_tokens(b.group)[r] < 0):
            raise ScheduleError(f"block {i}: a padding row is active")
    count = coverage(schedule)
    extra = (count > 0) & ~mask
    if extra.any():
        t, n = np.argwhere(extra)[0]
        raise ScheduleError(f"output ({t}, {n}) is computed but not in the mask")
    twice = count > 1
    if twice.any():
        t, n = np.argwhere(twice)[0]
        raise ScheduleError(f"output ({t}, {n}) is computed {count[t, n]} times")
    missing = mask & (count == 0)
    if missing.any():
        t, n = np.argwhere(missing)[0]
        raise ScheduleError(f"output ({t}, {n}) is required but never computed")
    slots_total = len(schedule.blocks) * cfg.dpus
    active = int(mask.sum())
    return {
        "blocks": len(schedule.blocks),
        "active": active,
        "dpu_utilization": active / slots_total if slots_total else 1.0,
    }
