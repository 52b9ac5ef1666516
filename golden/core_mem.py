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
  at the least significant bits), each ``out_bytes = ceil(rows * data_width / 8)`` bytes;
  with ``PACK``, one row of ``count * out_bytes`` bytes (the beats back to back, ``stride``
  unused).

Items are little-endian; a lane vector holds lane ``l`` at bits ``l * data_width`` (two's
complement), as on the streams. The rows are thus the stream beats in stream order, grouped.

Bus faults: the memory (cocotbext-axi's ``AxiRam`` in the benches) answers a bus word that
touches a faulty byte with an error. A read delivers the words before the first faulty one;
the load writes the items whose bytes all arrived. A write stops after the first burst with a
faulty word; the memory writes that burst's other words (the slave's choice; AxiRam does). The
core's write engine has ``CORE_WRITE_OUTSTANDING`` bursts in flight: the bursts issued behind
the failing one before its error response came back send their beats with the strobes low from
then on, so their earlier words may or may not be in memory (:attr:`MemPort.maybe`); the bytes
counted (``BYTES_OUT``) are those of the bursts up to the failing one, whatever the timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exion.limits import AXI_MAX_BURST, CORE_MEM_WAYS, CORE_READ_BURST, \
    CORE_WRITE_OUTSTANDING, DMA_READ_OUTSTANDING
from exion.regmap import FLAGS

from . import dma

__all__ = ["MEM_OPS", "READ_FIFO_DELAY", "MemPort", "item_bytes", "mem_descriptor", "pack_lanes", "unpack_lanes",
           "lane_rows", "place_rows", "out_frame", "load_items", "write_rows", "load_cycles",
           "read_cycles", "mem_load", "mem_read", "packed",
           "READ_BEAT_DELAY"]

#: Opcodes that take the ``MEM`` flag.
MEM_OPS = ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM")

#: Cycles an R beat spends in its read engine's FIFO (hw/dma_share.py: a SyncFIFO shows a word
#: the cycle after it is written; the FIFO never fills), added to the memory's read latency.
READ_FIFO_DELAY = 1

#: Cycles from a ``MEM`` read's start to its first OMEM beat (hw/core_read.py).
READ_BEAT_DELAY = 2


