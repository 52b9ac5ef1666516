"""The gather (hw/core_gather.py) at the golden level: a sparse GEMM's weights fetched by the
ConMerge vectors, what it moves and writes, what a fault leaves behind, and its cycles.

``LOAD_WMEM`` with ``MEM`` and ``GATHER`` fills WMEM buffer ``wbuf`` from word ``base`` with
exactly :func:`golden.sdue.wmem_image` of the blocks in SMEM (those of its ``half``; with
``RESIDENT`` the identity window's, :func:`resident_blocks`, which give the resident layout): the weight
matrix lies in memory channel-major, channel ``n``'s row (its ``count`` = ``kc`` lane chunks,
``count * lane_bytes`` bytes) at ``addr + n * stride``. The load writes in the load engine's
order (bank ``c``, stream ``d``, block ``b``): a slot that names channel ``n`` is one one-row
descriptor of that row; an unused slot is ``count`` zero vectors, no bus traffic. The rows are
requested ahead of the slot being written (up to ``GATHER_AHEAD`` slots), so their fetches
overlap; a fault still leaves exactly the slots before the faulting row written.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from exion.limits import CORE_READ_BURST, DMA_READ_OUTSTANDING, GATHER_AHEAD

from . import dma
from .core_mem import READ_FIFO_DELAY, MemPort, load_items
from .schedule import Block

__all__ = ["READ_INFO_DEPTH", "resident_blocks", "gather_slots", "gather_descriptor", "Gather", "gather",
           "gather_cycles", "gather_bytes"]

#: Descriptors the read engine holds for its R side (hw/dma_read.py, ``INFO_DEPTH``): it takes
#: no further one while they wait.
READ_INFO_DEPTH = 2


def resident_blocks(n_ch: int, rows: int, cols: int, merge_degree: int) -> list[Block]:
    """The vectors a ``LOAD_WMEM`` with ``MEM | GATHER | RESIDENT`` gathers instead of SMEM's:
    block ``q`` (``ceil(n_ch / (cols * merge_degree))`` of them) names channel ``q * cols *
    merge_degree + d * cols + c`` in slot ``(c, d)`` while it is below ``n_ch``, so the gather
    writes the resident layout of the window (:func:`golden.sdue.resident_wmem_image`)."""
    cd = cols * merge_degree
    j = np.arange(cd).reshape(merge_degree, cols).T              # (cols, D): d * cols + c
    return [Block(0, np.where(q * cd + j < n_ch, q * cd + j, -1),
                  np.zeros((rows, cols), np.int64)) for q in range(-(-n_ch // cd))]


def gather_slots(blocks, cols: int, merge_degree: int) -> list[tuple[int, int, int, int]]:
    """``(bank, stream, block, channel)`` of every slot in write order; channel ``-1``: an
    unused stream (written with zeros)."""
    return [(c, d, b, int(blk.slots[c, d])) for c in range(cols) for d in range(merge_degree)
            for b, blk in enumerate(blocks)]


def gather_descriptor(addr: int, stride: int, channel: int, count: int,
                      lane_bytes: int) -> dma.Descriptor | None:
    """The one-row descriptor of ``channel``'s weight row; ``None`` when its address does not
    fit the master port's 32 address bits (it lies outside every region: ``DMA_REGION``)."""
    a = addr + channel * stride
    if a >= 1 << 32:
        return None
    return dma.Descriptor(a, count * lane_bytes, 1, stride)


@dataclass
class Gather:
    """What a gather moves and writes (:func:`gather`).

    Members
    -------
    items : list[int]
        The lane vectors written, in write order (packed; fewer after a fault).
    words : int
        Bus words delivered (``BYTES_IN`` grows by ``words * bus_bytes``).
    fault : str | None
        ``DMA_REGION`` (a named row outside the region), ``DMA_SLVERR`` / ``DMA_DECERR``.
    cycles : int | None
        ``MEM_RD_CYCLES`` without a fault (:func:`gather_cycles`).
    descriptors : list[dma.Descriptor]
        The rows read, in order.
    """

    items: list = field(default_factory=list)
    words: int = 0
    fault: str | None = None
    cycles: int | None = None
    descriptors: list = field(default_factory=list)


