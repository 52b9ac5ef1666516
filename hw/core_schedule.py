"""The SCHEDULE engine: mask memory -> CAU (``hw/cau.py``) -> ConMerge vectors in SMEM.

Contract: a ``SCHEDULE`` command (:mod:`hw.core_cmd`) is taken when ``cmd.ready``; the
cycle after, the shared sequencer (``hw/sequencer.py``) starts reading the mask memory's
words ``0 .. ceil(n_ch / CAU_BEAT) - 1`` of the part the command's ``mhalf`` field names
(``exion.regmap.mask_half``: 0 and 1 from word 0, 2 from word ``mask_words // 2``), one
beat of ``CAU_BEAT`` channels each (channels past ``n_ch`` zeroed), into the CAU; every
vector the CAU emits is written to the SMEM part the command's ``half`` field names
(``exion.regmap.smem_half``: 0 = the whole SMEM from address 0, 1 / 2 = the lower / upper
half). When the CAU is done, ``blocks`` (half 0) or
``blocks_half`` (halves 1, 2) holds their count, ``sched_cycles`` the command's cycles from its
dispatch (``golden.cycle_model.schedule_cycles``; also ``cycles`` with ``cycles_we`` for
half 0: a split SCHEDULE runs beside a GEMM and finishes out of order, so it leaves ``CYCLES``
to the GEMMs) and ``done`` pulses; a vector past its part is dropped and ``overflow`` pulses
with ``done`` (cause ``SMEM_OVERFLOW``). ``writes`` tells the dispatcher which halves the
running command writes (bit 0 lower, bit 1 upper; both for half 0), ``mask_reads`` which
mask-memory halves it reads (the same encoding, from ``mhalf``). The ``RESIDENT`` flag puts
the CAU in its resident mode for the command (``golden.conmerge.cau_schedule(resident=True)``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from exion.regmap import smem_half

from .cau import Cau
from .core_cmd import command_fields, command_flag, command_stream
from .sdue import block_layout
from .sequencer import Sequencer

__all__ = ["ScheduleEngine"]


class ScheduleEngine(wiring.Component):
    """Mask memory to SMEM through the CAU.

    Parameters
    ----------
    cfg : ExionConfig
    mask_words : int
        Words of the mask memory (``CAU_BEAT`` channels of ``rows`` bits each).

    Members
    -------
    cmd : In(command_stream())
    mask_addr : Out(range(mask_words)) ; mask_en : Out(1) ; mask_data : In(CAU_BEAT * rows)
        Mask memory read port (data one cycle after an enabled read).
    smem_addr : Out(range(schedule_depth)) ; smem_data : Out(block_layout(cfg)) ;
    smem_en : Out(1)
        SMEM write port.
    blocks : Out(range(schedule_depth + 1))
        The ``BLOCKS`` register: vectors written by the last whole-SMEM ``SCHEDULE``.
    blocks_half : Out(ArrayLayout(range(schedule_depth + 1), 2))
        ``BLOCKS_H1``, ``BLOCKS_H2``: vectors of the last ``SCHEDULE`` into each half.
    sched_cycles : Out(32)
        ``SCHED_CYCLES``: cycles of the last ``SCHEDULE``.
    writes : Out(2)
        SMEM halves the running command writes.
    mask_reads : Out(2)
        Mask-memory halves the running command reads.
    cycles : Out(32) ; cycles_we : Out(1)
    busy, done, overflow : Out(1)
    set_we : In(1) ; set_half : In(2) ; set_count : In(range(schedule_depth + 1))
        A ``LOAD_SMEM`` (hw/core_smem.py) sets the block count of part ``set_half`` (never
        while a ``SCHEDULE`` runs: they share SMEM's write port, core_dispatch.py).
    """

    def __init__(self, cfg: ExionConfig, *, mask_words: int):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        if not isinstance(mask_words, int) or mask_words < 1:
            raise ValueError(f"mask_words = {mask_words!r} must be an integer >= 1")
        self._cfg, self._mw = cfg, mask_words
        S = cfg.schedule_depth
        super().__init__({
            "cmd": In(command_stream()),
            "mask_addr": Out(range(mask_words)), "mask_en": Out(1),
            "mask_data": In(CAU_BEAT * cfg.rows),
            "smem_addr": Out(range(S)), "smem_data": Out(block_layout(cfg)), "smem_en": Out(1),
            "blocks": Out(range(S + 1)),
            "blocks_half": Out(data.ArrayLayout(range(S + 1), 2)), "sched_cycles": Out(32),
            "writes": Out(2), "mask_reads": Out(2),
            "cycles": Out(32), "cycles_we": Out(1),
            "busy": Out(1), "done": Out(1), "overflow": Out(1),
            "set_we": In(1), "set_half": In(2), "set_count": In(range(S + 1)),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        R, S = cfg.rows, cfg.schedule_depth
        H = smem_half(S, 2)[0]      # first vector of the upper half (= vectors per half)
        m = Module()
        m.submodules.cau = cau = Cau(cfg, CAU_BEAT)
        m.submodules.seq = seq = Sequencer(addr_width=16, count_width=17)
        f = command_fields(self.cmd.payload)
        active = Signal()
        start = Signal()            # the cycle after dispatch
        n_ch = Signal(16)
        count = Signal(range(S + 1))
        over = Signal()
        cyc = Signal(32)
        take = Signal()
        half, mhalf = Signal(2), Signal(2)
        resident = Signal()         # the command's RESIDENT flag, held while it runs
        first = Signal(range(S + 1))
        size = Signal(range(S + 1))
        m.d.comb += [take.eq(self.cmd.valid & ~active), self.cmd.ready.eq(~active),
                     self.busy.eq(active)]
        m.d.sync += start.eq(take)
        with m.If(take):
            m.d.sync += [active.eq(1), n_ch.eq(f["n_ch"]), count.eq(0), over.eq(0), cyc.eq(0),
                         half.eq(f["half"]), mhalf.eq(f["mhalf"]),
                         resident.eq(command_flag(self.cmd.payload, "RESIDENT"))]
        with m.Elif(active):
            m.d.sync += cyc.eq(cyc + 1)
        m.d.comb += [seq.start.eq(start), seq.base.eq(0),
                     seq.count.eq((n_ch + (CAU_BEAT - 1)) // CAU_BEAT),
                     self.mask_addr.eq(seq.f_addr + Mux(mhalf == 2, self._mw // 2, 0)),
                     self.mask_en.eq(seq.r_en),
                     seq.o_ready.eq(cau.masks.ready)]
        # beat b: channels 8b .. of which those below n_ch are real. Which lanes are real
        # (lane i: n_ch - 8b > i) is a register loaded with every fetch from the fetched word's
        # address (the sequencer's f_addr, a register; the word is presented from the cycle
        # after, when o_addr takes that address), so the CAU's placement chain does not start
        # with the subtraction and the comparisons (the FPGA build's timing, docs/fpga.md).
        base = Signal(16)
        f_rem = Signal(16)
        real = Signal(CAU_BEAT)     # lanes of the presented word below n_ch
        m.d.comb += [base.eq(seq.o_addr * CAU_BEAT), f_rem.eq(n_ch - seq.f_addr * CAU_BEAT)]
        with m.If(seq.r_en):
            m.d.sync += real.eq(Cat(*[f_rem > i for i in range(CAU_BEAT)]))
        m.d.comb += [cau.resident.eq(resident),
                     cau.masks.valid.eq(seq.o_valid), cau.masks.payload.group.eq(0),
                     cau.masks.payload.base.eq(base), cau.masks.payload.last.eq(seq.o_last)]
        for i in range(CAU_BEAT):
            m.d.comb += cau.masks.payload.cv[i].eq(
                Mux(real[i], self.mask_data[i * R:(i + 1) * R], 0))
        m.d.comb += [first.eq(Mux(half == 2, H, 0)), size.eq(Mux(half == 0, S, H)),
                     self.writes.eq(Mux(active, Mux(half == 0, 3, half), 0)),
                     self.mask_reads.eq(Mux(active, Mux(mhalf == 0, 3, mhalf), 0))]
        m.d.comb += [cau.blocks.ready.eq(1),
                     self.smem_addr.eq(first + count), self.smem_data.eq(cau.blocks.payload),
                     self.smem_en.eq(cau.blocks.valid & (count < size))]
        with m.If(cau.blocks.valid):
            with m.If(count < size):
                m.d.sync += count.eq(count + 1)
            with m.Else():
                m.d.sync += over.eq(1)
        m.d.comb += [self.done.eq(active & ~start & ~seq.busy & ~cau.busy),
                     self.overflow.eq(self.done & over),
                     self.cycles.eq(cyc + 1), self.cycles_we.eq(self.done & (half == 0))]
        with m.If(self.done):
            m.d.sync += [active.eq(0), self.sched_cycles.eq(cyc + 1)]
            with m.Switch(half):
                with m.Case(0):
                    m.d.sync += self.blocks.eq(count)
                with m.Case(1):
                    m.d.sync += self.blocks_half[0].eq(count)
                with m.Case(2):
                    m.d.sync += self.blocks_half[1].eq(count)
        with m.If(self.set_we):
            with m.Switch(self.set_half):
                with m.Case(0):
                    m.d.sync += self.blocks.eq(self.set_count)
                with m.Case(1):
                    m.d.sync += self.blocks_half[0].eq(self.set_count)
                with m.Case(2):
                    m.d.sync += self.blocks_half[1].eq(self.set_count)
        return m
