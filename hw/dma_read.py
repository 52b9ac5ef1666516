"""The AXI4 master's read engine: a descriptor in, its rows out as a stream of bus words."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from exion.config import clog2
from exion.limits import AXI_MAX_BURST, DMA_ADDR_WIDTH, DMA_READ_OUTSTANDING, DMA_ROWS_BITS, \
    DMA_ROW_BYTES_BITS
from exion.regmap import Cause

from .dma_burst import (CAUSE_BITS, BurstWalker, axi_read_members, check_dma_params,
                        descriptor_cause_staged, descriptor_layout, word_layout)

__all__ = ["DmaRead"]

#: Descriptors accepted ahead of the one whose words are leaving: the next descriptor's bursts
#: are issued while the last bursts of the previous one are still answered.
INFO_DEPTH = 2


class DmaRead(wiring.Component):
    """AXI4 read engine: reads the rows a descriptor names and streams them out in order.

    Contract:

    * ``cmd`` (valid/ready, :func:`~hw.dma_burst.descriptor_layout`): a descriptor is taken when
      ``cmd.valid & cmd.ready``. ``cmd.ready`` is low while ``error`` is set, while a refused
      or failed transfer is being wound down, and while the previous descriptor is still being
      checked or split into bursts; a second descriptor is taken while the first one's data is
      still arriving, so back-to-back descriptors keep the bus busy.
    * The descriptor is checked in the two cycles after it is taken
      (:func:`~hw.dma_burst.descriptor_cause_staged`: the product and the region's room
      registered, then compared; ``golden.dma.READ_ISSUE_DELAY``): zero rows or bytes (``BAD_FIELD``), ``base`` or ``stride`` not a multiple of
      ``bus_width / 8`` (``DMA_ALIGN``), a word outside ``[region_base, region_end)``
      (``DMA_REGION``). A refused descriptor issues no bus transaction; descriptors taken
      before it complete normally.
    * ``o`` (valid/ready, :func:`~hw.dma_burst.word_layout`): the rows in order, each as
      ``ceil(row_bytes / B)`` words (``B = bus_width / 8``), byte ``j`` of a row in byte
      ``j % B`` of its word; bytes past the row's end are zero. ``row_end`` marks a row's last
      word, ``last`` the descriptor's last word (``done`` pulses in that word's handshake
      cycle). ``o`` passes the AXI R channel through without a buffer: ``o.ready`` low holds
      ``RREADY`` low.
    * AR: INCR bursts of at most ``max_burst`` beats that never cross a 4 KB boundary
      (:func:`golden.dma.bursts`), one AXI ID (so data returns in order), at most
      ``outstanding`` bursts issued and not fully answered.
    * An ``SLVERR`` or ``DECERR`` beat sets ``error`` with ``DMA_SLVERR`` / ``DMA_DECERR``; that
      beat and every later one are not delivered (the consumer sees fewer words and no
      ``last``), no further burst is issued, and the beats of bursts already issued are taken
      and dropped. ``error`` and ``cause`` hold until ``clear`` (one cycle); once the
      outstanding beats are drained (``busy`` low) and ``error`` is clear, the engine takes
      descriptors again.

    Parameters
    ----------
    bus_width : int
        AXI data bits, a power of two in [32, 1024].
    addr_width : int
        AXI address bits.
    outstanding : int
        Read bursts in flight at most.
    max_burst : int
        Beats per burst at most (AXI4: 256).

    Members
    -------
    m_axi_ar*, m_axi_r* : AXI4 master read channels (:func:`~hw.dma_burst.axi_read_members`).
    cmd : In(stream.Signature(descriptor_layout(addr_width)))
    o : Out(stream.Signature(word_layout(bus_width)))
    region_base : In(addr_width) ; region_end : In(addr_width + 1)
        Allowed byte addresses, ``[region_base, region_end)``.
    clear : In(1)
    busy : Out(1)
        A descriptor is being checked, issued, answered or drained.
    done, error : Out(1) ; cause : Out(8)
    bytes : Out(32)
        Bytes delivered on ``o`` since reset (``B`` per word; wraps).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, *, bus_width: int, addr_width: int = DMA_ADDR_WIDTH,
                 outstanding: int = DMA_READ_OUTSTANDING, max_burst: int = AXI_MAX_BURST):
        check_dma_params(bus_width, addr_width, outstanding, max_burst)
        self._bw, self._aw, self._n, self._max = bus_width, addr_width, outstanding, max_burst
        super().__init__({
            **axi_read_members(addr_width, bus_width),
            "cmd": In(stream.Signature(descriptor_layout(addr_width))),
            "o": Out(stream.Signature(word_layout(bus_width))),
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
        # Row structure of each accepted descriptor, for the R side: row beats, rows, bytes
        # in a row's last word (1..B).
        # (kept decoded: the row beats, rows, the last word's cut bytes and the == 1 flags,
        # so the R side loads its registers straight from the FIFO, docs/fpga.md)
        m.submodules.info = info = SyncFIFO(width=beats_bits + DMA_ROWS_BITS + bb + 2,
                                            depth=INFO_DEPTH)
        desc = Signal(descriptor_layout(self._aw))
        # checking: the check's first stage (desc just taken); checked: its result, acted on
        checking, checked, drain = Signal(), Signal(), Signal()
        bad = descriptor_cause_staged(m, desc, self.region_base, self.region_end, bb)
        # the row structure, registered from desc in every cycle: desc holds from its take
        # through the check, so these are its values when the check's result is acted on
        row_beats, cut_d = Signal(beats_bits), Signal(bb)
        rb_one_d, rows_one_d = Signal(), Signal()
        tail = Signal(shift + 1)
        m.d.comb += tail.eq((desc.row_bytes - 1)[:shift] + 1)
        rb_n = (desc.row_bytes + (bb - 1)) >> shift
        m.d.sync += [row_beats.eq(rb_n), rb_one_d.eq(rb_n == 1), rows_one_d.eq(desc.rows == 1),
                     cut_d.eq(Cat(*[tail <= i for i in range(bb)]))]

        # -- R side signals used by the issue side -------------------------------------------
        ok = Signal()
        r_hs, r_last_hs, bus_err = Signal(), Signal(), Signal()
        r_active = Signal()
        m.d.comb += [
            ok.eq(~self.m_axi_rresp[1]),            # OKAY (or EXOKAY, never asked for)
            r_hs.eq(self.m_axi_rvalid & self.m_axi_rready),
            r_last_hs.eq(r_hs & self.m_axi_rlast),
            bus_err.eq(self.m_axi_rvalid & r_active & ~drain & ~ok),
        ]

        # -- accept and check ----------------------------------------------------------------
        m.d.comb += self.cmd.ready.eq(~checking & ~checked & ~walker.busy & ~self.error
                                      & ~drain & info.w_rdy)
        m.d.sync += [checked.eq(checking), checking.eq(0)]
        # (desc loads in every cycle the engine is free, so its enable is a register, not the
        # handshake: nothing reads it before the check that the handshake starts)
        with m.If(self.cmd.ready):
            m.d.sync += desc.eq(self.cmd.payload)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += checking.eq(1)
        m.d.comb += walker.desc.eq(desc)
        with m.If(checked):
            with m.If(~bus_err & ~drain):
                with m.If(bad != 0):
                    m.d.sync += [self.error.eq(1), self.cause.eq(bad)]
                with m.Else():
                    m.d.comb += [walker.start.eq(1), info.w_en.eq(1),
                                 info.w_data.eq(Cat(row_beats, desc.rows, cut_d,
                                                    rb_one_d, rows_one_d))]

        # -- AR: one registered burst, at most `outstanding` in flight -------------------------
        count = Signal(range(self._n + 1))
        load = Signal()
        m.d.comb += [
            load.eq(walker.burst.valid & (~self.m_axi_arvalid | self.m_axi_arready)
                    & ((count < self._n) | r_last_hs) & ~drain & ~bus_err),
            walker.burst.ready.eq(load), walker.stop.eq(bus_err),
            self.m_axi_arid.eq(0), self.m_axi_arsize.eq(shift), self.m_axi_arburst.eq(1),
            self.m_axi_arlock.eq(0), self.m_axi_arcache.eq(0b0011), self.m_axi_arprot.eq(0),
        ]
        with m.If(load):
            m.d.sync += [self.m_axi_arvalid.eq(1), self.m_axi_araddr.eq(walker.burst.payload.addr),
                         self.m_axi_arlen.eq(walker.burst.payload.len)]
        with m.Elif(self.m_axi_arready):
            m.d.sync += self.m_axi_arvalid.eq(0)
        m.d.sync += count.eq(count + load - r_last_hs)

        # -- R: row tracking, the output stream, errors --------------------------------------
        # (``row_end``, the row count's ``== 1`` and each byte's cut past a row's end are flags
        # kept beside the counters, so the word's masking and ``row_end`` are one gate after
        # registers: they feed the unpacker's shift, hw/core_pack.py, docs/fpga.md)
        r_left, r_row_beats = Signal(beats_bits), Signal(beats_bits)
        r_rows = Signal(DMA_ROWS_BITS)
        row_end, last, o_hs = Signal(), Signal(), Signal()
        rb_one, rows_one = Signal(), Signal()       # r_row_beats == 1, r_rows == 1
        cut = Signal(bb)                            # byte i past the row's end (its tail <= i)
        m.d.comb += [
            last.eq(row_end & rows_one),
            self.o.valid.eq(self.m_axi_rvalid & r_active & ~drain & ok),
            self.m_axi_rready.eq(drain | (r_active & Mux(ok, self.o.ready, 1))),
            self.o.payload.data.eq(Cat(*[
                Mux(row_end & cut[i], 0, self.m_axi_rdata[8 * i:8 * i + 8])
                for i in range(bb)])),
            self.o.payload.row_end.eq(row_end), self.o.payload.last.eq(last),
            o_hs.eq(self.o.valid & self.o.ready),
            self.done.eq(o_hs & last),
        ]
        load_info = Signal()
        m.d.comb += [load_info.eq(info.r_rdy & ~drain & (~r_active | (o_hs & last))),
                     info.r_en.eq(load_info | drain)]
        with m.If(load_info):
            rb = info.r_data[:beats_bits]
            n_rows = info.r_data[beats_bits:beats_bits + DMA_ROWS_BITS]
            n_cut = info.r_data[beats_bits + DMA_ROWS_BITS:beats_bits + DMA_ROWS_BITS + bb]
            n_rb1, n_rows1 = info.r_data[-2], info.r_data[-1]
            m.d.sync += [r_active.eq(1), r_left.eq(rb), r_row_beats.eq(rb), r_rows.eq(n_rows),
                         row_end.eq(n_rb1), rb_one.eq(n_rb1), rows_one.eq(n_rows1),
                         cut.eq(n_cut)]
        with m.Elif(o_hs):
            with m.If(row_end):
                with m.If(last):
                    m.d.sync += r_active.eq(0)
                m.d.sync += [r_left.eq(r_row_beats), r_rows.eq(r_rows - 1),
                             row_end.eq(rb_one), rows_one.eq(r_rows == 2)]
            with m.Else():
                m.d.sync += [r_left.eq(r_left - 1), row_end.eq(r_left == 2)]
        with m.If(o_hs):
            m.d.sync += self.bytes.eq(self.bytes + bb)

        with m.If(self.clear):
            m.d.sync += [self.error.eq(0), self.cause.eq(0)]
        with m.If(bus_err):
            # The first fault's cause is kept (a drained beat raises nothing).
            m.d.sync += [self.error.eq(1), drain.eq(1), r_active.eq(0),
                         self.cause.eq(Mux(self.m_axi_rresp == 2, int(Cause.DMA_SLVERR),
                                           int(Cause.DMA_DECERR)))]
        with m.Elif(drain & (count == 0) & ~info.r_rdy):
            m.d.sync += drain.eq(0)
        m.d.comb += self.busy.eq(checking | checked | walker.busy | (count != 0) | r_active | info.r_rdy
                                 | drain)
        return m