def gather(port: MemPort, blocks, addr: int, stride: int, count: int, region, cols: int,
           merge_degree: int, bb: int, ib: int) -> Gather:
    """Run a gather of ``blocks`` (:class:`golden.schedule.Block`, SMEM order) against
    ``port``: rows of ``count`` lane vectors of ``ib`` bytes at ``addr + n * stride``; region
    ``(base, end)``; ``bb`` bytes per bus word. A row outside the region (the rule of
    :func:`golden.dma.cause`) stops the gather before it is read; a bus fault inside a row
    leaves that row's items whose bytes all arrived (:func:`golden.core_mem.load_items`). Rows
    requested ahead of the fault deliver nothing and write nothing (the read engine drops
    their data, and the slots are written in order)."""
    out = Gather()
    for _c, _d, _b, ch in gather_slots(blocks, cols, merge_degree):
        if ch < 0:
            out.items += [0] * count
            continue
        desc = gather_descriptor(addr, stride, ch, count, ib)
        if desc is None or dma.cause(desc, bb, *region) != 0:
            out.fault = "DMA_REGION"
            return out
        out.descriptors.append(desc)
        items, words, fault = load_items(port, desc, bb, ib, count)
        out.items += items
        out.words += words
        if fault:
            out.fault = fault
            return out
    out.cycles = gather_cycles(blocks, out.descriptors, cols, merge_degree, count, bb, ib,
                               port.read_latency + READ_FIFO_DELAY)
    return out


@dataclass(frozen=True)
class _Word:
    burst: int          # burst index over the whole gather
    row: int            # named row (descriptor) index
    burst_end: bool
    row_end: bool


