"""The core's ``MEM`` commands (hw/core_dma.py) at the golden level: the descriptor of a command,
the memory image of its data, what a bus fault leaves behind, and its cycles.

A ``LOAD_IMEM`` / ``LOAD_WMEM`` / ``READ_OMEM`` with the ``MEM`` flag moves one descriptor
(:class:`golden.dma.Descriptor`) through the core's AXI4 master port, ``base = addr`` (ARG4),
``stride`` (ARG5) and:

* ``LOAD_IMEM``: ``rows`` rows (row ``r`` = IMEM bank ``r`` = token ``r``), each ``count``
  lane vectors of ``lane_bytes = ceil(lanes * data_width / 8)`` bytes back to back;
* ``LOAD_WMEM``: ``cols * streams`` rows (row ``c * streams + d`` = bank ``c``, stream ``d``),
  each ``count`` lane vectors;
* ``READ_OMEM``: ``count`` rows (row ``i`` = OMEM address ``base + i`` of every bank, bank 0
  at the least significant bits), each ``out_bytes = ceil(rows * data_width / 8)`` bytes.

Items are little-endian; a lane vector holds lane ``l`` at bits ``l * data_width`` (two's
complement), as on the streams. The rows are thus the stream beats in stream order, grouped.

Bus faults: the memory (cocotbext-axi's ``AxiRam`` in the benches) answers a bus word that
touches a faulty byte with an error. A read delivers the words before the first faulty one;
the load writes the items whose bytes all arrived. A write stops after the first burst with a
faulty word; the memory writes that burst's other words (the slave's choice; AxiRam does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exion.limits import AXI_MAX_BURST, CORE_READ_BURST, DMA_READ_OUTSTANDING

from . import dma

__all__ = ["MEM_OPS", "READ_FIFO_DELAY", "MemPort", "item_bytes", "mem_descriptor", "pack_lanes", "unpack_lanes",
           "lane_rows", "place_rows", "out_frame", "load_items", "write_rows", "load_cycles",
           "read_cycles", "mem_load", "mem_read", "gather_slots", "gather_descriptor",
           "Gather", "gather", "gather_cycles", "gather_bytes"]

#: Opcodes that take the ``MEM`` flag.
MEM_OPS = ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM")

#: Cycles an R beat spends in its read engine's FIFO (hw/dma_share.py: a SyncFIFO shows a word
#: the cycle after it is written; the FIFO never fills), added to the memory's read latency.
READ_FIFO_DELAY = 1


def item_bytes(lanes: int, rows: int, data_width: int) -> tuple[int, int]:
    """``(lane_bytes, out_bytes)``: bytes of a load item and of a read item."""
    return -(-lanes * data_width // 8), -(-rows * data_width // 8)


def mem_descriptor(op: str, f, lim) -> dma.Descriptor:
    """The descriptor of ``MEM`` command ``op`` with fields ``f`` (a mapping or an object with
    the field attributes) on a core of capacities ``lim`` (:class:`golden.core_checks.Limits`)."""
    get = (lambda n: int(f.get(n, 0))) if hasattr(f, "get") else (lambda n: int(getattr(f, n)))
    count = get("count")
    if op == "LOAD_IMEM":
        rows, row_bytes = lim.rows, count * lim.lane_bytes
    elif op == "LOAD_WMEM":
        rows, row_bytes = lim.cols * (get("streams") or lim.merge_degree), count * lim.lane_bytes
    elif op == "READ_OMEM":
        rows, row_bytes = count, lim.out_bytes
    else:
        raise ValueError(f"op = {op!r} is not one of {', '.join(MEM_OPS)}")
    return dma.Descriptor(get("addr"), row_bytes, rows, get("stride"))


def pack_lanes(values, width: int) -> int:
    """Integers (two's complement, element 0 at the LSB) as one unsigned integer."""
    word, mask = 0, (1 << width) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack_lanes(word: int, width: int, count: int) -> list[int]:
    """Inverse of :func:`pack_lanes` (signed)."""
    out = []
    for i in range(count):
        v = (word >> (i * width)) & ((1 << width) - 1)
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out


def lane_rows(vectors, data_width: int) -> list[bytes]:
    """The memory rows of a ``MEM`` load: ``vectors`` is ``(rows, count, lanes)`` (IMEM: token
    ``r``'s lane chunks; WMEM: bank ``c`` stream ``d`` at row ``c * streams + d``), each row
    ``count`` lane vectors of ``ceil(lanes * data_width / 8)`` bytes."""
    out = []
    for row in vectors:
        lanes = len(row[0]) if len(row) else 0
        ib = -(-lanes * data_width // 8)
        out.append(b"".join(pack_lanes(v, data_width).to_bytes(ib, "little") for v in row))
    return out


def place_rows(mem: bytearray, desc: dma.Descriptor, rows) -> None:
    """Store ``rows`` (bytes) at the row addresses of ``desc``."""
    for r, data in enumerate(rows):
        a = desc.row_addr(r)
        mem[a:a + len(data)] = data


def out_frame(mem, desc: dma.Descriptor, rows: int, data_width: int) -> list[list[int]]:
    """A ``MEM`` read's outputs back from memory: ``count`` beats of ``rows`` values."""
    raw = bytes(mem)
    return [unpack_lanes(int.from_bytes(raw[desc.row_addr(i):desc.row_addr(i) + desc.row_bytes],
                                        "little"), data_width, rows)
            for i in range(desc.rows)]


@dataclass
class MemPort:
    """The memory on the master port, as the model sees it.

    Members
    -------
    mem : bytearray
        Byte ``a`` at address ``a`` (a word past its end is a fault).
    fault : range
        Faulty bytes: a bus word touching one is answered with ``fault_cause``.
    fault_cause : str
        ``"DMA_SLVERR"`` or ``"DMA_DECERR"``.
    read_latency, b_latency : int
        Cycles from an AR handshake to its first R beat, from a burst's last W beat to its B
        (``golden.dma.read_timing`` / ``write_timing``; AxiRam: 2 and 2).
    """

    mem: bytearray = field(default_factory=bytearray)
    fault: range = range(0)
    fault_cause: str = "DMA_SLVERR"
    read_latency: int = 2
    b_latency: int = 2

    def bad(self, addr: int, n: int) -> bool:
        return (addr + n > len(self.mem)
                or (bool(self.fault) and addr < self.fault.stop and addr + n > self.fault.start))


def _words(desc: dma.Descriptor, bb: int):
    """Bus word addresses in stream order, with their row."""
    n = dma.row_words(desc, bb)
    return [(desc.row_addr(r) + w * bb, r) for r in range(desc.rows) for w in range(n)]


def load_items(port: MemPort, desc: dma.Descriptor, bb: int, ib: int,
               n_items: int) -> tuple[list[int], int, str | None]:
    """``(items, words, fault)``: the items a ``MEM`` load writes (stream order), the bus words
    delivered and the fault cause (``None``: none)."""
    raw = bytes(port.mem)           # plain bytes: a faulting store must not raise here
    words, fault = _words(desc, bb), None
    good = len(words)
    for i, (a, _r) in enumerate(words):
        if port.bad(a, bb):
            good, fault = i, port.fault_cause
            break
    n_row = dma.row_words(desc, bb)
    items = []
    for r in range(desc.rows):
        have = max(0, min(n_row, good - r * n_row)) * bb       # bytes of row r delivered
        a = desc.row_addr(r)
        for j in range(n_items):
            if (j + 1) * ib > have:
                return items, good, fault
            items.append(int.from_bytes(raw[a + j * ib:a + (j + 1) * ib], "little"))
    return items, good, fault


def write_rows(port: MemPort, desc: dma.Descriptor, rows: list[int],
               bb: int) -> tuple[int, str | None]:
    """Write ``rows`` (one integer of ``desc.row_bytes`` bytes each) to ``port.mem`` as the
    write engine does; returns ``(bytes sent with their strobe high, fault cause)``."""
    n_row = dma.row_words(desc, bb)
    stream = []                     # (address, bytes) of every word, stream order
    for r, v in enumerate(rows):
        data = int(v).to_bytes(n_row * bb, "little")
        for w in range(n_row):
            keep = min(bb, desc.row_bytes - w * bb)
            stream.append((desc.row_addr(r) + w * bb, data[w * bb:w * bb + keep]))
    sent, k = 0, 0
    for _addr, beats in dma.bursts(desc, bb):
        failed = False
        for a, data in stream[k:k + beats]:
            sent += len(data)
            if port.bad(a, len(data)):
                failed = True
            else:
                port.mem[a:a + len(data)] = data
        k += beats
        if failed:
            return sent, port.fault_cause
    return sent, None


def load_cycles(desc: dma.Descriptor, bb: int, ib: int, n_items: int, latency: int,
                outstanding: int = DMA_READ_OUTSTANDING,
                max_burst: int = AXI_MAX_BURST) -> int:
    """Cycles of a ``MEM`` load (``MEM_RD_CYCLES``): from the cycle the engine takes it (0) to
    the cycle its last item is written, both counted, with a memory of read latency ``latency``
    that never pauses. A cycle-by-cycle model of the read engine (the issue rule of
    :func:`golden.dma.read_timing`: a burst registered at cycle ``READ_ISSUE_DELAY - 1`` (3) at
    the earliest, one a cycle, fewer than ``outstanding`` unanswered or the oldest one's last beat in that cycle; AR the
    next cycle; a burst's data from ``latency`` cycles after its AR, one word a cycle) and the
    unpacker (an item out in the cycle after its last byte came; a word taken while at most one
    item's bytes stay after this cycle's item, a row's first word only with the previous row's
    last item). The core's engines: ``max_burst`` = ``CORE_READ_BURST`` and ``latency`` the
    memory's plus :data:`READ_FIFO_DELAY` (:func:`mem_load`)."""
    ends, acc = [], 0
    for _a, beats in dma.bursts(desc, bb, max_burst):
        acc += beats
        ends.append(acc)            # words delivered once burst k is complete
    row_words, n_words = dma.row_words(desc, bb), acc
    ar, loaded, answered = [], 0, 0
    got, fill, left, seen, written = 0, 0, n_items, False, 0
    t = -1
    while written < desc.rows * n_items:
        t += 1
        emit = fill >= ib
        last = left == 1
        after = (0 if last else fill - ib) if emit else fill
        ready = after <= ib and (not seen or (emit and last))
        k = next(i for i, e in enumerate(ends) if e > got) if got < n_words else None
        take = ready and k is not None and k < loaded and t >= ar[k] + latency
        last_beat = take and got + 1 == ends[k]
        if loaded < len(ends) and t >= dma.READ_ISSUE_DELAY - 1 and \
                (loaded - answered < outstanding or last_beat):
            ar.append(t + 1)
            loaded += 1
        if emit:
            written += 1
            left = n_items if last else left - 1
            seen = seen and not last
        if take:
            got += 1
            after += bb
            seen = seen or got % row_words == 0
            answered += last_beat
        fill = after
    return t + 1


def read_cycles(desc: dma.Descriptor, bb: int, b_latency: int) -> int:
    """Cycles of a ``MEM`` read (``MEM_WR_CYCLES``): the write engine's
    (:func:`golden.dma.write_timing`, one burst outstanding); the read engine's beats, valid two
    cycles after the command is taken and one a cycle after, never hold it up."""
    return dma.write_timing(desc, bb, b_latency, 1).cycles


def mem_load(port: MemPort, cmd, lim, data_width: int, lanes: int, regs):
    """Run ``MEM`` load ``cmd`` (a :class:`golden.core_checks.Command`) against ``port``:
    ``(lane vectors written in stream order, fault cause or None)``; adds the bytes delivered
    to ``regs.bytes_in`` and, without a fault, sets ``regs.mem_rd_cycles``."""
    desc = mem_descriptor(cmd.op, cmd, lim)
    items, words, fault = load_items(port, desc, lim.bus_bytes, lim.lane_bytes, cmd.count)
    regs.bytes_in += words * lim.bus_bytes
    if not fault:
        regs.mem_rd_cycles = load_cycles(desc, lim.bus_bytes, lim.lane_bytes, cmd.count,
                                         port.read_latency + READ_FIFO_DELAY,
                                         max_burst=CORE_READ_BURST)
    return [unpack_lanes(v, data_width, lanes) for v in items], fault


def mem_read(port: MemPort, cmd, lim, frame, data_width: int, regs) -> str | None:
    """Run ``MEM`` read ``cmd`` of ``frame`` (``(count, rows)`` outputs) against ``port``:
    returns the fault cause (None); adds the bytes written to ``regs.bytes_out`` and, without a
    fault, sets ``regs.mem_wr_cycles``."""
    desc = mem_descriptor("READ_OMEM", cmd, lim)
    sent, fault = write_rows(port, desc, [pack_lanes(b, data_width) for b in frame],
                             lim.bus_bytes)
    regs.bytes_out += sent
    if not fault:
        regs.mem_wr_cycles = read_cycles(desc, lim.bus_bytes, port.b_latency)
    return fault


# -- gather: a sparse GEMM's weights fetched by the ConMerge vectors ---------------------------
#
# ``LOAD_WMEM`` with ``MEM`` and ``GATHER`` fills WMEM buffer ``wbuf`` from word ``base`` with
# exactly :func:`golden.sdue.wmem_image` of the blocks in SMEM (those of its ``half``): the
# weight matrix lies in memory channel-major, channel ``n``'s row (its ``count`` = ``kc`` lane
# chunks, ``count * lane_bytes`` bytes) at ``addr + n * stride``. The load writes in the load
# engine's order (bank ``c``, stream ``d``, block ``b``): a slot that names channel ``n`` is
# one one-row descriptor of that row; an unused slot is ``count`` zero vectors, no bus traffic.


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
    leaves that row's items whose bytes all arrived (:func:`load_items`)."""
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


def gather_cycles(blocks, descriptors, cols: int, merge_degree: int, count: int, bb: int,
                  ib: int, latency: int) -> int:
    """Cycles of a gather (``MEM_RD_CYCLES``) with a read latency ``latency`` (the memory's plus
    :data:`READ_FIFO_DELAY`, as :func:`mem_load` counts it) that
    never pauses, from the cycle the engine takes it (0) to the cycle its last item is
    written, both counted: 1 (the take, SMEM addressed) plus, slot after slot, ``count + 1``
    for an unused one (its SMEM word, then a zero vector a cycle) and :func:`load_cycles` of
    its one-row descriptor for one that names a channel (taken in the cycle its SMEM word is
    read; the next slot's word is read in the cycle of its last item). With no block: 1."""
    it = iter(descriptors)
    total = 1
    for _c, _d, _b, ch in gather_slots(blocks, cols, merge_degree):
        total += count + 1 if ch < 0 else load_cycles(next(it), bb, ib, count, latency,
                                                      max_burst=CORE_READ_BURST)
    return total


def gather_bytes(blocks, count: int, cols: int, merge_degree: int, bb: int,
                 ib: int) -> int:
    """Bytes a complete gather reads (whole bus words of every named row)."""
    words = -(-count * ib // bb)
    return sum(words * bb for *_x, ch in gather_slots(blocks, cols, merge_degree) if ch >= 0)
