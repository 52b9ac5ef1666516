"""The memory-to-stream sequencer: ``count`` words of a synchronous-read memory, from address
``base`` up, presented as a stream with a one-word prefetch, back to back.

Every engine of the core that turns memory into a stream uses it: the SDUE's block source
(SMEM or the dense block generator), the SCHEDULE engine's mask beats into the CAU, the read
engine's OMEM words to ``m_axis``, and ``hw/sdue_top.py``'s SMEM sequencer.

Protocol::

    cycle    start   fetch (r_en)    o_valid      o_ready
    t        1       -               -            -
    t+1      0       1 (r_addr=base) held word    -
    t+2      0       1 if o_ready    1            consumer

A word is fetched (``r_en``, address ``r_addr``) whenever none is held or the held one is
taken in the same cycle, so a consumer that is always ready gets one word per cycle. The
memory's read data, one cycle after the fetch, is the stream's payload; the sequencer holds
``r_addr`` at the presented word's address between fetches, so a read port without an enable
(``hw.mem.Bank``) keeps presenting it too. A memory whose read port has an enable may take
``f_addr`` (the next fetch's address, a register) with ``r_en`` instead of ``r_addr``: its
address then does not wait for the consumer's ``o_ready`` (the FPGA build's timing,
docs/fpga.md). ``start`` may come while the last word of the
previous run is still held: it stays valid and is delivered first (the SDUE's block source
relies on this to start the next command before the previous one's last block is taken).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Memory-to-stream sequencer with a one-word prefetch.

    Parameters
    ----------
    addr_width : int
        Address bits (1 .. 32).
    count_width : int
        Bits of ``count`` (1 .. 32).

    Members
    -------
    start : In(1) ; base : In(addr_width) ; count : In(count_width)
        Begin a run of ``count`` words from ``base`` (``count`` 0: nothing).
    r_addr : Out(addr_width) ; r_en : Out(1)
        Memory read address and enable (``r_en`` = a fetch this cycle).
    f_addr : Out(addr_width)
        The next fetch's address (a register; ``r_addr`` whenever ``r_en``).
    o_valid : Out(1) ; o_ready : In(1)
        The stream handshake; the payload is the memory's read data.
    o_addr : Out(addr_width)
        Address of the word presented.
    o_last : Out(1)
        The presented word is its run's last.
    fetching : Out(1)
        Words of the run are left to fetch (the run's memory reads are not over).
    busy : Out(1)
        ``fetching`` or a word presented.
    """

    def __init__(self, *, addr_width: int, count_width: int):
        for name, v in (("addr_width", addr_width), ("count_width", count_width)):
            if not isinstance(v, int) or not 1 <= v <= 32:
                raise ValueError(f"{name} = {v!r} is out of range [1, 32]")
        self._aw, self._cw = addr_width, count_width
        super().__init__({
            "start": In(1), "base": In(addr_width), "count": In(count_width),
            "r_addr": Out(addr_width), "r_en": Out(1), "f_addr": Out(addr_width),
            "o_valid": Out(1), "o_ready": In(1), "o_addr": Out(addr_width), "o_last": Out(1),
            "fetching": Out(1), "busy": Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._aw

    @property
    def count_width(self) -> int:
        return self._cw

    def elaborate(self, platform):
        m = Module()
        left = Signal(self._cw)                 # words not yet fetched
        nxt = Signal(self._aw)                  # address of the next fetch
        # left != 0 and left == 1 kept as registers beside left (each updated with it), so
        # the fetch, and with it the read address and the consumers' ready chains, does not
        # start with a reduction over the count (the FPGA build's timing, docs/fpga.md)
        more, one = Signal(), Signal()
        fetch = Signal()
        m.d.comb += [
            fetch.eq(more & (~self.o_valid | self.o_ready)),
            self.r_en.eq(fetch),
            self.r_addr.eq(Mux(fetch, nxt, self.o_addr)),
            self.f_addr.eq(nxt),
            self.fetching.eq(more),
            self.busy.eq(more | self.o_valid),
        ]
        with m.If(self.start):
            m.d.sync += [left.eq(self.count), nxt.eq(self.base),
                         more.eq(self.count != 0), one.eq(self.count == 1)]
        with m.Elif(fetch):
            m.d.sync += [left.eq(left - 1), nxt.eq(nxt + 1),
                         more.eq(~one), one.eq(left == 2)]
        with m.If(fetch):
            m.d.sync += [self.o_valid.eq(1), self.o_addr.eq(nxt), self.o_last.eq(one)]
        with m.Elif(self.o_ready):
            m.d.sync += [self.o_valid.eq(0), self.o_last.eq(0)]
        return m
