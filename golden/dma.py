"""Golden model of the AXI4 master (hw/dma.py): what a descriptor moves and when.

A descriptor moves ``rows`` rows of ``row_bytes`` bytes; row ``r`` starts at byte address
``base + r * stride``. On a bus of ``B = bus_bytes`` bytes per beat a row is
``ceil(row_bytes / B)`` words, byte ``j`` of the row in byte ``j % B`` of its word. Each row is
split into INCR bursts, in address order, each as long as the row's remaining words, the
burst limit (AXI4: 256 beats) and the next 4 KB boundary allow (AXI4 forbids a burst that
crosses one); rows that follow each other without a gap are one run, whose bursts span rows.
The functions here are the spec the RTL benches compare with: the burst list,
the bytes moved, the words a read delivers, the memory after a write, the cause a descriptor
is refused with, and the cycle timing of one transfer against a memory of fixed latency that
never pauses (docs/dma.md, "Timing model").
"""

from __future__ import annotations

from dataclasses import dataclass

from exion.limits import (AXI_BOUNDARY, AXI_MAX_BURST, DMA_ADDR_WIDTH, DMA_ROW_BYTES_BITS,
                          DMA_ROWS_BITS)
from exion.regmap import Cause
from exion.util import check_int

__all__ = ["Descriptor", "row_words", "bursts", "cause", "bytes_read", "bytes_written",
           "read_words", "write_memory", "read_timing", "write_timing", "ReadTiming",
           "WriteTiming", "READ_ISSUE_DELAY", "WRITE_ISSUE_DELAY"]

#: Cycles from a descriptor's handshake (cycle 0) to its first AR / AW being valid, the same
#: for both engines (hw/dma_read.py, hw/dma_write.py): two cycles to check it (the
#: ``(rows - 1) * stride`` product and the region's room registered, then the comparison, kept
#: out of one clock period for the FPGA build, docs/fpga.md), one to load the burst walker,
#: one to register the first burst.
READ_ISSUE_DELAY = 4
WRITE_ISSUE_DELAY = 4


@dataclass(frozen=True)
class Descriptor:
    """One transfer (fields as :func:`hw.dma_burst.descriptor_layout`)."""

    base: int
    row_bytes: int
    rows: int
    stride: int

    def __post_init__(self):
        check_int("base", self.base, 0, (1 << DMA_ADDR_WIDTH) - 1)
        check_int("row_bytes", self.row_bytes, 0, (1 << DMA_ROW_BYTES_BITS) - 1)
        check_int("rows", self.rows, 0, (1 << DMA_ROWS_BITS) - 1)
        check_int("stride", self.stride, 0, (1 << DMA_ADDR_WIDTH) - 1)

    def row_addr(self, r: int) -> int:
        return self.base + r * self.stride