def item_bytes(lanes: int, rows: int, data_width: int) -> tuple[int, int]:
    """``(lane_bytes, out_bytes)``: bytes of a load item and of a read item."""
    return -(-lanes * data_width // 8), -(-rows * data_width // 8)


def packed(op: str, f) -> bool:
    """A ``READ_OMEM`` with ``MEM`` and ``PACK`` (``f``: a mapping with ``pack``, or a
    :class:`golden.core_checks.Command`)."""
    if op != "READ_OMEM":
        return False
    if hasattr(f, "get"):
        return bool(f.get("pack", 0))
    return bool(getattr(f, "mem", 0)) and bool(int(getattr(f, "word", 0)) & FLAGS["PACK"])


def mem_descriptor(op: str, f, lim) -> dma.Descriptor:
    """The descriptor of ``MEM`` command ``op`` with fields ``f`` (a mapping or an object with
    the field attributes; :func:`packed`) on a core of capacities ``lim``
    (:class:`golden.core_checks.Limits`)."""
    get = (lambda n: int(f.get(n, 0))) if hasattr(f, "get") else (lambda n: int(getattr(f, n)))
    count = get("count")
    if packed(op, f):
        return dma.Descriptor(get("addr"), count * lim.out_bytes, 1, get("stride"))
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


def out_frame(mem, desc: dma.Descriptor, rows: int, data_width: int,
              pack: bool = False) -> list[list[int]]:
    """A ``MEM`` read's outputs back from memory: ``count`` beats of ``rows`` values (``pack``:
    the beats back to back in the descriptor's one row)."""
    raw, ob = bytes(mem), -(-rows * data_width // 8)
    spans = ([(desc.base + i * ob, ob) for i in range(desc.row_bytes // ob)] if pack
             else [(desc.row_addr(i), desc.row_bytes) for i in range(desc.rows)])
    return [unpack_lanes(int.from_bytes(raw[a:a + n], "little"), data_width, rows)
            for a, n in spans]


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
    maybe : dict[int, int]
        Bytes a failed write may or may not have written (address: the byte it would have
        written; ``mem`` keeps the old one): the words of the bursts issued behind the failing
        one (:func:`write_rows`). A bench compares them with either value and then takes the
        memory's.
    """

    mem: bytearray = field(default_factory=bytearray)
    fault: range = range(0)
    fault_cause: str = "DMA_SLVERR"
    read_latency: int = 2
    b_latency: int = 2
    maybe: dict = field(default_factory=dict)

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


def write_rows(port: MemPort, desc: dma.Descriptor, rows: list[int], bb: int,
               outstanding: int = CORE_WRITE_OUTSTANDING) -> tuple[int, str | None]:
    """Write ``rows`` (one integer of ``desc.row_bytes`` bytes each) to ``port.mem`` as the
    write engine does with ``outstanding`` bursts in flight; returns ``(bytes of the bursts up
    to the failing one, fault cause)``. After a failing burst, the words of the
    ``outstanding - 1`` bursts behind it go to ``port.maybe``."""
    n_row = dma.row_words(desc, bb)
    stream = []                     # (address, bytes) of every word, stream order
    for r, v in enumerate(rows):
        data = int(v).to_bytes(n_row * bb, "little")
        for w in range(n_row):
            keep = min(bb, desc.row_bytes - w * bb)
            stream.append((desc.row_addr(r) + w * bb, data[w * bb:w * bb + keep]))
    sent, k = 0, 0
    bursts = dma.bursts(desc, bb)
    for i, (_addr, beats) in enumerate(bursts):
        failed = False
        for a, data in stream[k:k + beats]:
            sent += len(data)
            if port.bad(a, len(data)):
                failed = True
            else:
                port.mem[a:a + len(data)] = data
        k += beats
        if failed:
            for _a, more in bursts[i + 1:i + outstanding]:
                for a, data in stream[k:k + more]:
                    port.maybe.update((a + j, b) for j, b in enumerate(data))
                k += more
            return sent, port.fault_cause
    return sent, None


def load_cycles(desc: dma.Descriptor, bb: int, ib: int, n_items: int, latency: int,
                outstanding: int = DMA_READ_OUTSTANDING,
                max_burst: int = AXI_MAX_BURST, ways: int = 1) -> int:
    """Cycles of a ``MEM`` load (``MEM_RD_CYCLES``): from the cycle the engine takes it (0) to
    the cycle its last item is written, both counted, with a memory of read latency ``latency``
    that never pauses. A cycle-by-cycle model of the read engine (the issue rule of
    :func:`golden.dma.read_timing`: a burst registered at cycle ``READ_ISSUE_DELAY - 1`` (3) at
    the earliest, one a cycle, fewer than ``outstanding`` unanswered or the oldest one's last beat in that cycle; AR the
    next cycle; a burst's data from ``latency`` cycles after its AR, one word a cycle) and the
    unpacker (up to ``ways`` items of one row out in the cycle after their last byte came; a
    word taken while at most ``ways`` items' bytes stay after this cycle's items, a row's first
    word only with the previous row's last item). The core's engines: ``max_burst`` =
    ``CORE_READ_BURST``, ``latency`` the memory's plus :data:`READ_FIFO_DELAY`, ``ways``
    ``CORE_MEM_WAYS`` for ``LOAD_IMEM`` and 1 for ``LOAD_WMEM`` (:func:`mem_load`)."""
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
        n = min(ways, fill // ib, left) if emit else 0
        last = left == n
        after = (0 if last else fill - n * ib) if emit else fill
        ready = after <= ways * ib and (not seen or (emit and last))
        k = next(i for i, e in enumerate(ends) if e > got) if got < n_words else None
        take = ready and k is not None and k < loaded and t >= ar[k] + latency
        last_beat = take and got + 1 == ends[k]
        if loaded < len(ends) and t >= dma.READ_ISSUE_DELAY - 1 and \
                (loaded - answered < outstanding or last_beat):
            ar.append(t + 1)
            loaded += 1
        if emit:
            written += n
            left = n_items if last else left - n
            seen = seen and not last
        if take:
            got += 1
            after += bb
            seen = seen or got % row_words == 0
            answered += last_beat
        fill = after
    return t + 1


def read_cycles(desc: dma.Descriptor, bb: int, b_latency: int, ob: int | None = None,
                beats: int | None = None, ways: int = 1) -> int:
    """Cycles of a ``MEM`` read (``MEM_WR_CYCLES``) of ``beats`` OMEM beats of ``ob`` bytes
    (``None``: one per row of ``desc``, ``desc.row_bytes``), from the cycle it is taken (0) to
    the cycle of its ``done``, both counted, with a memory that answers B ``b_latency`` cycles
    after a burst's last W beat and never pauses. A cycle-by-cycle model of

    * the read engine: up to ``ways`` beats (``PACK``: ``CORE_MEM_WAYS``; else 1) valid from
      cycle :data:`READ_BEAT_DELAY`, the next ones the cycle after they are taken;
    * the packer (hw/core_dma.py): beats taken while at most a bus word's bytes stay after
      this cycle's word and no partial word waits to leave; a word out while a whole one is
      in, or the rest of a row (one beat without ``PACK``; all of them with it) is;
    * the write engine (:func:`golden.dma.write_timing`'s issue rule,
      ``CORE_WRITE_OUTSTANDING`` bursts in flight): burst ``k`` registered at
      ``max(previous + 1, B of burst k - outstanding)``, the first at
      ``WRITE_ISSUE_DELAY - 1``; its W beats from two cycles after that and after the previous
      burst's last, each as the packer has it."""
    if beats is None:
        beats, ob = desc.rows, desc.row_bytes
    pack = desc.rows == 1 and beats > 1
    n_out, lim = CORE_WRITE_OUTSTANDING, [b for _a, b in dma.bursts(desc, bb)]
    load, wl = [], []
    kb, wb = 0, 0                   # burst whose W beats are due, its beats sent
    s, fill, flush, t = 0, 0, False, -1
    while kb < len(lim):
        t += 1
        if len(load) == kb:         # burst kb registered (known once the one n_out back ended)
            load.append(max(load[-1] + 1 if load else dma.WRITE_ISSUE_DELAY - 1,
                            wl[kb - n_out] + b_latency if kb >= n_out else 0))
        out = (fill >= bb or (flush and fill > 0)) and t >= load[kb] + 2 \
            and (not kb or t > wl[kb - 1])
        after = max(0, fill - bb) if out else fill
        flush = flush and after > 0
        if out:
            wb += 1
            if wb == lim[kb]:
                wl.append(t)
                kb, wb = kb + 1, 0
        if not flush and after <= bb and t >= READ_BEAT_DELAY and s < beats:
            n = min(ways, beats - s)
            s += n
            after += n * ob
            flush = not pack or s == beats
        fill = after
    return wl[-1] + b_latency + 2


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
                                         max_burst=CORE_READ_BURST,
                                         ways=CORE_MEM_WAYS if cmd.op == "LOAD_IMEM" else 1)
    return [unpack_lanes(v, data_width, lanes) for v in items], fault


def mem_read(port: MemPort, cmd, lim, frame, data_width: int, regs) -> str | None:
    """Run ``MEM`` read ``cmd`` of ``frame`` (``(count, rows)`` outputs) against ``port``:
    returns the fault cause (None); adds the bytes written to ``regs.bytes_out`` and, without a
    fault, sets ``regs.mem_wr_cycles``."""
    desc, pack = mem_descriptor("READ_OMEM", cmd, lim), packed("READ_OMEM", cmd)
    rows = [pack_lanes(b, data_width) for b in frame]
    if pack:                        # the beats back to back: one row
        rows = [int.from_bytes(b"".join(v.to_bytes(lim.out_bytes, "little") for v in rows),
                               "little")]
    sent, fault = write_rows(port, desc, rows, lim.bus_bytes)
    regs.bytes_out += sent
    if not fault:
        regs.mem_wr_cycles = read_cycles(desc, lim.bus_bytes, port.b_latency, lim.out_bytes,
                                         len(frame), CORE_MEM_WAYS if pack else 1)
    return fault
