"""ConMerge Assistant Unit (CAU): the greedy condense + merge of ``golden.conmerge`` in RTL.

Input: one row group's output mask, streamed as *beats* of ``P`` consecutive channels (see
:func:`beat_layout`): each beat carries the group index, the channel index of its lane 0, the
``P`` conflict vectors (``rows`` bits each, bit ``r`` = row ``r`` of the group needs the
channel; the columns of the mask) and ``last`` (the group's final beat). Channels must arrive in
ascending order within a group; lanes past the end of the mask carry a zero cv. The producer may
drop beats whose cvs are all zero.

Per cycle the CAU places **one** nonzero-cv channel of the current beat (the lowest one not yet
placed) and skips zero-cv channels for free, so a beat costs ``max(1, nonzero lanes)`` cycles.
Placement is the golden greedy rule: the lowest open slot with fewer than ``merge_degree``
streams whose OR is disjoint from the cv; else a newly opened slot; else the current block is
emitted and the channel opens slot 0 of a new block. After a ``last`` beat one *flush* cycle
emits the group's final non-empty block. Without back-pressure a group takes exactly
:func:`golden.cycle_model.cau_cycles` cycles.

The working block is held in the output format itself (``hw.sdue.block_layout``): a slot is
open iff its stream 0 is valid, has room iff its last stream is not, and its OR of cvs is the
column ``sel[:, s] != 0``; so there are no other state registers but the beat position. Output:
one ConMerge vector per block, bit for bit :func:`golden.schedule.pack_block`, on a stream with
a one-block output register. See ``docs/cau.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CAU_BEAT, CHANNEL_BITS, GROUP_BITS
from exion.util import check_int

from .sdue import block_layout

__all__ = ["Cau", "beat_layout", "DEFAULT_BEAT"]

#: Channels per input beat of the generated CAU (the spec's beat: one mask-memory word).
DEFAULT_BEAT = CAU_BEAT


def beat_layout(cfg: ExionConfig, beat: int = DEFAULT_BEAT) -> data.StructLayout:
    """One input beat: ``group``, ``base`` (channel of lane 0), ``cv[beat]``, ``last``."""
    return data.StructLayout({
        "group": GROUP_BITS,
        "base": CHANNEL_BITS,
        "cv": data.ArrayLayout(cfg.rows, beat),
        "last": 1,
    })


def _lowest(m: Module, bits, name: str):
    """One-hot of the lowest set bit of ``bits`` (a Value), as a signal of the same width."""
    out = Signal(len(bits), name=name)
    m.d.comb += out.eq(bits & (-bits)[:len(bits)])
    return out


class Cau(wiring.Component):
    """ConMerge Assistant Unit, greedy rule (``golden.conmerge._greedy_group``).

    Parameters
    ----------
    cfg : ExionConfig
        ``rows``, ``cols``, ``merge_degree``.
    beat : int
        Channels per input beat (``P``).

    Members
    -------
    masks : In(stream.Signature(beat_layout(cfg, beat)))
    blocks : Out(stream.Signature(block_layout(cfg)))
    busy : Out(1)
        A beat is being processed or a block is in the output register.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cau"

    def __init__(self, cfg: ExionConfig, beat: int = DEFAULT_BEAT):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        beat = check_int("beat", beat, 1, 64)
        self._cfg = cfg
        self.beat = beat
        super().__init__({
            "masks": In(stream.Signature(beat_layout(cfg, beat))),
            "blocks": Out(stream.Signature(block_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        R, C, D, P = cfg.rows, cfg.cols, cfg.merge_degree, self.beat
        m = Module()

        blk = Signal(block_layout(cfg))       # working block
        nonempty = Signal()                   # blk holds at least one channel
        out = Signal(block_layout(cfg))       # output register
        out_valid = Signal()
        flush = Signal()                      # the group's last beat is done: emit blk
        placed = Signal(P)                    # lanes of the current beat already placed

        m.d.comb += [self.blocks.valid.eq(out_valid), self.blocks.payload.eq(out)]
        out_free = Signal()
        m.d.comb += out_free.eq(~out_valid | self.blocks.ready)
        with m.If(self.blocks.ready):
            m.d.sync += out_valid.eq(0)

        beat = self.masks.payload
        nz = Signal(P)
        m.d.comb += nz.eq(Cat(*[beat.cv[i].any() for i in range(P)]))
        rem = Signal(P)
        m.d.comb += rem.eq(nz & ~placed)
        pick = _lowest(m, rem, "pick")        # one-hot lane to place this cycle
        rest = Signal(P)
        m.d.comb += rest.eq(rem & ~pick)
        cv = Signal(R)
        ch = Signal(CHANNEL_BITS)
        cv_terms = [Mux(pick[i], beat.cv[i], 0) for i in range(P)]
        ch_terms = [Mux(pick[i], i, 0) for i in range(P)]
        m.d.comb += cv.eq(_or_all(cv_terms))
        m.d.comb += ch.eq(beat.base + _or_all(ch_terms))

        # Slot state, derived from the block itself.
        opened = Signal(C)
        room = Signal(C)
        fits = Signal(C)
        for s in range(C):
            ors = Cat(*[blk.sel[r][s] != 0 for r in range(R)])
            m.d.comb += opened[s].eq(blk.slots[s][0].valid)
            m.d.comb += room[s].eq(~blk.slots[s][D - 1].valid)
            m.d.comb += fits[s].eq(opened[s] & room[s] & ~(ors & cv).any())
        fit1 = _lowest(m, fits, "fit1")
        new1 = _lowest(m, ~opened, "new1")   # first closed slot (opened is a prefix)
        has_fit = fits.any()
        can_open = ~opened[C - 1]
        target = Signal(C)                  # one-hot slot in the block after this cycle
        m.d.comb += target.eq(Mux(has_fit, fit1, Mux(can_open, new1, 1)))
        emit_full = Signal()                # no slot fits and all are open
        m.d.comb += emit_full.eq(~has_fit & ~can_open)

        working = Signal()                  # this cycle places a channel
        advance = Signal()                  # this cycle finishes the beat
        m.d.comb += working.eq(self.masks.valid & ~flush & pick.any()
                               & (~emit_full | out_free))
        m.d.comb += advance.eq(self.masks.valid & ~flush
                               & (~pick.any() | (working & (rest == 0))))
        m.d.comb += self.masks.ready.eq(advance)
        m.d.comb += self.busy.eq(self.masks.valid | flush | out_valid)

        # Stream index per slot: number of valid streams (they fill in order).
        def stream_onehot(s):
            return Cat(*[~blk.slots[s][d].valid & (blk.slots[s][d - 1].valid if d else 1)
                         for d in range(D)])

        with m.If(working):
            with m.If(emit_full):
                m.d.sync += [out.eq(blk), out_valid.eq(1)]
                # A fresh block holding only this channel (later statements win).
                m.d.sync += blk.eq(0)
                m.d.sync += [blk.group.eq(beat.group), blk.slots[0][0].valid.eq(1),
                             blk.slots[0][0].channel.eq(ch)]
                for r in range(R):
                    m.d.sync += blk.sel[r][0].eq(cv[r])
            with m.Else():
                m.d.sync += [blk.group.eq(beat.group), nonempty.eq(1)]
                for s in range(C):
                    with m.If(target[s]):
                        oh = stream_onehot(s)
                        for d in range(D):
                            with m.If(oh[d]):
                                m.d.sync += [blk.slots[s][d].valid.eq(1),
                                             blk.slots[s][d].channel.eq(ch)]
                                for r in range(R):
                                    with m.If(cv[r]):
                                        m.d.sync += blk.sel[r][s].eq(d + 1)
            m.d.sync += placed.eq(placed | pick)
        with m.If(advance):
            m.d.sync += placed.eq(0)
            with m.If(beat.last):
                m.d.sync += flush.eq(1)
        with m.If(flush):
            with m.If(~nonempty):
                m.d.sync += flush.eq(0)
            with m.Elif(out_free):
                m.d.sync += [out.eq(blk), out_valid.eq(1), flush.eq(0), nonempty.eq(0),
                             blk.eq(0)]
        return m


def _or_all(values):
    acc = values[0]
    for v in values[1:]:
        acc = acc | v
    return acc