def row_words(desc: Descriptor, bus_bytes: int) -> int:
    """Bus words of one row: ``ceil(row_bytes / bus_bytes)``."""
    return -(-desc.row_bytes // bus_bytes)


def bursts(desc: Descriptor, bus_bytes: int,
           max_burst: int = AXI_MAX_BURST) -> list[tuple[int, int]]:
    """The INCR bursts of ``desc`` as ``(address, beats)``, in issue order. Rows that follow
    each other without a gap (``stride == row_words * bus_bytes``) form one run, so bursts
    span rows; otherwise each row is split on its own."""
    out, words = [], row_words(desc, bus_bytes)
    runs = ([(desc.base, desc.rows * words)]
            if desc.rows > 1 and desc.stride == words * bus_bytes
            else [(desc.row_addr(r), words) for r in range(desc.rows)])
    for addr, left in runs:
        while left:
            to_bound = (AXI_BOUNDARY - addr % AXI_BOUNDARY) // bus_bytes
            beats = min(left, max_burst, to_bound)
            out.append((addr, beats))
            addr += beats * bus_bytes
            left -= beats
    return out


def cause(desc: Descriptor, bus_bytes: int, region_base: int, region_end: int) -> Cause:
    """Why the master refuses ``desc`` (``Cause.NONE``: it does not): zero rows or bytes,
    then ``base`` or ``stride`` not a multiple of ``bus_bytes``, then a touched word outside
    ``[region_base, region_end)``."""
    if desc.rows == 0 or desc.row_bytes == 0:
        return Cause.BAD_FIELD
    if desc.base % bus_bytes or desc.stride % bus_bytes:
        return Cause.DMA_ALIGN
    end = desc.row_addr(desc.rows - 1) + row_words(desc, bus_bytes) * bus_bytes
    if desc.base < region_base or end > region_end:
        return Cause.DMA_REGION
    return Cause.NONE


def bytes_read(desc: Descriptor, bus_bytes: int) -> int:
    """Bytes a read moves over the bus (whole beats; the read engine's ``bytes`` counter)."""
    return desc.rows * row_words(desc, bus_bytes) * bus_bytes


def bytes_written(desc: Descriptor) -> int:
    """Bytes a write stores (strobes high; the write engine's ``bytes`` counter)."""
    return desc.rows * desc.row_bytes


def read_words(mem: bytes, mem_base: int, desc: Descriptor,
               bus_bytes: int) -> list[tuple[int, bool, bool]]:
    """The read stream of ``desc`` from memory ``mem`` (byte ``i`` at address ``mem_base + i``):
    ``(word, row_end, last)`` per word, bytes past a row's end zero."""
    out, n = [], row_words(desc, bus_bytes)
    for r in range(desc.rows):
        a = desc.row_addr(r) - mem_base
        row = bytes(mem[a:a + desc.row_bytes]).ljust(n * bus_bytes, b"\0")
        for w in range(n):
            out.append((int.from_bytes(row[w * bus_bytes:(w + 1) * bus_bytes], "little"),
                        w == n - 1, w == n - 1 and r == desc.rows - 1))
    return out


def write_memory(mem: bytes, mem_base: int, desc: Descriptor, words: list[int],
                 bus_bytes: int) -> bytearray:
    """Memory ``mem`` after writing the stream ``words`` (``rows * row_words`` of them) with
    ``desc``: each row's ``row_bytes`` bytes, nothing else (rows in order, so a later row wins
    where rows overlap)."""
    n = row_words(desc, bus_bytes)
    if len(words) != desc.rows * n:
        raise ValueError(f"words: {len(words)} given, the descriptor takes {desc.rows * n}")
    out = bytearray(mem)
    for r in range(desc.rows):
        row = b"".join(int(w).to_bytes(bus_bytes, "little") for w in words[r * n:(r + 1) * n])
        a = desc.row_addr(r) - mem_base
        out[a:a + desc.row_bytes] = row[:desc.row_bytes]
    return out


@dataclass(frozen=True)
class ReadTiming:
    """Cycles of one read, counted from the descriptor's handshake (cycle 0).

    Members
    -------
    ar : list[int]
        Handshake cycle of each burst's AR.
    first, last : list[int]
        Handshake cycle of each burst's first and last R beat.
    cycles : int
        Cycles until the last word was delivered: ``last[-1] + 1``.
    """

    ar: list[int]
    first: list[int]
    last: list[int]
    cycles: int


def read_timing(desc: Descriptor, bus_bytes: int, latency: int, outstanding: int,
                max_burst: int = AXI_MAX_BURST) -> ReadTiming:
    """Timing of a read when the memory takes every AR at once, answers its first beat
    ``latency`` cycles after the AR handshake (bursts in order, one beat per cycle, never
    pausing) and the consumer never stalls. A burst is registered (AR valid the next cycle)
    once fewer than ``outstanding`` bursts are unanswered, or in the cycle the last beat of
    the oldest one arrives."""
    ar, first, last = [], [], []
    load = READ_ISSUE_DELAY - 2
    for k, (_addr, beats) in enumerate(bursts(desc, bus_bytes, max_burst)):
        load = max(load + 1, last[k - outstanding] if k >= outstanding else 0)
        ar.append(load + 1)
        first.append(max(ar[k] + latency, last[k - 1] + 1 if k else 0))
        last.append(first[k] + beats - 1)
    return ReadTiming(ar, first, last, last[-1] + 1 if last else 0)


@dataclass(frozen=True)
class WriteTiming:
    """Cycles of one write from the descriptor's handshake (cycle 0).

    Members
    -------
    aw, w_first, w_last, b : list[int]
        Handshake cycles per burst: AW, first and last W beat, B response.
    cycles : int
        Cycles until ``done``: the cycle after the last B response, plus one.
    """

    aw: list[int]
    w_first: list[int]
    w_last: list[int]
    b: list[int]
    cycles: int


def write_timing(desc: Descriptor, bus_bytes: int, b_latency: int, outstanding: int,
                 max_burst: int = AXI_MAX_BURST) -> WriteTiming:
    """Timing of a write when the memory takes every AW and W beat at once and answers B
    ``b_latency`` cycles after a burst's last W beat, and the producer never pauses. A burst's
    W beats start the cycle after its AW is valid, and after the previous burst's last beat."""
    aw, wf, wl, b = [], [], [], []
    load = WRITE_ISSUE_DELAY - 2
    for k, (_addr, beats) in enumerate(bursts(desc, bus_bytes, max_burst)):
        load = max(load + 1, b[k - outstanding] if k >= outstanding else 0)
        aw.append(load + 1)
        wf.append(max(load + 2, wl[k - 1] + 1 if k else 0))
        wl.append(wf[k] + beats - 1)
        b.append(wl[k] + b_latency)
    return WriteTiming(aw, wf, wl, b, b[-1] + 2 if b else 0)
