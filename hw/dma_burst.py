"""What the AXI4 master's read and write engines share: the descriptor, its checks, the AXI4
port members and the burst walker that splits a descriptor into INCR bursts.

The rules (docs/dma.md) are those of :mod:`golden.dma`: a descriptor moves ``rows`` rows of
``row_bytes`` bytes, row ``r`` starting at ``base + r * stride``; each row is
``ceil(row_bytes / B)`` bus words (``B = bus_width / 8``); a row (or a run of rows without gaps)
is split into bursts of at most ``max_burst`` beats that never cross a 4 KB boundary.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import clog2
from exion.limits import (AXI_BOUNDARY, AXI_MAX_BURST, DMA_ADDR_WIDTH, DMA_ROW_BYTES_BITS,
                          DMA_ROWS_BITS)
from exion.regmap import Cause
from exion.util import check_int

__all__ = ["descriptor_layout", "burst_layout", "word_layout", "axi_read_members", "axi_write_members",
           "descriptor_cause", "descriptor_cause_staged", "check_dma_params", "BurstWalker", "CAUSE_BITS"]

#: Width of a cause output (the core's ``CAUSE`` register holds it).
CAUSE_BITS = 8


def descriptor_layout(addr_width: int = DMA_ADDR_WIDTH) -> data.StructLayout:
    """One transfer: ``base`` byte address, ``row_bytes`` (>= 1), ``rows`` (>= 1) and
    ``stride`` (bytes from one row's start to the next). ``base`` is the least significant
    field."""
    return data.StructLayout({
        "base": unsigned(addr_width), "row_bytes": unsigned(DMA_ROW_BYTES_BITS),
        "rows": unsigned(DMA_ROWS_BITS), "stride": unsigned(addr_width)})


def word_layout(bus_width: int) -> data.StructLayout:
    """One word of the read stream: ``data`` (bytes past the row's end zero), ``row_end``
    (last word of a row), ``last`` (last word of the descriptor)."""
    return data.StructLayout({"data": unsigned(bus_width), "row_end": 1, "last": 1})


def burst_layout(addr_width: int) -> data.StructLayout:
    """One burst: address, AXI ``len`` (beats - 1), last burst of its descriptor."""
    return data.StructLayout({"addr": unsigned(addr_width), "len": unsigned(8), "last": 1})


def _axi_members(prefix, chans, addr_width, bus_width):
    # Master view: address and write data out, read data and responses in.
    addr = {"id": Out(1), "addr": Out(addr_width), "len": Out(8), "size": Out(3),
            "burst": Out(2), "lock": Out(1), "cache": Out(4), "prot": Out(3),
            "valid": Out(1), "ready": In(1)}
    table = {
        "ar": addr, "aw": addr,
        "r": {"id": In(1), "data": In(bus_width), "resp": In(2), "last": In(1),
              "valid": In(1), "ready": Out(1)},
        "w": {"data": Out(bus_width), "strb": Out(bus_width // 8), "last": Out(1),
              "valid": Out(1), "ready": In(1)},
        "b": {"id": In(1), "resp": In(2), "valid": In(1), "ready": Out(1)},
    }
    return {f"{prefix}{c}{n}": mem for c in chans for n, mem in table[c].items()}


def axi_read_members(addr_width: int, bus_width: int, prefix: str = "m_axi_") -> dict:
    """Flat AXI4 master read-channel members (``m_axi_araddr`` ...: AR and R), one ID bit."""
    return _axi_members(prefix, ("ar", "r"), addr_width, bus_width)


def axi_write_members(addr_width: int, bus_width: int, prefix: str = "m_axi_") -> dict:
    """Flat AXI4 master write-channel members (AW, W and B), one ID bit."""
    return _axi_members(prefix, ("aw", "w", "b"), addr_width, bus_width)


def check_dma_params(bus_width, addr_width, outstanding, max_burst,
                     outstanding_name: str = "outstanding"):
    """Validate the parameters every DMA component takes (ValueError naming the bad one)."""
    check_int("bus_width", bus_width, 32, 1024)
    if bus_width & (bus_width - 1):
        raise ValueError(f"bus_width = {bus_width} must be a power of two in [32, 1024]")
    check_int("addr_width", addr_width, 13, 64)
    check_int(outstanding_name, outstanding, 1, 64)
    check_int("max_burst", max_burst, 1, AXI_MAX_BURST)


def _room(m: Module, desc, region_end, bus_bytes: int):
    """``(room, row_beats)``: ``region_end - (base + ceil(row_bytes / B) * B)`` (signed, wide
    enough for every operand), so that ``end > region_end`` is ``(rows - 1) * stride > room``:
    one comparison after the product, the subtractions beside the multiplier."""
    shift = clog2(bus_bytes)
    aw = len(desc.base)
    row_beats = Signal(DMA_ROW_BYTES_BITS + 1 - shift)
    m.d.comb += row_beats.eq((desc.row_bytes + (bus_bytes - 1)) >> shift)
    width = max(aw, DMA_ROW_BYTES_BITS + 1) + 3
    s_end, s_base, s_size = Signal(signed(width)), Signal(signed(width)), Signal(signed(width))
    room = Signal(signed(width))
    m.d.comb += [s_end.eq(region_end), s_base.eq(desc.base), s_size.eq(row_beats << shift),
                 room.eq(s_end - s_base - s_size)]
    return room


def _early_cause(desc, region_base, bus_bytes: int):
    # the causes that need no product, in priority order
    misaligned = ((desc.base | desc.stride) & (bus_bytes - 1)) != 0
    return Mux((desc.rows == 0) | (desc.row_bytes == 0), int(Cause.BAD_FIELD),
               Mux(misaligned, int(Cause.DMA_ALIGN),
                   Mux(desc.base < region_base, int(Cause.DMA_REGION), 0)))


def _over(prod, room):
    # end > region_end  <=>  prod > room; a negative room is exceeded by any product
    return (room < 0) | (prod > room[:len(room) - 1])


def descriptor_cause(m: Module, desc, region_base, region_end, bus_bytes: int) -> Signal:
    """The cause code a descriptor is refused with (0: good), combinational.

    In order: ``BAD_FIELD`` (zero rows or zero bytes), ``DMA_ALIGN`` (``base`` or ``stride`` not
    a multiple of ``bus_bytes``), ``DMA_REGION`` (a word the transfer touches lies outside
    ``[region_base, region_end)``)."""
    prod = Signal(len(desc.base) + DMA_ROWS_BITS)
    m.d.comb += prod.eq((desc.rows - 1)[:DMA_ROWS_BITS] * desc.stride)
    room = _room(m, desc, region_end, bus_bytes)
    early = Signal(CAUSE_BITS)
    m.d.comb += early.eq(_early_cause(desc, region_base, bus_bytes))
    cause = Signal(CAUSE_BITS)
    m.d.comb += cause.eq(Mux(early != 0, early,
                             Mux(_over(prod, room), int(Cause.DMA_REGION), 0)))
    return cause


def descriptor_cause_staged(m: Module, desc, region_base, region_end, bus_bytes: int) -> Signal:
    """:func:`descriptor_cause` in two stages, for a ``desc`` that holds for two cycles: the
    cause of the descriptor ``desc`` held in the previous cycle.

    The first stage registers ``(rows - 1) * stride`` (a multiplier), the room
    ``region_end - (base + ceil(row_bytes / B) * B)`` and the causes that need no product; the
    second compares the product with the room. No path then holds the multiplier and the
    comparison's carry chain together (docs/fpga.md)."""
    prod = Signal(len(desc.base) + DMA_ROWS_BITS)
    room_c = _room(m, desc, region_end, bus_bytes)
    room = Signal.like(room_c)
    early = Signal(CAUSE_BITS)
    m.d.sync += [prod.eq((desc.rows - 1)[:DMA_ROWS_BITS] * desc.stride), room.eq(room_c),
                 early.eq(_early_cause(desc, region_base, bus_bytes))]
    cause = Signal(CAUSE_BITS)
    m.d.comb += cause.eq(Mux(early != 0, early,
                             Mux(_over(prod, room), int(Cause.DMA_REGION), 0)))
    return cause


class BurstWalker(wiring.Component):
    """Splits a descriptor into INCR bursts, one per cycle.

    ``start`` (one cycle, while idle) loads ``desc`` (which the walker in fact copies in every
    idle cycle), which must have passed :func:`descriptor_cause` and must hold until the
    first burst's handshake: a run's beat count ``rows * ceil(row_bytes /
    B)`` is a product registered from ``desc`` in every cycle and taken in the cycle after
    ``start``, so that no path holds the multiplier and the burst arithmetic together
    (docs/fpga.md).
    Bursts then leave on ``burst`` in address order: a row at a time (rows that follow each
    other without a gap, ``stride == ceil(row_bytes / B) * B``, as one run), each burst as long
    as ``max_burst``, the run's remaining beats and the next 4 KB boundary allow. ``stop`` drops
    the rest (after an error). ``burst.payload`` is combinational from registers.

    Parameters
    ----------
    bus_bytes, addr_width, max_burst : int

    Members
    -------
    start : In(1) ; desc : In(descriptor_layout(addr_width)) ; stop : In(1)
    burst : Out(stream.Signature(burst_layout(addr_width)))
    busy : Out(1)
        Bursts of the loaded descriptor remain.
    """

    def __init__(self, *, bus_bytes: int, addr_width: int, max_burst: int):
        check_dma_params(bus_bytes * 8 if isinstance(bus_bytes, int) else bus_bytes,
                         addr_width, 1, max_burst)
        self._bb, self._aw, self._max = bus_bytes, addr_width, max_burst
        super().__init__({
            "start": In(1), "desc": In(descriptor_layout(addr_width)), "stop": In(1),
            "burst": Out(stream.Signature(burst_layout(addr_width))), "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bb, shift, mx = self._bb, clog2(self._bb), self._max
        page = clog2(AXI_BOUNDARY)
        beats_bits = DMA_ROW_BYTES_BITS + 1 - shift
        lo_bits = mx.bit_length()               # a count of at most max_burst beats

        def cap_of(a):      # beats to the next 4 KB boundary from address a, at most max_burst
            to_bound = Signal(page + 1 - shift)
            m.d.comb += to_bound.eq((AXI_BOUNDARY - a[:page]) >> shift)
            return Mux(to_bound < mx, to_bound, mx)

        # Every burst but a row's (or run's) last is exactly `cap` beats long, so the burst's
        # length, the next address, the beats left and the next cap are computed from
        # registers alone; the handshake only picks them (docs/fpga.md). nrow: the next row's
        # start (row + stride); cap: the burst limit at addr; big: the beats left > max_burst.
        addr, nrow, stride = Signal(self._aw), Signal(self._aw), Signal(self._aw)
        rem = Signal(beats_bits + DMA_ROWS_BITS)
        row_beats = Signal(beats_bits)
        rows, rows_one = Signal(DMA_ROWS_BITS), Signal()
        cap = Signal(range(mx + 1))
        rem_big, rb_big = Signal(), Signal()
        # run_beats: the contiguous run's beats, registered from desc every cycle; first: the
        # run's first burst is not taken yet, so its beats come from run_beats, not rem
        run_beats = Signal(beats_bits + DMA_ROWS_BITS)
        first = Signal()
        left = Signal(beats_bits + DMA_ROWS_BITS)
        big = Signal()
        # Rows that follow each other without a gap are one run: bursts then span rows.
        rb, contig = Signal(beats_bits), Signal()
        m.d.comb += [rb.eq((self.desc.row_bytes + (bb - 1)) >> shift),
                     contig.eq((self.desc.rows > 1) & (self.desc.stride == (rb << shift)))]
        m.d.sync += run_beats.eq(self.desc.rows * rb)
        m.d.comb += [left.eq(Mux(first, run_beats, rem)),
                     big.eq(Mux(first, run_beats > mx, rem_big))]
        row_done = Signal()
        m.d.comb += [
            row_done.eq(~big & (left[:lo_bits] <= cap)),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(Mux(row_done, left[:lo_bits], cap) - 1),
            self.burst.payload.last.eq(row_done & rows_one),
            self.busy.eq(self.burst.valid),
        ]
        rest = Signal.like(rem)
        m.d.comb += rest.eq(left - cap)
        # (the descriptor loads in every idle cycle, so `start` drives only `valid`: its
        # enable is not the engine's check)
        with m.If(~self.burst.valid):
            base, n_rows = self.desc.base, self.desc.rows
            m.d.sync += [addr.eq(base), nrow.eq(base + self.desc.stride),
                         stride.eq(self.desc.stride), cap.eq(cap_of(base)),
                         rows.eq(Mux(contig, 1, n_rows)), rows_one.eq(contig | (n_rows == 1)),
                         first.eq(contig), rem.eq(rb), rem_big.eq(rb > mx), rb_big.eq(rb > mx),
                         row_beats.eq(rb)]
            with m.If(self.start):
                m.d.sync += self.burst.valid.eq(1)
        with m.Elif(self.stop):
            m.d.sync += [self.burst.valid.eq(0), first.eq(0)]
        with m.Elif(self.burst.valid & self.burst.ready):
            m.d.sync += first.eq(0)
            with m.If(row_done):
                with m.If(rows_one):
                    m.d.sync += self.burst.valid.eq(0)
                m.d.sync += [addr.eq(nrow), nrow.eq(nrow + stride), cap.eq(cap_of(nrow)),
                             rem.eq(row_beats), rem_big.eq(rb_big),
                             rows.eq(rows - 1), rows_one.eq(rows == 2)]
            with m.Else():
                nxt = Signal(self._aw)
                m.d.comb += nxt.eq(addr + (cap << shift))
                m.d.sync += [addr.eq(nxt), cap.eq(cap_of(nxt)), rem.eq(rest),
                             rem_big.eq(rest > mx)]
        return m
