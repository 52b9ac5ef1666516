"""Bus words and the core's items, both ways, for the master port (hw/core_dma.py): the
:class:`Unpacker` cuts the bus words of a ``MEM`` load into lane vectors, the :class:`Packer`
puts a ``MEM`` read's OMEM beats into bus words. Their timing is modelled cycle by cycle in
``golden.core_mem`` (``load_cycles``, ``read_cycles``); sim/tb_core_dma.py holds them to it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .dma_burst import word_layout

__all__ = ["Unpacker", "Packer"]


def _check_ways(ways: int):
    if ways not in (1, 2):
        raise ValueError(f"ways = {ways!r} must be 1 or 2")


class Unpacker(wiring.Component):
    """Bus words in, items of ``item_bytes`` bytes out: each row (``n_items`` items, padded
    to whole words) is cut into its items; the padding is dropped.

    ``o.valid`` rises when an item's bytes are all in; with ``ways`` = 2 a transfer carries two
    items of a row when both are in (``o_two``; the second in the upper half of the payload).
    A word is taken while the buffer has room (at most ``bus_bytes + ways * item_bytes``
    bytes) and, after a row's last word, only with that row's last item. Items of at least a
    bus word (or, ``ways`` = 2, of half one) never hold up the bus.

    Members
    -------
    i : In(stream.Signature(word_layout(bus_bytes * 8)))
    o : Out(stream.Signature(ways * item_bytes * 8)) ; o_two : Out(1) (``ways`` = 2)
    start : In(1) ; n_items : In(16)
        A new transfer of rows of ``n_items`` items (read in the ``start`` cycle; also
        empties the buffer).
    clear : In(1)
        Empties the buffer (after a bus error).
    """

    def __init__(self, *, bus_bytes: int, item_bytes: int, ways: int = 1):
        _check_ways(ways)
        self._bb, self._ib, self._ways = bus_bytes, item_bytes, ways
        super().__init__({"i": In(stream.Signature(word_layout(bus_bytes * 8))),
                          "o": Out(stream.Signature(ways * item_bytes * 8)),
                          **({"o_two": Out(1)} if ways == 2 else {}),
                          "start": In(1), "n_items": In(16), "clear": In(1)})

    def elaborate(self, platform):
        m = Module()
        bb, ib, ways = self._bb, self._ib, self._ways
        cap = bb + ways * ib
        buf, fill = Signal(cap * 8), Signal(range(cap + 1))
        left, seen = Signal(16), Signal()       # items left in the row; its last word is in
        emit, row_last, accept, two = Signal(), Signal(), Signal(), Signal()
        fill_after, buf_after = Signal(range(cap + 1)), Signal(cap * 8)
        if ways == 2:
            m.d.comb += [two.eq((fill >= 2 * ib) & (left >= 2)), self.o_two.eq(two)]
        m.d.comb += [
            self.o.valid.eq(fill >= ib), self.o.payload.eq(buf[:ways * ib * 8]),
            emit.eq(self.o.valid & self.o.ready), row_last.eq(left == 1 + two),
            fill_after.eq(Mux(emit, Mux(row_last, 0, fill - Mux(two, 2 * ib, ib)), fill)),
            buf_after.eq(Mux(emit, Mux(row_last, 0, Mux(two, buf >> (2 * ib * 8),
                                                         buf >> (ib * 8))), buf)),
            self.i.ready.eq((fill_after <= ways * ib) & (~seen | (emit & row_last))
                            & ~self.clear),
            accept.eq(self.i.valid & self.i.ready),
        ]
        with m.If(self.start | self.clear):
            m.d.sync += [fill.eq(0), buf.eq(0), seen.eq(0)]
        with m.Else():
            m.d.sync += [
                buf.eq(buf_after | (Mux(accept, self.i.payload.data, 0) << (fill_after * 8))),
                fill.eq(fill_after + Mux(accept, bb, 0)),
                seen.eq((seen & ~(emit & row_last)) | (accept & self.i.payload.row_end)),
            ]
        n_items = Signal(16)                    # held from `start` (an input for one cycle)
        with m.If(self.start):
            m.d.sync += [left.eq(self.n_items), n_items.eq(self.n_items)]
        with m.Elif(emit):
            m.d.sync += left.eq(Mux(row_last, n_items, left - 1 - two))
        return m


class Packer(wiring.Component):
    """OMEM beats of ``item_bytes`` bytes in (up to ``ways`` a transfer), bus words out: a
    row's items back to back (byte ``j`` of the row in byte ``j % B`` of word ``j // B``), its
    last word cut short; ``i_end`` on a transfer ends a row (its words all leave before the
    next row's items come in).

    A transfer is taken while at most ``bus_bytes`` bytes stay after this cycle's word and no
    row's end waits; a word leaves once a whole one is in, or the row's end is.

    Members
    -------
    i : In(stream.Signature(ways * item_bytes * 8)) ; i_two : In(1) ; i_end : In(1)
        Items (the first at the LSB), whether there are two, whether a row ends with them.
    o : Out(stream.Signature(bus_bytes * 8))
    clear : In(1)
        Empties the buffer (after a bus error).
    """

    def __init__(self, *, bus_bytes: int, item_bytes: int, ways: int = 1):
        _check_ways(ways)
        self._bb, self._ib, self._ways = bus_bytes, item_bytes, ways
        super().__init__({"i": In(stream.Signature(ways * item_bytes * 8)),
                          "i_two": In(1), "i_end": In(1),
                          "o": Out(stream.Signature(bus_bytes * 8)), "clear": In(1)})

    def elaborate(self, platform):
        m = Module()
        bb, ib, ways = self._bb, self._ib, self._ways
        cap = bb + ways * ib
        buf, fill, flush = Signal(cap * 8), Signal(range(cap + 1)), Signal()
        out, accept, two = Signal(), Signal(), Signal()
        fill_after, buf_after, flush_after = Signal(range(cap + 1)), Signal(cap * 8), Signal()
        m.d.comb += [
            two.eq(self.i_two if ways == 2 else 0),
            self.o.valid.eq((fill >= bb) | (flush & (fill != 0))),
            self.o.payload.eq(buf[:bb * 8]),
            out.eq(self.o.valid & self.o.ready),
            fill_after.eq(Mux(out, Mux(fill > bb, fill - bb, 0), fill)),
            buf_after.eq(Mux(out, buf >> (bb * 8), buf)),
            flush_after.eq(flush & (fill_after != 0)),
            self.i.ready.eq(~flush_after & (fill_after <= bb) & ~self.clear),
            accept.eq(self.i.valid & self.i.ready),
        ]
        new = Mux(two, self.i.payload, self.i.payload[:ib * 8])
        with m.If(self.clear):
            m.d.sync += [fill.eq(0), buf.eq(0), flush.eq(0)]
        with m.Else():
            m.d.sync += [
                buf.eq(buf_after | (Mux(accept, new, 0) << (fill_after * 8))),
                fill.eq(fill_after + Mux(accept, Mux(two, 2 * ib, ib), 0)),
                flush.eq(Mux(accept, self.i_end, flush_after)),
            ]
        return m
