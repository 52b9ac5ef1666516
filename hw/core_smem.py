"""The SMEM transfer engine: ``LOAD_SMEM`` / ``STORE_SMEM`` through the master port.

Schedule reuse (docs/core.md, "Schedule reuse"; golden/core_smem.py): a ``STORE_SMEM`` writes
the ConMerge vectors of an SMEM part to memory, a ``LOAD_SMEM`` brings them back so that a
sparse ``GEMM`` (or a gather) runs on them without the CAU. Block ``b`` lies at ``addr + b *
block_words * B`` as ``block_words = ceil(block_bits / bus_width)`` whole bus words
(``golden.core_smem.smem_descriptor``).

Contract:

* A command is taken when ``cmd.valid`` and the engine is idle and its side of the master port
  is free (``rd_free``: the WMEM side's read engine, for ``LOAD_SMEM``; ``wr_free``: the write
  engine, for ``STORE_SMEM``); its descriptor goes to that engine in the same cycle
  (``rd_go`` / ``wr_go`` with ``desc``), which the engine then owns (``rd_on`` / ``wr_on``)
  until the command ends. One command at a time.
* ``LOAD_SMEM``: every read word is taken at once (``word.ready``); a block's last word
  writes the block (``smem_we``, the word's bits above ``block_bits`` dropped) at the next
  vector of its part (``exion.regmap.smem_half``); the last block's write is the cycle of
  ``done``, and ``set_we`` then sets the part's block count to ``count``. A read error
  (``rd_error``): ``fail`` with ``rd_cause``, the block count set to the blocks written,
  ``rd_clear``.
* ``STORE_SMEM``: the part's block count (``blocks`` / ``blocks_half`` when taken) blocks,
  read from SMEM ahead (``smem_raddr``; the read port's data is the block being sent), one word
  a cycle whenever the write engine takes it; ``done`` with the write engine's. An empty part
  or a block outside the region is refused by the write engine's own check (``BAD_FIELD`` /
  ``DMA_REGION``); that or a bus error: ``fail`` with ``wr_cause``, ``wr_clear``.
* ``ld_cycles`` / ``st_cycles`` (``SMEM_LD_CYCLES`` / ``SMEM_ST_CYCLES``): cycles of the last
  command of each kind that finished without a fault, from the cycle it was taken to its
  ``done``, both counted (``golden.core_smem.load_smem_cycles`` / ``store_smem_cycles``).
* ``writes`` / ``reads``: SMEM halves a running ``LOAD_SMEM`` writes / ``STORE_SMEM`` reads
  (bit 0 lower, bit 1 upper; both for ``half`` 0), for the dispatcher; ``loading``: a
  ``LOAD_SMEM`` runs (it shares SMEM's write port with the SCHEDULE engine).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.formats import block_bits, block_words
from exion.regmap import OPCODES, smem_half

from .core_cmd import command_fields, command_stream
from .dma_burst import descriptor_layout

__all__ = ["SmemEngine"]


class SmemEngine(wiring.Component):
    """SMEM to and from memory (module docstring).

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    cmd : In(command_stream())
    rd_free, wr_free : In(1)
        The read / write side of the master port can take a descriptor now.
    desc : Out(descriptor_layout()) ; rd_go, wr_go : Out(1)
        A descriptor for the read / write engine this cycle.
    rd_on, wr_on : Out(1)
        The engine owns the read / write side.
    word : In(stream.Signature(bus_width)) ; wdata : Out(stream.Signature(bus_width))
        Read words in, write words out.
    rd_error, wr_error : In(1) ; rd_cause, wr_cause : In(8) ; rd_clear, wr_clear : Out(1)
    wr_done : In(1)
    smem_waddr, smem_raddr : Out(range(schedule_depth)) ; smem_wdata : Out(block bits) ;
    smem_we : Out(1) ; smem_rdata : In(block bits)
    blocks : In(range(schedule_depth + 1)) ;
    blocks_half : In(ArrayLayout(range(schedule_depth + 1), 2))
        The block counts (``BLOCKS``, ``BLOCKS_H1``, ``BLOCKS_H2``).
    set_we : Out(1) ; set_half : Out(2) ; set_count : Out(range(schedule_depth + 1))
        Set the block count of part ``set_half``.
    writes, reads : Out(2) ; loading : Out(1)
    busy_load, busy_store, done, fail : Out(1) ; fail_cause : Out(8) ; fail_cmd : Out(32)
    ld_cycles, st_cycles : Out(32)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        S, BW, NB = cfg.schedule_depth, cfg.bus_width, block_bits(cfg)
        super().__init__({
            "cmd": In(command_stream()),
            "rd_free": In(1), "wr_free": In(1),
            "desc": Out(descriptor_layout()), "rd_go": Out(1), "wr_go": Out(1),
            "rd_on": Out(1), "wr_on": Out(1),
            "word": In(stream.Signature(BW)), "wdata": Out(stream.Signature(BW)),
            "rd_error": In(1), "wr_error": In(1), "rd_cause": In(8), "wr_cause": In(8),
            "rd_clear": Out(1), "wr_clear": Out(1), "wr_done": In(1),
            "smem_waddr": Out(range(S)), "smem_raddr": Out(range(S)),
            "smem_wdata": Out(NB), "smem_we": Out(1), "smem_rdata": In(NB),
            "blocks": In(range(S + 1)),
            "blocks_half": In(data.ArrayLayout(range(S + 1), 2)),
            "set_we": Out(1), "set_half": Out(2), "set_count": Out(range(S + 1)),
            "writes": Out(2), "reads": Out(2), "loading": Out(1),
            "busy_load": Out(1), "busy_store": Out(1), "done": Out(1), "fail": Out(1),
            "fail_cause": Out(8), "fail_cmd": Out(32),
            "ld_cycles": Out(32), "st_cycles": Out(32),
        })

    @property
    def block_words(self) -> int:
        """Bus words of one block in memory (:func:`exion.formats.block_words`)."""
        return block_words(self._cfg)

    def elaborate(self, platform):
        cfg = self._cfg
        S, BW, NB, WB = cfg.schedule_depth, cfg.bus_width, block_bits(cfg), self.block_words
        H = smem_half(S, 2)[0]          # first vector of the upper half (= vectors per half)
        m = Module()
        p = self.cmd.payload
        f = command_fields(p)
        is_load = p.op == OPCODES["LOAD_SMEM"]
        active, load = Signal(), Signal()
        half, first = Signal(2), Signal(range(S + 1))
        n, b = Signal(range(S + 1)), Signal(range(S + 1))
        w = Signal(range(max(2, WB)))
        cyc, word_q = Signal(32), Signal(32)
        take = Signal()
        free = Mux(is_load, self.rd_free, self.wr_free)
        m.d.comb += [self.cmd.ready.eq(~active & free), take.eq(self.cmd.valid & self.cmd.ready)]
        part_first = Mux(f["half"] == 2, H, 0)
        part_blocks = Mux(f["half"] == 0, self.blocks,
                          Mux(f["half"] == 1, self.blocks_half[0], self.blocks_half[1]))
        nbytes = WB * cfg.bus_bytes
        m.d.comb += [self.desc.base.eq(f["addr"]), self.desc.row_bytes.eq(nbytes),
                     self.desc.stride.eq(nbytes),
                     self.desc.rows.eq(Mux(is_load, f["count"], part_blocks)),
                     self.rd_go.eq(take & is_load), self.wr_go.eq(take & ~is_load)]
        with m.If(take):
            m.d.sync += [active.eq(1), load.eq(is_load), half.eq(f["half"]),
                         first.eq(part_first), b.eq(0), w.eq(0), cyc.eq(1),
                         n.eq(Mux(is_load, f["count"], part_blocks)),
                         word_q.eq(Cat(p.op, p.flags))]
        with m.Elif(active):
            m.d.sync += cyc.eq(cyc + 1)
        halves = Mux(half == 0, 3, half)
        m.d.comb += [self.rd_on.eq(active & load), self.wr_on.eq(active & ~load),
                     self.busy_load.eq(active & load), self.busy_store.eq(active & ~load),
                     self.loading.eq(active & load),
                     self.writes.eq(Mux(active & load, halves, 0)),
                     self.reads.eq(Mux(active & ~load, halves, 0)),
                     self.fail_cmd.eq(word_q), self.set_half.eq(half)]

        # -- LOAD_SMEM: words -> block register -> SMEM ------------------------------------------
        lo = Signal(max(1, (WB - 1) * BW))        # the block's words before its last
        hs = Signal()
        m.d.comb += [self.word.ready.eq(active & load & ~self.rd_error),
                     hs.eq(self.word.valid & self.word.ready),
                     self.smem_waddr.eq(first + b),
                     self.smem_wdata.eq(Cat(lo[:(WB - 1) * BW] if WB > 1 else Const(0, 0),
                                            self.word.payload)[:NB])]
        # (expressions, not m.If, for the comb outputs: Icarus never runs an always @* block
        # whose inputs keep their initial values, and these stay constant until the first
        # command)
        last, ld_fail, st_fail, st_done = Signal(), Signal(), Signal(), Signal()
        m.d.comb += [self.smem_we.eq(hs & (w == WB - 1)),
                     last.eq(self.smem_we & (b + 1 == n)),
                     ld_fail.eq(active & load & self.rd_error),
                     st_fail.eq(active & ~load & self.wr_error),
                     st_done.eq(active & ~load & self.wr_done),
                     self.done.eq(last | st_done),
                     self.set_we.eq(last | ld_fail), self.set_count.eq(Mux(ld_fail, b, n)),
                     self.fail.eq(ld_fail | st_fail),
                     self.fail_cause.eq(Mux(ld_fail, self.rd_cause, self.wr_cause)),
                     self.rd_clear.eq(ld_fail), self.wr_clear.eq(st_fail)]
        with m.If(hs):
            with m.If(w == WB - 1):
                m.d.sync += [b.eq(b + 1), w.eq(0)]
            with m.Else():
                m.d.sync += w.eq(w + 1)
                for i in range(WB - 1):
                    with m.If(w == i):
                        m.d.sync += lo[i * BW:(i + 1) * BW].eq(self.word.payload)
        with m.If(last):
            m.d.sync += [active.eq(0), self.ld_cycles.eq(cyc + 1)]

        # -- STORE_SMEM: SMEM (read ahead) -> words ------------------------------------------
        # the read port shows the block being sent: its address is the next cycle's block
        whs = Signal()
        m.d.comb += [self.wdata.valid.eq(active & ~load & (b < n)),
                     whs.eq(self.wdata.valid & self.wdata.ready)]
        m.d.comb += self.smem_raddr.eq(Mux(take, part_first,
                                           first + b + (whs & (w == WB - 1))))
        padded = Cat(self.smem_rdata, Const(0, WB * BW - NB))
        m.d.comb += self.wdata.payload.eq(padded.word_select(w, BW) if WB > 1 else padded)
        with m.If(whs):
            with m.If(w == WB - 1):
                m.d.sync += [b.eq(b + 1), w.eq(0)]
            with m.Else():
                m.d.sync += w.eq(w + 1)
        with m.If(st_done):
            m.d.sync += [active.eq(0), self.st_cycles.eq(cyc + 1)]
        with m.If(ld_fail | st_fail):
            m.d.sync += active.eq(0)
        return m
