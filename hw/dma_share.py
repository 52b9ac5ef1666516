"""Several AXI4 read engines (:class:`~hw.dma_read.DmaRead`) on one AXI4 read port.

The core's IMEM and WMEM loads each have a read engine, so that they run side by side
(docs/core.md, "Master port"). This unit merges their AR channels and routes the R beats back:

* AR: round robin among the engines with ``arvalid`` high; a choice is kept until its
  handshake (AXI: a valid address stays valid and stable). No cycle is added: the chosen
  engine's registered AR drives the port directly.
* R: one AXI ID, so bursts come back in AR order; a tag FIFO holds the engine of every burst
  issued and not fully answered, and each beat goes to the engine at its head.
* Each engine gets its beats through its own FIFO of ``depth`` words. An engine with
  ``outstanding`` bursts of at most ``max_burst`` beats never has more beats in flight than
  that, so with ``depth = outstanding * max_burst`` (:func:`fifo_depth`) the FIFO never
  fills: ``RREADY`` is high whenever a burst is due, and an engine whose consumer is slow (a
  load engine writes one lane vector a cycle) never holds up another one's data. The FIFO adds
  one cycle of read latency (a SyncFIFO shows a word the cycle after it is written:
  ``golden.core_mem.READ_FIFO_DELAY``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO

from exion.config import clog2
from exion.limits import DMA_ADDR_WIDTH, DMA_READ_OUTSTANDING
from exion.util import check_int

from .dma_burst import axi_read_members, check_dma_params

__all__ = ["ReadShare", "fifo_depth"]

_AR = ("addr", "len", "size", "burst", "lock", "cache", "prot")


def _select(index, values):
    """``values[index]`` as a chain of Mux (an expression, no process)."""
    out = values[0]
    for i, v in enumerate(values[1:], 1):
        out = Mux(index == i, v, out)
    return out


def fifo_depth(outstanding: int, max_burst: int) -> int:
    """R FIFO words per engine such that it never fills: every beat its bursts can have in
    flight."""
    return outstanding * max_burst


class ReadShare(wiring.Component):
    """``engines`` AXI4 read masters on one AXI4 read port (module docstring).

    Parameters
    ----------
    bus_width, addr_width : int
    engines : int
        Read engines (2..8).
    outstanding, max_burst : int
        What every engine issues at most (:class:`~hw.dma_read.DmaRead`'s parameters): the
        tag FIFO holds ``engines * outstanding`` bursts, each R FIFO
        :func:`fifo_depth` words.

    Members
    -------
    m_axi_ar*, m_axi_r* : the shared port (master side, one ID bit, driven 0).
    e<i>_ar*, e<i>_r* : engine ``i``'s port (slave side, to its ``m_axi_*``).
    """

    def __init__(self, *, bus_width: int, addr_width: int = DMA_ADDR_WIDTH, engines: int = 2,
                 outstanding: int = DMA_READ_OUTSTANDING, max_burst: int):
        check_dma_params(bus_width, addr_width, outstanding, max_burst)
        check_int("engines", engines, 2, 8)
        self._bw, self._aw, self._n = bus_width, addr_width, engines
        self._out, self._depth = outstanding, fifo_depth(outstanding, max_burst)
        members = axi_read_members(addr_width, bus_width)
        for i in range(engines):
            for name, mem in axi_read_members(addr_width, bus_width, prefix=f"e{i}_").items():
                members[name] = mem.flip()
        super().__init__(members)

    @property
    def engines(self) -> int:
        return self._n

    @property
    def depth(self) -> int:
        return self._depth

    def _e(self, i: int, name: str):
        return getattr(self, f"e{i}_{name}")

    def elaborate(self, platform):
        m = Module()
        n = self._n
        tag_bits = clog2(n) or 1
        m.submodules.tags = tags = SyncFIFO(width=tag_bits, depth=n * self._out)

        # -- AR: round robin, the choice held until its handshake --------------------------
        prev, held, hold = Signal(range(n)), Signal(range(n)), Signal()
        pick, cur = Signal(range(n)), Signal(range(n))
        valid = Cat(*[self._e(i, "arvalid") for i in range(n)])
        # the first valid engine after the last one granted (itself last). Plain expressions,
        # no Switch: Icarus never evaluates an always @* block whose inputs keep their
        # initial values, which would leave the choice X until the first request.
        chosen = 0
        for p in range(n):
            order = [(p + k) % n for k in range(1, n + 1)]
            first = order[-1]
            for idx in reversed(order[:-1]):
                first = Mux(valid[idx], idx, first)
            chosen = Mux(prev == p, first, chosen)
        m.d.comb += pick.eq(chosen)
        m.d.comb += cur.eq(Mux(hold, held, pick))
        ar_valid, ar_hs = Signal(), Signal()
        m.d.comb += [
            ar_valid.eq((valid >> cur)[0] & tags.w_rdy),
            self.m_axi_arvalid.eq(ar_valid),
            ar_hs.eq(ar_valid & self.m_axi_arready),
            self.m_axi_arid.eq(0),
            tags.w_en.eq(ar_hs), tags.w_data.eq(cur),
        ]
        for f in _AR:
            m.d.comb += getattr(self, f"m_axi_ar{f}").eq(_select(cur, [self._e(i, f"ar{f}")
                                                                     for i in range(n)]))
        for i in range(n):
            m.d.comb += self._e(i, "arready").eq(self.m_axi_arready & tags.w_rdy & (cur == i))
        with m.If(ar_hs):
            m.d.sync += [prev.eq(cur), hold.eq(0)]
        with m.Elif(ar_valid):
            m.d.sync += [hold.eq(1), held.eq(cur)]

        # -- R: each beat into the FIFO of the engine at the tag FIFO's head ----------------
        bw = self._bw
        head = tags.r_data
        r_ready = Signal()
        fifos = []
        for i in range(n):
            f = SyncFIFO(width=bw + 3, depth=self._depth)
            m.submodules[f"r{i}"] = f
            fifos.append(f)
            m.d.comb += [
                f.w_data.eq(Cat(self.m_axi_rdata, self.m_axi_rresp, self.m_axi_rlast)),
                f.w_en.eq(self.m_axi_rvalid & r_ready & (head == i)),
                self._e(i, "rvalid").eq(f.r_rdy), self._e(i, "rid").eq(0),
                self._e(i, "rdata").eq(f.r_data[:bw]),
                self._e(i, "rresp").eq(f.r_data[bw:bw + 2]),
                self._e(i, "rlast").eq(f.r_data[bw + 2]),
                f.r_en.eq(self._e(i, "rready")),
            ]
        room = Signal()
        m.d.comb += room.eq(_select(head, [f.w_rdy for f in fifos]))
        m.d.comb += [r_ready.eq(tags.r_rdy & room), self.m_axi_rready.eq(r_ready),
                     tags.r_en.eq(self.m_axi_rvalid & r_ready & self.m_axi_rlast)]
        return m
