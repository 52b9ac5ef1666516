"""The AXI4 master's write engine: a descriptor and a stream of bus words in, rows written."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from exion.config import clog2
from exion.limits import AXI_MAX_BURST, DMA_ADDR_WIDTH, DMA_ROWS_BITS, DMA_ROW_BYTES_BITS, \
    DMA_WRITE_OUTSTANDING
from exion.regmap import Cause

from .dma_burst import (CAUSE_BITS, BurstWalker, axi_write_members, check_dma_params,
                        descriptor_cause_staged, descriptor_layout)

__all__ = ["DmaWrite"]


class DmaWrite(wiring.Component):
    """AXI4 write engine: writes the words of stream ``i`` to the rows a descriptor names.

    Contract:

    * ``cmd`` (valid/ready, :func:`~hw.dma_burst.descriptor_layout`): taken when
      ``cmd.valid & cmd.ready``; ``cmd.ready`` is high only when the engine is idle and
      ``error`` is clear (one descriptor at a time). It is checked in the two cycles after it
      is taken, as :class:`~hw.dma_read.DmaRead` checks (its rules and causes,
      :func:`~hw.dma_burst.descriptor_cause_staged`, ``golden.dma.WRITE_ISSUE_DELAY``); a
      refused descriptor issues nothing and takes no word from ``i``.
    * ``i`` (valid/ready, ``bus_width`` bits): the rows in order, each as
      ``ceil(row_bytes / B)`` words (``B = bus_width / 8``), byte ``j`` of a row in byte
      ``j % B`` of its word; bytes of a row's last word past the row's end are not written
      (their ``WSTRB`` bits are low). Words pass straight to the W channel (``i.ready`` is
      ``WREADY`` while a burst's beats are due).
    * AW: the bursts of :func:`golden.dma.bursts`, one AXI ID, at most ``outstanding`` bursts
      whose B response has not arrived. W beats of a burst follow its AW.
    * ``done`` pulses when the last B response of the descriptor arrived (all OKAY).
    * ``bytes`` grows by a burst's bytes (strobes high) when its B response arrives: every
      burst up to and including the first failing one, none after it, so that the count does
      not depend on how many beats of a later burst left before the error came back.
    * An ``SLVERR`` / ``DECERR`` response sets ``error`` with ``DMA_SLVERR`` / ``DMA_DECERR``:
      no burst is issued after it, bursts already issued are finished with all strobes low
      (with ``outstanding = 1`` there are none: nothing is written past the failed burst),
      and no further word is taken from ``i`` (its producer drops the rest). ``error`` and
      ``cause`` hold until ``clear``; the engine takes descriptors again once ``busy`` is
      low and ``error`` clear.

    Parameters
    ----------
    bus_width, addr_width, max_burst : int
        As :class:`~hw.dma_read.DmaRead`.
    outstanding : int
        Write bursts in flight (AW issued, B not yet received) at most.

    Members
    -------
    m_axi_aw*, m_axi_w*, m_axi_b* : AXI4 master write channels.
    cmd : In(stream.Signature(descriptor_layout(addr_width)))
    i : In(stream.Signature(bus_width))
    region_base : In(addr_width) ; region_end : In(addr_width + 1)
    clear : In(1)
    busy : Out(1) ; done : Out(1) ; error : Out(1) ; cause : Out(8)
    bytes : Out(32)
        Bytes of the answered bursts up to the first failing one (strobes high) since reset;
        wraps.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, *, bus_width: int, addr_width: int = DMA_ADDR_WIDTH,
                 outstanding: int = DMA_WRITE_OUTSTANDING, max_burst: int = AXI_MAX_BURST):
        check_dma_params(bus_width, addr_width, outstanding, max_burst)
        self._bw, self._aw, self._n, self._max = bus_width, addr_width, outstanding, max_burst
        super().__init__({
            **axi_write_members(addr_width, bus_width),
            "cmd": In(stream.Signature(descriptor_layout(addr_width))),
            "i": In(stream.Signature(bus_width)),
            "region_base": In(addr_width), "region_end": In(addr_width + 1),
            "clear": In(1),
            "busy": Out(1), "done": Out(1), "error": Out(1), "cause": Out(CAUSE_BITS),
            "bytes": Out(32),
        })

    @property
    def bus_width(self) -> int:
        return self._bw

    @property
    def outstanding(self) -> int:
        return self._n

    def elaborate(self, platform):
        m = Module()
        bb = self._bw // 8
        shift = clog2(bb)
        beats_bits = DMA_ROW_BYTES_BITS + 1 - shift
        m.submodules.walker = walker = BurstWalker(bus_bytes=bb, addr_width=self._aw,
                                                   max_burst=self._max)
        # Lengths of issued bursts whose W beats are still due.
        m.submodules.lens = lens = SyncFIFO(width=8, depth=self._n)
        # Bytes of bursts whose W beats are all out, until their B response.
        sent_bits = 9 + shift
        m.submodules.sent = sent = SyncFIFO(width=sent_bits, depth=self._n)
        desc = Signal(descriptor_layout(self._aw))
        # checking: the check's first stage (desc just taken); checked: its result, acted on
        checking, checked, running, fault = Signal(), Signal(), Signal(), Signal()
        bad = descriptor_cause_staged(m, desc, self.region_base, self.region_end, bb)
        b_hs, b_err = Signal(), Signal()
        m.d.comb += [b_hs.eq(self.m_axi_bvalid), self.m_axi_bready.eq(1),
                     b_err.eq(b_hs & self.m_axi_bresp[1])]

        # -- accept and check ----------------------------------------------------------------
        w_left, w_row_beats = Signal(beats_bits), Signal(beats_bits)
        w_rows, w_tail = Signal(DMA_ROWS_BITS), Signal(shift + 1)
        m.d.comb += [self.cmd.ready.eq(~checking & ~checked & ~running & ~self.error),
                     walker.desc.eq(desc)]
        m.d.sync += [checked.eq(checking), checking.eq(0)]
        # (desc loads in every cycle the engine is free, and the W side's row counters with
        # every check's result, so neither enable is the handshake or the check's comparison:
        # nothing reads them before the check passes)
        with m.If(self.cmd.ready):
            m.d.sync += desc.eq(self.cmd.payload)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += checking.eq(1)
        with m.If(checked):
            rb = (desc.row_bytes + (bb - 1)) >> shift
            m.d.sync += [w_left.eq(rb), w_row_beats.eq(rb), w_rows.eq(desc.rows),
                         w_tail.eq((desc.row_bytes - 1)[:shift] + 1)]
            with m.If(bad != 0):
                m.d.sync += [self.error.eq(1), self.cause.eq(bad)]
            with m.Else():
                m.d.comb += walker.start.eq(1)
                m.d.sync += running.eq(1)

        # -- AW: one registered burst, at most `outstanding` without a response ---------------
        count = Signal(range(self._n + 1))
        load = Signal()
        m.d.comb += [
            load.eq(walker.burst.valid & (~self.m_axi_awvalid | self.m_axi_awready)
                    & ((count < self._n) | b_hs) & ~fault & ~b_err),
            walker.burst.ready.eq(load), walker.stop.eq(b_err),
            lens.w_en.eq(load), lens.w_data.eq(walker.burst.payload.len),
            self.m_axi_awid.eq(0), self.m_axi_awsize.eq(shift), self.m_axi_awburst.eq(1),
            self.m_axi_awlock.eq(0), self.m_axi_awcache.eq(0b0011), self.m_axi_awprot.eq(0),
        ]
        with m.If(load):
            m.d.sync += [self.m_axi_awvalid.eq(1),
                         self.m_axi_awaddr.eq(walker.burst.payload.addr),
                         self.m_axi_awlen.eq(walker.burst.payload.len)]
        with m.Elif(self.m_axi_awready):
            m.d.sync += self.m_axi_awvalid.eq(0)
        m.d.sync += count.eq(count + load - b_hs)

        # -- W: beats of the issued bursts, row by row ---------------------------------------
        w_busy, w_beats = Signal(), Signal(9)
        row_end, w_hs, w_load = Signal(), Signal(), Signal()
        tail_strb = Cat(*[w_tail > j for j in range(bb)])
        m.d.comb += [
            row_end.eq(w_left == 1),
            self.m_axi_wvalid.eq(w_busy & (fault | self.i.valid)),
            self.i.ready.eq(w_busy & self.m_axi_wready & ~fault),
            self.m_axi_wdata.eq(self.i.payload),
            self.m_axi_wstrb.eq(Mux(fault, 0, Mux(row_end, tail_strb, (1 << bb) - 1))),
            self.m_axi_wlast.eq(w_beats == 1),
            w_hs.eq(self.m_axi_wvalid & self.m_axi_wready),
            w_load.eq(lens.r_rdy & (~w_busy | (w_hs & self.m_axi_wlast))),
            lens.r_en.eq(w_load),
        ]
        with m.If(w_load):
            m.d.sync += [w_busy.eq(1), w_beats.eq(lens.r_data + 1)]
        with m.Elif(w_hs):
            m.d.sync += w_beats.eq(w_beats - 1)
            with m.If(self.m_axi_wlast):
                m.d.sync += w_busy.eq(0)
        with m.If(w_hs):
            with m.If(row_end):
                m.d.sync += [w_left.eq(w_row_beats), w_rows.eq(w_rows - 1)]
            with m.Else():
                m.d.sync += w_left.eq(w_left - 1)
        # a burst's bytes, counted when its response arrives (bursts after a failing one: 0)
        acc, beat_bytes = Signal(sent_bits), Signal(sent_bits)
        m.d.comb += [beat_bytes.eq(Mux(row_end, w_tail, bb)),
                     sent.w_en.eq(w_hs & self.m_axi_wlast),
                     sent.w_data.eq(acc + beat_bytes), sent.r_en.eq(b_hs)]
        with m.If(w_hs):
            m.d.sync += acc.eq(Mux(self.m_axi_wlast, 0, acc + beat_bytes))
        with m.If(b_hs & ~fault):
            m.d.sync += self.bytes.eq(self.bytes + sent.r_data)

        # -- completion and errors -----------------------------------------------------------
        idle = Signal()
        m.d.comb += [idle.eq(running & ~walker.busy & ~self.m_axi_awvalid & (count == 0)
                             & ~w_busy & ~lens.r_rdy),
                     self.done.eq(idle & ~fault),
                     self.busy.eq(checking | checked | running)]
        with m.If(idle):
            m.d.sync += [running.eq(0), fault.eq(0)]
        with m.If(self.clear):
            m.d.sync += [self.error.eq(0), self.cause.eq(0)]
        with m.If(b_err & ~fault):
            m.d.sync += [self.error.eq(1), fault.eq(1),
                         self.cause.eq(Mux(self.m_axi_bresp == 2, int(Cause.DMA_SLVERR),
                                           int(Cause.DMA_DECERR)))]
        return m
