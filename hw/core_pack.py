"""Bus words and the core's items, both ways, for the master port (hw/core_dma.py): the
:class:`Unpacker` cuts the bus words of a ``MEM`` load into lane vectors, the :class:`Packer`
puts a ``MEM`` read's OMEM beats into bus words. Their timing is modelled cycle by cycle in
``golden.core_mem`` (``load_cycles``, ``read_cycles``); sim/tb_core_dma.py holds them to it.
"""

from __future__ import annotations

from math import gcd

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .dma_burst import word_layout

__all__ = ["Unpacker", "Packer"]


def _check_ways(ways: int):
    if ways not in (1, 2):
        raise ValueError(f"ways = {ways!r} must be 1 or 2")


def _place_at_fill(m, buf, data, n, pos, g, top, enable):
    """The buffer ``buf`` widened to ``top + n`` bytes, with the ``n`` bytes of ``data`` in
    bytes ``pos * g`` on where ``enable`` (``pos`` the registered fill level in units of ``g``
    bytes, at most ``top``): a shift by a register and a byte-wise pick, so nothing of this
    cycle's handshakes but ``enable`` comes before the buffer."""
    width = top + n
    shifted = Signal(width * 8)
    m.d.comb += shifted.eq(data << Cat(Const(0, (g * 8).bit_length() - 1), pos))
    ext = Signal(width * 8)
    for j in range(width):
        # byte j takes data's byte j - fill when fill <= j < fill + n
        lo, hi = max(0, (j - n) // g + 1), j // g
        inr = Signal(name=f"in{j}")
        # (only the comparisons that are not constant: Verilator's lint refuses those)
        conds = ([pos >= lo] if lo > 0 else []) + \
            ([pos <= hi] if hi < 2 ** len(pos) - 1 else [])
        m.d.comb += inr.eq(Cat(*conds).all() if conds else 1)
        old = buf[j * 8:(j + 1) * 8] if j < len(buf) // 8 else Const(0, 8)
        m.d.comb += ext[j * 8:(j + 1) * 8].eq(Mux(enable & inr, shifted[j * 8:(j + 1) * 8], old))
    return ext


class Unpacker(wiring.Component):
    """Bus words in, items of ``item_bytes`` bytes out: each row (``n_items`` items, padded
    to whole words) is cut into its items; the padding is dropped.

    ``o.valid`` rises when an item's bytes are all in; with ``ways`` = 2 a transfer carries two
    items of a row when both are in (``o_two``; the second in the upper half of the payload).
    A word is taken while the buffer has room (at most ``bus_bytes + ways * item_bytes``
    bytes) and, after a row's last word, only with that row's last item. Items of at least a
    bus word (or, ``ways`` = 2, of half one) never hold up the bus.

    Timing (kept short for the FPGA build, docs/fpga.md): the fill level's comparisons and
    the input's two possible ``ready`` values (with and without an item out this cycle) are
    registered a cycle ahead, so ``i.ready`` is one multiplexer after ``o.ready``; a word is
    placed at the fill level before this cycle's items leave (a shift whose amount is a
    register) and the buffer then moves by the items out; the bytes above the fill level are
    left as they are (never shown), so ``start`` / ``clear`` reset no buffer bits.

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
        # a word is taken at a fill level of at most 2 * ways * ib (ways * ib left after up to
        # ways items out), or at a row's last item, where it goes to byte 0
        top = 2 * ways * ib
        g = gcd(bb, ib)                         # the fill level is a multiple of g
        buf, fill = Signal(cap * 8), Signal(range(cap + 1))
        left, seen = Signal(16), Signal()       # items left in the row; its last word is in
        emit, row_last, accept, two = Signal(), Signal(), Signal(), Signal()

        # registered comparisons of the fill level and of ``left`` (each set from the next
        # state, so every one is a multiplexer of comparisons of the registers)
        v1, v2 = Signal(), Signal()             # fill >= ib, fill >= 2 ib
        le = [Signal(name=f"le{k}", init=1) for k in range(ways + 1)]  # fill <= (ways + k) ib
        is1, is2, ge2 = Signal(), Signal(), Signal()            # left == 1, == 2, >= 2
        r0, r1 = Signal(init=1), Signal(init=1)  # i.ready without / with an item out
        n_items = Signal(16)                    # held from `start` (an input for one cycle)
        n1, n2, nge2 = Signal(), Signal(), Signal()

        if ways == 2:
            m.d.comb += [two.eq(v2 & ge2), self.o_two.eq(two)]
        m.d.comb += [
            self.o.valid.eq(v1), self.o.payload.eq(buf[:ways * ib * 8]),
            emit.eq(v1 & self.o.ready), row_last.eq(is1 | (is2 & two)),
            self.i.ready.eq(Mux(emit, r1, r0) & ~self.clear),
            accept.eq(self.i.valid & self.i.ready),
        ]
        rl = Signal()
        m.d.comb += rl.eq(emit & row_last)

        # the next fill level: 0 after a row's last item, less the items out, plus a word
        def base_ge(c):     # (fill after this cycle's items) >= c
            def ge(k):      # (the fill level never exceeds cap)
                return Const(1) if k <= 0 else Const(0) if k > cap else (fill >= k)
            return Mux(rl, Const(int(0 >= c)),
                       Mux(emit, Mux(two, ge(c + 2 * ib), ge(c + ib)), ge(c)))

        def next_ge(c):
            return Mux(accept, base_ge(c - bb), base_ge(c))

        def left_is(k):     # (left after this cycle's items) == k, k in (1, 2)
            return Mux(rl, n1 if k == 1 else n2,
                       Mux(emit, Mux(two, left == k + 2, left == k + 1), is1 if k == 1 else is2))

        ge2_next = Mux(rl, nge2, Mux(emit, Mux(two, left >= 4, left >= 3), ge2))
        seen_next = (seen & ~rl) | (accept & self.i.payload.row_end)
        v1n, v2n = next_ge(ib), next_ge(2 * ib)
        len_ = [~next_ge((ways + k) * ib + 1) for k in range(ways + 1)]
        is1n, is2n = left_is(1), left_is(2)
        two_n = v2n & ge2_next if ways == 2 else Const(0)
        rl_n = is1n | (is2n & two_n)
        with m.If(self.start | self.clear):
            m.d.sync += [fill.eq(0), seen.eq(0), v1.eq(0), v2.eq(0), r0.eq(1), r1.eq(1)]
            m.d.sync += [x.eq(1) for x in le]
        with m.Else():
            m.d.sync += [
                fill.eq(Mux(rl, 0, fill - Mux(emit, Mux(two, 2 * ib, ib), 0))
                        + Mux(accept, bb, 0)),
                seen.eq(seen_next), v1.eq(v1n), v2.eq(v2n),
                *[x.eq(y) for x, y in zip(le, len_)],
                r0.eq(len_[0] & ~seen_next),
                r1.eq(rl_n | (~seen_next & Mux(two_n, len_[-1], len_[1]))),
            ]

        # the word at the fill level (before this cycle's items leave), then the move
        pos = Signal(range(top // g + 1))
        m.d.comb += pos.eq(fill >> (g.bit_length() - 1))
        ext = _place_at_fill(m, buf, self.i.payload.data, bb, pos, g, top, accept)
        nxt = Signal(cap * 8)
        m.d.comb += nxt.eq(Mux(emit, Mux(two, ext >> (2 * ib * 8), ext >> (ib * 8)), ext))
        # after a row's last item the rest is padding: the word taken goes to byte 0
        m.d.sync += buf.eq(Mux(rl, self.i.payload.data, nxt))

        with m.If(self.start):
            m.d.sync += [left.eq(self.n_items), n_items.eq(self.n_items),
                         is1.eq(self.n_items == 1), is2.eq(self.n_items == 2),
                         ge2.eq(self.n_items >= 2),
                         n1.eq(self.n_items == 1), n2.eq(self.n_items == 2),
                         nge2.eq(self.n_items >= 2)]
        with m.Elif(emit):
            m.d.sync += [left.eq(Mux(row_last, n_items, left - 1 - two)),
                         is1.eq(is1n), is2.eq(is2n), ge2.eq(ge2_next)]
        return m


class Packer(wiring.Component):
    """OMEM beats of ``item_bytes`` bytes in (up to ``ways`` a transfer), bus words out: a
    row's items back to back (byte ``j`` of the row in byte ``j % B`` of word ``j // B``), its
    last word cut short; ``i_end`` on a transfer ends a row (its words all leave before the
    next row's items come in).

    A transfer is taken while at most ``bus_bytes`` bytes stay after this cycle's word and no
    row's end waits; a word leaves once a whole one is in, or the row's end is. The bytes of
    a row's last word past its end are not defined (the write engine's strobes are low there).

    Timing (as the :class:`Unpacker`'s, docs/fpga.md): the fill level's comparisons are
    registered a cycle ahead, so ``i.ready`` is a multiplexer of registers after ``o.ready``;
    items are placed at the fill level before this cycle's word leaves (a shift whose amount
    is a register), and ``clear`` resets no buffer bits.

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
        # items are taken at a fill level of at most 2 * bb (bb left after a word out), or
        # after a row's partial last word left, where they go to byte 0
        top = 2 * bb
        g = gcd(bb, ib)                         # the fill level is a multiple of g
        buf, fill, flush = Signal(cap * 8), Signal(range(cap + 1)), Signal()
        out, accept, two = Signal(), Signal(), Signal()
        # registered comparisons of the fill level, each set from the next state
        ge_bb, nz = Signal(), Signal()                      # fill >= bb, fill != 0
        le_bb, le_2bb = Signal(init=1), Signal(init=1)      # fill <= bb, fill <= 2 bb
        part = Signal()                                     # a row's partial last word out
        m.d.comb += [
            two.eq(self.i_two if ways == 2 else 0),
            self.o.valid.eq(ge_bb | (flush & nz)),
            self.o.payload.eq(buf[:bb * 8]),
            out.eq(self.o.valid & self.o.ready),
            part.eq(out & ~ge_bb),
            self.i.ready.eq(Mux(out, ~(flush & ~le_bb) & le_2bb, ~(flush & nz) & le_bb)
                            & ~self.clear),
            accept.eq(self.i.valid & self.i.ready),
        ]

        def base_ge(c):     # (fill after this cycle's word) >= c
            def ge(k):      # (the fill level never exceeds cap)
                return Const(1) if k <= 0 else Const(0) if k > cap else (fill >= k)
            return Mux(out, Mux(le_bb, Const(int(0 >= c)), ge(c + bb)), ge(c))

        def next_ge(c):
            return Mux(accept, Mux(two, base_ge(c - 2 * ib), base_ge(c - ib)), base_ge(c))

        flush_after = flush & Mux(out, ~le_bb, nz)
        with m.If(self.clear):
            m.d.sync += [fill.eq(0), flush.eq(0), ge_bb.eq(0), nz.eq(0), le_bb.eq(1),
                         le_2bb.eq(1)]
        with m.Else():
            m.d.sync += [
                fill.eq(Mux(out, Mux(le_bb, 0, fill - bb), fill)
                        + Mux(accept, Mux(two, 2 * ib, ib), 0)),
                flush.eq(Mux(accept, self.i_end, flush_after)),
                ge_bb.eq(next_ge(bb)), nz.eq(next_ge(1)),
                le_bb.eq(~next_ge(bb + 1)), le_2bb.eq(~next_ge(2 * bb + 1)),
            ]

        # the items at the fill level (before this cycle's word leaves), then the move
        pos = Signal(range(top // g + 1))
        m.d.comb += pos.eq(fill >> (g.bit_length() - 1))
        nb = ways * ib
        # (the second item's bytes only with i_two: without it they may be undefined, e.g. an
        # OMEM pair read past the buffer's end, and would reach the bus as padding)
        new = Signal(nb * 8)
        m.d.comb += new.eq(Mux(two, self.i.payload, self.i.payload[:ib * 8]))
        ext = _place_at_fill(m, buf, new, nb, pos, g, top, accept)
        # after a row's partial last word the items go to byte 0
        m.d.sync += buf.eq(Mux(part, new, Mux(out, ext >> (bb * 8), ext)))
        return m