def gather_cycles(blocks, descriptors, cols: int, merge_degree: int, count: int, bb: int,
                  ib: int, latency: int, ahead: int = GATHER_AHEAD,
                  outstanding: int = DMA_READ_OUTSTANDING,
                  max_burst: int = CORE_READ_BURST) -> int:
    """Cycles of a gather (``MEM_RD_CYCLES``) with a read latency ``latency`` (the memory's plus
    :data:`golden.core_mem.READ_FIFO_DELAY`) that never pauses, from the cycle the engine takes
    it (0) to the cycle its last item is written, both counted; with no block: 1.

    A cycle-by-cycle model of hw/core_gather.py with the WMEM read engine and unpacker of
    hw/core_dma.py (every register as there):

    * issue: from cycle 1, one slot a cycle into the issue register (its SMEM word read two
      cycles before, its entry picked into a pre-stage the cycle before: the first slot's
      before the take; the register holds the slot's row offset ``channel * stride``), while the
      register is empty or its slot leaves in that cycle; from the register, while the slot
      FIFO holds fewer than ``ahead``, a named slot waits until the read engine takes its
      descriptor. The slot enters the FIFO then, seen by the write side the next cycle;
    * read engine (:func:`golden.dma.read_timing`'s rules): a descriptor taken in cycle ``t``
      is checked in ``t + 1`` (``READ_ISSUE_DELAY - 2`` cycles; its row info then into a FIFO
      of :data:`READ_INFO_DEPTH`, seen the next cycle), its bursts registered from ``t + 2``
      (``t + READ_ISSUE_DELAY - 1``) one a cycle with fewer than
      ``outstanding`` unanswered (or in the cycle the oldest one's last beat is taken), AR the
      next cycle; the next descriptor is taken once the last burst is registered, the check
      is over and the row-info FIFO has room. A burst's words are there from ``latency``
      cycles after its AR, in order; the R side passes a word once its row's info is loaded
      (in the cycle the previous row's last word passes, or after);
    * unpacker (:func:`golden.core_mem.load_cycles`'s rules), started once, rows of ``count``;
    * write side: the FIFO's head slot, one item a cycle: zeros, or the unpacker's items."""
    slots = [ch >= 0 for *_x, ch in gather_slots(blocks, cols, merge_degree)]
    if not slots:
        return 1
    words, n_bursts = [], 0
    for r, desc in enumerate(descriptors):
        bl = [beats for _a, beats in dma.bursts(desc, bb, max_burst)]
        for j, beats in enumerate(bl):
            words += [_Word(n_bursts, r, i == beats - 1, j == len(bl) - 1 and i == beats - 1)
                      for i in range(beats)]
            n_bursts += 1
    bursts_of = [[beats for _a, beats in dma.bursts(d, bb, max_burst)] for d in descriptors]
    total = len(slots) * count
    k, q = 0, deque()                           # next slot to issue; slot FIFO (True: named)
    stage = None                                # the issue register's slot (True: named)
    o_cnt, written = 0, 0                       # items of the head slot written; all written
    acc, checking, walker = 0, None, None           # read engine: rows taken, check, bursts
    info, r_active, count_out, ar, got = deque(), None, 0, [], 0
    fill, left, seen = 0, count, False          # unpacker
    t = 0
    while True:
        t += 1
        # write side
        head = q[0] if q else None
        up_valid = fill >= ib
        h = head is not None and (up_valid if head else True)
        emit = h and bool(head)
        pop = h and o_cnt == count - 1
        last_item = left == 1
        after = (0 if last_item else fill - ib) if emit else fill
        i_ready = after <= ib and (not seen or (emit and last_item))
        # R side
        w = words[got] if got < len(words) else None
        o_valid = (w is not None and r_active is not None and w.burst < len(ar)
                   and t >= ar[w.burst] + latency)
        if o_valid:
            assert r_active == w.row
        o_hs = o_valid and i_ready
        r_last_hs = o_hs and w.burst_end
        row_last = o_hs and w.row_end
        load_info = bool(info) and (r_active is None or row_last)
        # issue side and the read engine's descriptor input
        cmd_ready = checking is None and walker is None and len(info) < READ_INFO_DEPTH
        advance = take = False
        if stage is not None and len(q) < ahead:
            take = stage and cmd_ready
            advance = take or not stage
        fill_stage = k < len(slots) and (stage is None or advance)
        load = walker is not None and (count_out < outstanding or r_last_hs)
        # registers
        if load:
            ar.append(t + 1)
            walker.pop(0)
            if not walker:
                walker = None
        count_out += load - r_last_hs
        if checking is not None:
            row, left_chk = checking
            checking = (row, left_chk - 1) if left_chk > 1 else None
            if checking is None:
                walker = list(bursts_of[row])
                info.append(row)
        if take:
            checking = (acc, dma.READ_ISSUE_DELAY - 2)     # the check's cycles (1)
            acc += 1
        if load_info:
            r_active = info.popleft()
        elif row_last:
            r_active = None
        got += o_hs
        fill = after + (bb if o_hs else 0)
        seen = (seen and not (emit and last_item)) or row_last
        if emit:
            left = count if last_item else left - 1
        o_cnt = 0 if pop else o_cnt + h
        if pop:
            q.popleft()
        if advance:
            q.append(stage)
            stage = None
        if fill_stage:
            stage = slots[k]
            k += 1
        written += h
        if written == total:
            return t + 1


def gather_bytes(blocks, count: int, cols: int, merge_degree: int, bb: int,
                 ib: int) -> int:
    """Bytes a complete gather reads (whole bus words of every named row)."""
    words = -(-count * ib // bb)
    return sum(words * bb for *_x, ch in gather_slots(blocks, cols, merge_degree) if ch >= 0)
