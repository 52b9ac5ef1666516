"""The core's master-port engine: ``MEM`` loads and reads through an AXI4 master port.

A ``LOAD_IMEM`` / ``LOAD_WMEM`` / ``READ_OMEM`` with the ``MEM`` flag moves its data between
memory and the core's memories through ``m_axi`` instead of the AXI-Streams (docs/core.md,
"Master port"). This engine sits between the dispatcher and the load / read engines:

::

    dispatcher ─load_i─> CoreDma ─load_i─> LoadEngine (IMEM)
                           │ DmaRead -> Unpacker -> item_i ─┐ ReadShare: both on AR / R
    dispatcher ─load_w─> CoreDma ─load_w─> LoadEngine (WMEM)
                           │ DmaRead -> Unpacker -> item_w ─┘
    dispatcher ─read───> CoreDma ─read───> ReadEngine
                           │ ReadEngine beats -> Packer -> DmaWrite (AW/W/B)

Contract:

* A command passes through unchanged; one with ``MEM`` (:func:`mem_descriptor`) passes only
  when its side of the master port is free (one ``MEM`` load at a time on each of the two
  read engines, IMEM's and WMEM's, so an IMEM and a WMEM load run side by side; one ``MEM``
  read at a time), and its descriptor enters its :class:`~hw.dma_read.DmaRead` /
  :class:`~hw.dma_write.DmaWrite` in the same cycle (its rows and row bytes registered
  from the command the cycle before, :func:`held_descriptor`: a command's payload must hold
  from the cycle before its ``valid`` rises, as the dispatcher's does). The read engines issue bursts of at most
  ``CORE_READ_BURST`` beats and share AR / R through :class:`~hw.dma_share.ReadShare`
  (round robin, an R FIFO each that never fills, so a slow load never holds up the other).
* Loads: each row of the descriptor (an IMEM bank, or a WMEM bank's stream) is ``count``
  items of ``ceil(lanes * data_width / 8)`` bytes, back to back; :class:`Unpacker` cuts the
  bus words into items (hw/core_pack.py), which go to the load engine in place of its stream (``to_i`` /
  ``to_w`` select it); IMEM's takes ``CORE_MEM_WAYS`` items of a row a cycle (``item_i2``,
  ``item_i_two``: the IMEM banks' pair write, hw/mem.py). Reads: every OMEM beat (one address of
  every bank) is one row of ``ceil(rows * data_width / 8)`` bytes, or with ``PACK`` all beats
  are one row, back to back, read ``CORE_MEM_WAYS`` a cycle (``beat2``, ``beat_two``: the
  OMEM banks' pair read); :class:`Packer` turns them into bus words, and the write
  engine keeps ``CORE_WRITE_OUTSTANDING`` bursts in flight (no W gap at a 4 KB burst
  boundary while a response is on its way).
* A bus error (``SLVERR`` / ``DECERR``) ends the command: a load writes the items whose bytes
  all arrived and is then aborted (``abort_i`` / ``abort_w``), a read drops the read engine's
  remaining beats (the burst in flight behind the failing one may have written the words it
  sent before the error came: ``golden.core_mem.write_rows``); ``fail`` pulses once with the cause and the command word, the master's
  error is cleared at once, and the next command runs (the core's ``CAUSE`` keeps the fault).
* ``rd_cycles`` / ``wr_cycles``: cycles of the last ``MEM`` load / read in program order that
  finished without a fault, from the cycle its engine took it to the cycle of its ``done``,
  both counted. Of an IMEM and a WMEM load running side by side, the one taken later (later
  in program order: the dispatcher hands commands out in order) sets ``rd_cycles`` even when
  the earlier one finishes after it.
* ``in_bytes`` / ``out_bytes``: bytes the port moved this cycle (read words delivered by
  either engine, ``B`` each; written bytes, counted with each burst's response, one cycle
  late), for ``BYTES_IN`` / ``BYTES_OUT``.

The checks of a ``MEM`` command (alignment, region) are made at issue by the host interface
(``hw/core_host.py``, from :func:`mem_descriptor`); the engines repeat them when they take the descriptor, which
matters only if the host moves the region while ``MEM`` commands wait in the queue (the
command then ends with ``fail`` at once, having moved nothing).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CORE_MEM_WAYS, CORE_READ_BURST, CORE_WRITE_OUTSTANDING, \
    DMA_ADDR_WIDTH
from exion.regmap import FLAGS, OPCODES

from .library import forward
from .core_cmd import command_fields, command_flag, command_stream
from .core_pack import Packer, Unpacker
from .dma_burst import axi_read_members, axi_write_members, descriptor_layout
from .dma_read import DmaRead
from .dma_share import ReadShare
from .dma_write import DmaWrite

__all__ = ["CoreDma", "mem_descriptor", "held_descriptor", "item_bytes", "packed"]


def item_bytes(cfg: ExionConfig) -> tuple[int, int]:
    """Bytes of a load item (one lane vector) and of a read item (one OMEM beat)."""
    return -(-cfg.lanes * cfg.data_width // 8), -(-cfg.rows * cfg.data_width // 8)


def packed(op, flags):
    """A ``READ_OMEM`` with ``MEM`` and ``PACK`` (``golden.core_mem.packed``)."""
    both = (FLAGS["MEM"] | FLAGS["PACK"]) >> 8
    return (op == OPCODES["READ_OMEM"]) & ((flags & both) == both)


def mem_descriptor(m: Module, cfg: ExionConfig, op, f, pack=0) -> tuple[Signal, Signal]:
    """Rows and row bytes of a ``MEM`` command (``golden.core_mem.mem_descriptor``; ``pack``:
    :func:`packed`)."""
    ib, ob = item_bytes(cfg)
    streams = Mux(f["streams"] == 0, cfg.merge_degree, f["streams"])
    rows, row_bytes = Signal(17), Signal(24)
    m.d.comb += [
        rows.eq(Mux(op == OPCODES["LOAD_IMEM"], cfg.rows,
                    Mux(op == OPCODES["LOAD_WMEM"], cfg.cols * streams,
                        Mux(pack, 1, f["count"])))),
        row_bytes.eq(Mux(op == OPCODES["READ_OMEM"], Mux(pack, f["count"] * ob, ob),
                         f["count"] * ib)),
    ]
    return rows, row_bytes


def held_descriptor(m: Module, cfg: ExionConfig, op, f, name: str, pack=0):
    """Rows and row bytes of the command at an input, registered in every cycle: the
    descriptor of a command that has been there since the cycle before. A command's payload
    holds from the cycle before its ``valid`` rises (the dispatcher's offer is registered,
    hw/core_dispatch.py), so the descriptor that enters a read or write engine with it loads
    from flip-flops, not through :func:`mem_descriptor`'s multiplier (``count`` times the
    item bytes) and multiplexers (the FPGA build's timing, docs/fpga.md)."""
    rows, row_bytes = mem_descriptor(m, cfg, op, f, pack)
    rows_q, row_bytes_q = Signal.like(rows, name=f"{name}_rows"), \
        Signal.like(row_bytes, name=f"{name}_row_bytes")
    m.d.sync += [rows_q.eq(rows), row_bytes_q.eq(row_bytes)]
    return rows_q, row_bytes_q


class CoreDma(wiring.Component):
    """The master port of the core and the routing of ``MEM`` commands (module docstring).

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    m_axi_* : AXI4 master port (all five channels, ``bus_width`` data bits, one ID bit).
    load_i_in, load_w_in, read_in : In(command_stream()) ;
    load_i, load_w, read : Out(command_stream())
        Commands from the dispatcher, and on to the load and read engines.
    item_i, item_w : Out(stream.Signature(lanes * data_width))
        Load items of the IMEM / WMEM engine; ``to_i`` / ``to_w``: a ``MEM`` load of IMEM /
        WMEM owns that load engine's stream input (the core muxes ``item_i`` / ``item_w``
        there).
    item_i2 : Out(lanes * data_width) ; item_i_two : Out(1)
        A second IMEM item with ``item_i`` (the next word of the same bank).
    load_i_done, load_w_done : In(1) ; abort_i, abort_w : Out(1)
        The load engines' ``done``; end a load after a bus error (one fault a cycle: an
        IMEM load's first, then a WMEM load's, then a read's).
    beat : In(stream.Signature(rows * data_width))
        The read engine's beats while ``to_mem`` (its command has ``MEM``).
    beat2 : In(rows * data_width) ; beat_two : In(1) ; beat_last : In(1)
        A second OMEM word with ``beat`` (``PACK``), and the read's last beat.
    read_done : In(1) ; read_busy : In(1)
        The read engine's ``done`` and ``busy``.
    load_busy, write_busy : Out(1)
        A ``MEM`` load / read is running (``STATUS``).
    done : Out(1)
        A ``MEM`` read finished (its last write response; ``DONE``).
    fail : Out(1) ; fail_cause : Out(8) ; fail_cmd : Out(32)
    rd_cycles, wr_cycles : Out(32)
    in_bytes, out_bytes : Out(16)
    region_base, region_end : In(32)
        ``REGION_BASE`` / ``REGION_END``: the engines check each descriptor again when they
        take it (a region changed while ``MEM`` commands wait applies to them then).
    g_on, g_valid, g_base, g_items, g_word : In ; g_ready, g_free, g_abort : Out(1) ;
    g_cycles : In(32) ; g_cycles_we : In(1) ; g_one : In(1)
        The gather engine's hook (hw/core_gather.py): ``g_free``: no ``MEM`` load runs; while
        ``g_on`` it owns the WMEM side's read engine: a row of ``g_items`` items at ``g_base``
        per ``g_valid & g_ready`` (the unpacker started with the first, ``g_first``: the rows
        follow each other in its stream), its items on ``item_w``; a fault ends it with
        ``g_abort`` (``fail`` with ``g_word``) once the engine is idle and ``g_head`` (the slot
        it writes is the faulting row); ``g_cycles`` sets ``rd_cycles`` (``g_cycles_we``), a
        gather of no block sets it to 1 (``g_one``, never with ``g_cycles_we``).
    s_desc : In(descriptor_layout()) ; s_rd_go, s_wr_go : In(1) ; s_rd_on, s_wr_on : In(1) ;
    s_rd_free, s_wr_free : Out(1) ; s_word : Out(stream.Signature(bus_width)) ;
    s_wdata : In(stream.Signature(bus_width)) ; s_rd_error, s_wr_error, s_wr_done : Out(1) ;
    s_rd_cause, s_wr_cause : Out(8) ; s_rd_clear, s_wr_clear : In(1)
        The SMEM transfer engine's hook (hw/core_smem.py): ``s_rd_free`` / ``s_wr_free``: the
        WMEM side's read engine / the write engine is free (no ``MEM`` load of WMEM or gather
        / no ``MEM`` read runs); a descriptor with ``s_rd_go`` / ``s_wr_go`` enters it, and
        while ``s_rd_on`` / ``s_wr_on`` the engine owns it: its read words on ``s_word`` (not
        the unpacker), its write words from ``s_wdata`` (not the packer), its error and done.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        aw, bw = DMA_ADDR_WIDTH, cfg.bus_width
        super().__init__({
            **axi_read_members(aw, bw), **axi_write_members(aw, bw),
            **{n: In(command_stream()) for n in ("load_i_in", "load_w_in", "read_in")},
            **{n: Out(command_stream()) for n in ("load_i", "load_w", "read")},
            "item_i": Out(stream.Signature(cfg.lanes * cfg.data_width)),
            "item_w": Out(stream.Signature(cfg.lanes * cfg.data_width)),
            "item_i2": Out(cfg.lanes * cfg.data_width), "item_i_two": Out(1),
            "to_i": Out(1), "to_w": Out(1), "load_i_done": In(1), "load_w_done": In(1),
            "abort_i": Out(1), "abort_w": Out(1),
            "beat": In(stream.Signature(cfg.rows * cfg.data_width)), "to_mem": Out(1),
            "beat2": In(cfg.rows * cfg.data_width), "beat_two": In(1), "beat_last": In(1),
            "read_done": In(1), "read_busy": In(1),
            "load_busy": Out(1), "write_busy": Out(1), "done": Out(1),
            "fail": Out(1), "fail_cause": Out(8), "fail_cmd": Out(32),
            "rd_cycles": Out(32), "wr_cycles": Out(32),
            "in_bytes": Out(16), "out_bytes": Out(16),
            "region_base": In(32), "region_end": In(32),
            "g_on": In(1), "g_valid": In(1), "g_base": In(DMA_ADDR_WIDTH), "g_items": In(16),
            "g_first": In(1), "g_head": In(1),
            "g_word": In(32), "g_ready": Out(1), "g_free": Out(1), "g_abort": Out(1),
            "g_cycles": In(32), "g_cycles_we": In(1), "g_one": In(1),
            "s_desc": In(descriptor_layout()), "s_rd_go": In(1), "s_wr_go": In(1),
            "s_rd_on": In(1), "s_wr_on": In(1), "s_rd_free": Out(1), "s_wr_free": Out(1),
            "s_word": Out(stream.Signature(bw)), "s_wdata": In(stream.Signature(bw)),
            "s_rd_error": Out(1), "s_wr_error": Out(1), "s_wr_done": Out(1),
            "s_rd_cause": Out(8), "s_wr_cause": Out(8),
            "s_rd_clear": In(1), "s_wr_clear": In(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        ib, ob = item_bytes(cfg)
        rds = [DmaRead(bus_width=cfg.bus_width, max_burst=CORE_READ_BURST) for _ in range(2)]
        ups = [Unpacker(bus_bytes=cfg.bus_bytes, item_bytes=ib, ways=w)
               for w in (CORE_MEM_WAYS, 1)]
        m.submodules.rd_i, m.submodules.rd_w = rds
        m.submodules.unpack_i, m.submodules.unpack_w = ups
        m.submodules.share = share = ReadShare(bus_width=cfg.bus_width, engines=2,
                                               max_burst=CORE_READ_BURST)
        m.submodules.wr = wr = DmaWrite(bus_width=cfg.bus_width,
                                        outstanding=CORE_WRITE_OUTSTANDING)
        m.submodules.pack = sp = Packer(bus_bytes=cfg.bus_bytes, item_bytes=ob,
                                        ways=CORE_MEM_WAYS)
        for eng in (*rds, wr):
            m.d.comb += [eng.region_base.eq(self.region_base), eng.region_end.eq(self.region_end)]
        forward(m, wr, [n for n in wr.signature.members if n.startswith("m_axi_")], self)
        forward(m, share, [n for n in share.signature.members if n.startswith("m_axi_")], self)
        for i, rd in enumerate(rds):
            for n in rd.signature.members:
                if n.startswith("m_axi_"):
                    a, b = getattr(rd, n), getattr(share, f"e{i}_{n[6:]}")
                    m.d.comb += (b.eq(a) if rd.signature.members[n].flow == wiring.Out
                                 else a.eq(b))

        # -- loads: a read engine each for IMEM and WMEM, one MEM load at a time on each -------
        # (a gather, hw/core_gather.py, owns the WMEM side's engine and waits for both sides to
        # be idle; neither side takes a MEM load while it runs, as with one shared engine)
        abort_i, abort_w = Signal(), Signal()
        sides = []
        ons = [Signal(name="load_i_on"), Signal(name="load_w_on")]
        # rd_cycles follows program order (the model's): the later of two loads running side by
        # side is the one taken later (the dispatcher hands commands out in order); the earlier
        # one finishing after it leaves rd_cycles alone
        later = [Signal(name="load_i_later"), Signal(name="load_w_later")]
        passed = [Signal(name="load_i_passed"), Signal(name="load_w_passed")]
        for name, to_w in (("load_i", 0), ("load_w", 1)):
            rd, up = rds[to_w], ups[to_w]
            on, word, cyc = ons[to_w], Signal(32, name=f"{name}_word"), \
                Signal(32, name=f"{name}_cyc")
            src, dst = getattr(self, f"{name}_in"), getattr(self, name)
            mem = command_flag(src.payload, "MEM")
            free, go = Signal(name=f"{name}_free"), Signal(name=f"{name}_mem_go")
            m.d.comb += [free.eq(~on & ~self.g_on & rd.cmd.ready
                                 & (~self.s_rd_on if to_w else 1)),
                         dst.payload.eq(src.payload),
                         dst.valid.eq(src.valid & (~mem | free)),
                         src.ready.eq(dst.ready & (~mem | free)),
                         go.eq(src.valid & mem & free & dst.ready)]
            f = command_fields(src.payload)
            rows, row_bytes = held_descriptor(m, cfg, src.payload.op, f, name)
            with m.If(go):
                m.d.comb += [rd.cmd.valid.eq(1), rd.cmd.payload.base.eq(f["addr"]),
                             rd.cmd.payload.stride.eq(f["stride"]),
                             rd.cmd.payload.rows.eq(rows), rd.cmd.payload.row_bytes.eq(row_bytes),
                             up.start.eq(1), up.n_items.eq(f["count"])]
                m.d.sync += [on.eq(1), cyc.eq(1), later[to_w].eq(ons[1 - to_w]),
                             passed[to_w].eq(0),
                             word.eq(Cat(src.payload.op, src.payload.flags))]
            if to_w:        # the SMEM engine's words bypass the unpacker (hw/core_smem.py)
                m.d.comb += [up.i.payload.eq(rd.o.payload),
                             up.i.valid.eq(rd.o.valid & ~self.s_rd_on),
                             self.s_word.payload.eq(rd.o.payload.data),
                             self.s_word.valid.eq(rd.o.valid & self.s_rd_on),
                             rd.o.ready.eq(Mux(self.s_rd_on, self.s_word.ready, up.i.ready))]
                with m.If(self.s_rd_go):
                    m.d.comb += [rd.cmd.valid.eq(1), rd.cmd.payload.eq(self.s_desc)]
            else:
                wiring.connect(m, rd.o, up.i)
            item = getattr(self, f"item_{name[-1]}")
            abort = abort_w if to_w else abort_i
            done = self.load_w_done if to_w else self.load_i_done
            owned = (on | self.g_on) if to_w else on
            if to_w:
                with m.If(self.g_on & self.g_valid):     # a gather's row (hw/core_gather.py)
                    m.d.comb += [rd.cmd.valid.eq(1), rd.cmd.payload.base.eq(self.g_base),
                                 rd.cmd.payload.rows.eq(1),
                                 rd.cmd.payload.row_bytes.eq(self.g_items * ib),
                                 up.start.eq(rd.cmd.ready & self.g_first),
                                 up.n_items.eq(self.g_items)]
            if not to_w:
                lw_bits = cfg.lanes * cfg.data_width
                m.d.comb += [self.item_i2.eq(up.o.payload[ib * 8:ib * 8 + lw_bits]),
                             self.item_i_two.eq(up.o_two)]
            m.d.comb += [
                getattr(self, f"to_{name[-1]}").eq(on),
                item.payload.eq(up.o.payload), item.valid.eq(up.o.valid & owned),
                up.o.ready.eq(item.ready & owned),
                # a bus error: the items whose bytes all arrived are written first (and one
                # fault a cycle: IMEM's first)
                abort.eq(owned & rd.error & ~up.o.valid & (~abort_i if to_w else 1)
                         # a gather's rows are requested ahead: it ends once the rows before
                         # the fault are all in and the slot being written is the faulting row
                         & ((~self.g_on | (self.g_head & ~rd.busy)) if to_w else 1)),
                getattr(self, f"abort_{name[-1]}").eq(abort & on),
                up.clear.eq(abort), rd.clear.eq(abort | (self.s_rd_clear if to_w else 0)),
            ]
            # rd_cycles is set the cycle after done (set_q), from cyc, which has counted that
            # cycle: the load engine's done comes from deep in the unpacker's logic and no
            # longer enables the 32-bit register (the FPGA build's timing, docs/fpga.md); the
            # host registers done as well, so STATUS.busy covers the cycle (hw/core_host.py)
            set_q = Signal(name=f"{name}_set_cycles")
            m.d.sync += set_q.eq(0)
            with m.If(set_q):
                m.d.sync += self.rd_cycles.eq(cyc)
            with m.If(on):
                m.d.sync += cyc.eq(cyc + 1)
                with m.If(done):
                    m.d.sync += on.eq(0)
                    other_done = (self.load_w_done if not to_w else self.load_i_done) \
                        & ons[1 - to_w] & later[1 - to_w]
                    with m.If(~passed[to_w] & ~other_done):
                        m.d.sync += set_q.eq(1)
                    with m.If(later[to_w] & ons[1 - to_w]):
                        m.d.sync += passed[1 - to_w].eq(1)
                with m.If(abort):
                    m.d.sync += on.eq(0)
            sides.append((on, word, rd))
        (on_i, word_i, rd_i), (on_w, word_w, rd_w) = sides
        # (a gather of no block, g_one, sets 1: its done comes from the gather's take, late,
        # and selects last, apart from the 32-bit value; the FPGA build's timing, docs/fpga.md)
        with m.If(self.g_cycles_we):
            m.d.sync += self.rd_cycles.eq(self.g_cycles)
        with m.If(self.g_one):
            m.d.sync += self.rd_cycles.eq(1)
        m.d.comb += [
            self.s_rd_free.eq(~on_w & ~self.g_on & ~self.s_rd_on & rd_w.cmd.ready),
            self.s_rd_error.eq(self.s_rd_on & rd_w.error), self.s_rd_cause.eq(rd_w.cause),
            self.g_free.eq(~on_i & ~on_w & rd_i.cmd.ready & rd_w.cmd.ready & ~self.s_rd_on),
            self.g_ready.eq(rd_w.cmd.ready), self.g_abort.eq(abort_w & self.g_on),
            self.load_busy.eq(on_i | on_w),
            self.in_bytes.eq(Mux(rd_i.o.valid & rd_i.o.ready, cfg.bus_bytes, 0)
                             + Mux(rd_w.o.valid & rd_w.o.ready, cfg.bus_bytes, 0)),
        ]

        # -- reads: the write engine, one MEM read at a time -------------------------------------
        wr_on, w_fail, wr_word, wr_cyc = Signal(), Signal(), Signal(32), Signal(32)
        src, dst = self.read_in, self.read
        mem = command_flag(src.payload, "MEM")
        pack, w_pack = packed(src.payload.op, src.payload.flags), Signal()
        wr_free, go = Signal(), Signal()
        m.d.comb += [wr_free.eq(~wr_on & ~self.to_mem & wr.cmd.ready & ~self.s_wr_on),
                     self.s_wr_free.eq(wr_free),
                     self.s_wr_error.eq(self.s_wr_on & wr.error),
                     self.s_wr_cause.eq(wr.cause), self.s_wr_done.eq(self.s_wr_on & wr.done),
                     dst.payload.eq(src.payload),
                     dst.valid.eq(src.valid & (~mem | wr_free)),
                     src.ready.eq(dst.ready & (~mem | wr_free)),
                     go.eq(src.valid & mem & wr_free & dst.ready)]
        f = command_fields(src.payload)
        rows, row_bytes = held_descriptor(m, cfg, src.payload.op, f, "read", pack)
        with m.If(go):
            m.d.sync += w_pack.eq(pack)
            m.d.comb += [wr.cmd.valid.eq(1), wr.cmd.payload.base.eq(f["addr"]),
                         wr.cmd.payload.stride.eq(f["stride"]),
                         wr.cmd.payload.rows.eq(rows), wr.cmd.payload.row_bytes.eq(row_bytes)]
            m.d.sync += [wr_on.eq(1), self.to_mem.eq(1), wr_cyc.eq(1),
                         wr_word.eq(Cat(src.payload.op, src.payload.flags))]
        with m.If(self.s_wr_go):
            m.d.comb += [wr.cmd.valid.eq(1), wr.cmd.payload.eq(self.s_desc)]
        with m.If(self.read_done):
            m.d.sync += [self.to_mem.eq(0), w_fail.eq(0)]
        # the packer's words, or the SMEM engine's while it owns the write engine
        m.d.comb += [wr.i.payload.eq(Mux(self.s_wr_on, self.s_wdata.payload, sp.o.payload)),
                     wr.i.valid.eq(Mux(self.s_wr_on, self.s_wdata.valid, sp.o.valid)),
                     sp.o.ready.eq(wr.i.ready & ~self.s_wr_on),
                     self.s_wdata.ready.eq(wr.i.ready & self.s_wr_on)]
        w_err = Signal()
        m.d.comb += [
            # (each OMEM word in whole bytes: the second at byte ob)
            sp.i.payload.eq(Cat(self.beat.payload, Const(0, ob * 8 - cfg.rows * cfg.data_width),
                                self.beat2)),
            sp.i_two.eq(self.beat_two), sp.i_end.eq(~w_pack | self.beat_last),
            sp.i.valid.eq(self.beat.valid & ~w_fail),
            # after a bus error the read engine's remaining beats are dropped
            self.beat.ready.eq(Mux(w_fail, 1, sp.i.ready)),
            w_err.eq(wr_on & wr.error & ~abort_i & ~abort_w),
            wr.clear.eq(w_err | self.s_wr_clear), sp.clear.eq(w_err),
            self.write_busy.eq(wr_on), self.done.eq(wr.done & ~self.s_wr_on),
        ]
        with m.If(wr_on):
            m.d.sync += wr_cyc.eq(wr_cyc + 1)
            with m.If(wr.done):
                m.d.sync += [wr_on.eq(0), self.wr_cycles.eq(wr_cyc + 1)]
            with m.If(w_err):
                m.d.sync += wr_on.eq(0)
                with m.If(self.to_mem & ~self.read_done):
                    m.d.sync += w_fail.eq(1)
        wr_bytes_q = Signal(32)
        m.d.sync += wr_bytes_q.eq(wr.bytes)
        m.d.comb += self.out_bytes.eq(wr.bytes - wr_bytes_q)

        # -- faults: one a cycle, the loads' first ---------------------------------------------
        m.d.comb += [self.fail.eq(abort_i | abort_w | w_err),
                     self.fail_cause.eq(Mux(abort_i, rd_i.cause,
                                            Mux(abort_w, rd_w.cause, wr.cause))),
                     self.fail_cmd.eq(Mux(abort_i, word_i,
                                          Mux(abort_w, Mux(self.g_on, self.g_word, word_w),
                                              wr_word)))]
        return m
