"""ConMerge Assistant Unit (CAU): condense + merge of ``golden.conmerge`` in RTL, the
``window`` rule with ``W = cfg.cau_window`` open blocks (``W = 1``: the greedy rule).

Input: one row group's output mask, streamed as *beats* of ``P`` consecutive channels (see
:func:`beat_layout`): each beat carries the group index, the channel index of its lane 0, the
``P`` conflict vectors (``rows`` bits each, bit ``r`` = row ``r`` of the group needs the
channel; the columns of the mask) and ``last`` (the group's final beat). Channels must arrive in
ascending order within a group; lanes past the end of the mask carry a zero cv. The producer may
drop beats whose cvs are all zero.

Per cycle the CAU places up to ``Q = cfg.cau_rate`` nonzero-cv channels of the current beat, in
placement order (ascending lane; with ``cfg.cau_sort`` most set cv bits first, lowest lane on
ties), through a chain of ``Q`` placement stages, each on the state the previous one left; only
the first stage may emit a block, so a placement that emits starts a cycle. Zero-cv channels
are skipped for free; with ``Q = 1`` a beat costs ``max(1, nonzero lanes)`` cycles. Placement is the golden
``window`` rule (``golden.conmerge_rules.window_group``): the lowest open window slot with
fewer than ``merge_degree`` streams whose OR is disjoint from the cv (with ``cfg.cau_fit``,
of those the one whose OR has the most set bits, the lowest on ties: best fit, the golden
``bestfit`` rule); else a newly opened
slot; else the oldest open block is emitted, the others move down one block and the channel
opens slot 0 of a new newest block. After a ``last`` beat the *flush* emits the open blocks,
oldest first, one a cycle (at least one cycle). Without back-pressure a group takes exactly
:func:`golden.cycle_model.cau_cycles` cycles.

The open blocks are held in the output format itself (``hw.sdue.block_layout``): a slot is
open iff its stream 0 is valid, has room iff its last stream is not, and its OR of cvs is the
column ``sel[:, s] != 0``; so there are no other state registers but the beat position. Output:
one ConMerge vector per block, bit for bit :func:`golden.schedule.pack_block`, on a stream with
a one-block output register.

``resident`` (a run-time mode: the ``SCHEDULE`` command's ``RESIDENT`` flag, held for the whole
command) switches to the resident rule, ``golden.conmerge_rules.resident_group``: channel ``j``
may only go into slot ``j % cols``, stream ``(j // cols) % merge_degree`` (where a resident
weight layout keeps its weights), of the oldest open block where that stream is empty and the
slot's OR is disjoint from the cv (best fit: the one whose OR has the most set bits), else of a
newly opened block, else of a new block after the oldest is emitted. A block is then open iff
any of its streams is valid (open blocks stay a prefix of the window); the timing is the same
function of the rule's blocks and emissions. See ``docs/cau.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
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
    """One-hot of the lowest set bit of ``bits`` (a Value), as a signal of the same width.

    A log-depth prefix OR (bit ``i``: set and no lower bit set), not ``bits & -bits``: a
    negation is a carry chain, slower in LUTs (the FPGA build's timing, docs/fpga.md)."""
    n = len(bits)
    below = bits                              # below[i]: any of bits[0 .. i]
    k = 1
    while k < n:
        below = (below | (below << k))[:n]
        k *= 2
    out = Signal(n, name=name)
    m.d.comb += out.eq(bits & ~(below << 1)[:n])
    return out


class Cau(wiring.Component):
    """ConMerge Assistant Unit, ``window`` rule (``golden.conmerge_rules.window_group``).

    Parameters
    ----------
    cfg : ExionConfig
        ``rows``, ``cols``, ``merge_degree``, ``cau_window``, ``cau_sort``, ``cau_rate``,
        ``cau_fit``.
    beat : int
        Channels per input beat (``P``).

    Members
    -------
    masks : In(stream.Signature(beat_layout(cfg, beat)))
    blocks : Out(stream.Signature(block_layout(cfg)))
    resident : In(1)
        The resident rule instead of the window rule (hold it while a group is scheduled).
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
            "resident": In(1),
            "busy": Out(1),
        })

    @property
    def window(self) -> int:
        """Open blocks ``W`` (``cfg.cau_window``)."""
        return self._cfg.cau_window

    @property
    def sort(self) -> bool:
        """Whether each beat's channels are placed by popcount, descending (``cfg.cau_sort``)."""
        return bool(self._cfg.cau_sort)

    @property
    def best_fit(self) -> bool:
        """Whether a channel goes into the fullest fitting slot (``cfg.cau_fit``)."""
        return bool(self._cfg.cau_fit)

    @property
    def rate(self) -> int:
        """Channels placed per cycle, at most (``cfg.cau_rate``)."""
        return self._cfg.cau_rate

    def elaborate(self, platform):
        cfg = self._cfg
        R, C, D, P, W = cfg.rows, cfg.cols, cfg.merge_degree, self.beat, cfg.cau_window
        Q = cfg.cau_rate                      # placement stages per cycle
        N = W * C                             # window slots
        m = Module()

        # The open blocks, oldest first; window slot s is slot s % C of blks[s // C].
        blks = [Signal(block_layout(cfg), name=f"blk{w}") for w in range(W)]
        res = self.resident
        out = Signal(block_layout(cfg))       # output register
        out_valid = Signal()
        flush = Signal()                      # the group's last beat is done: emit the blocks
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

        # Stage i places the i-th remaining lane of the beat (in placement order) on the state
        # stage i - 1 left: a chain of Q copies of the slot logic, so the schedule is the one
        # of Q = 1, placed Q channels a cycle. Only stage 0 may emit (one output register, and
        # no block shift in the later stages): a placement that emits starts a cycle.
        state = blks
        left = rem
        placed_now = Const(0, P)
        prev_act = None
        emit = Signal()                       # stage 0 emits the oldest block this cycle
        for i in range(Q):
            if self.sort:
                pick = _max_popcount(m, beat, left, R, P)
            else:
                pick = _lowest(m, left, f"pick{i}")   # one-hot lane this stage places
            nleft = Signal(P, name=f"left{i}")
            m.d.comb += nleft.eq(left & ~pick)
            cv = Signal(R, name=f"cv{i}")
            ch = Signal(CHANNEL_BITS, name=f"ch{i}")
            m.d.comb += cv.eq(_or_all([Mux(pick[j], beat.cv[j], 0) for j in range(P)]))
            m.d.comb += ch.eq(beat.base + _or_all([Mux(pick[j], j, 0) for j in range(P)]))
            # the channel's class in the resident layout: slot ch % C, stream (ch // C) % D
            col1 = Signal(C, name=f"col{i}")
            str1 = Signal(D, name=f"str{i}")
            cls_c, cls_d = _mod(ch, C), _mod(_div(ch, C), D)
            m.d.comb += [col1[c].eq(cls_c == c) for c in range(C)]
            m.d.comb += [str1[d].eq(cls_d == d) for d in range(D)]

            # Slot state, derived from the blocks themselves.
            opened = Signal(N, name=f"opened{i}")
            room = Signal(N, name=f"room{i}")
            fits = Signal(N, name=f"fits{i}")
            bopen = _block_open(m, state, C, D, f"bopen{i}")
            for s in range(N):
                w, b, c = s // C, state[s // C], s % C
                ors = Cat(*[b.sel[r][c] != 0 for r in range(R)])
                m.d.comb += opened[s].eq(b.slots[c][0].valid)
                m.d.comb += room[s].eq(~b.slots[c][D - 1].valid)
                free = ~Cat(*[b.slots[c][d].valid & str1[d] for d in range(D)]).any()
                m.d.comb += fits[s].eq(Mux(res, col1[c] & bopen[w] & free,
                                           opened[s] & room[s]) & ~(ors & cv).any())
            if cfg.cau_fit:
                # best fit: the fitting slot whose OR has the most set bits, lowest on ties
                # (key = popcount + 1 for a fitting slot, 0 otherwise: a resident slot may
                # fit with an empty OR)
                keys = []
                for s in range(N):
                    b, c = state[s // C], s % C
                    k = Signal((R + 1).bit_length(), name=f"fitkey{i}_{s}")
                    pop = _bit_sum([b.sel[r][c] != 0 for r in range(R)], R.bit_length())
                    m.d.comb += k.eq(Mux(fits[s], pop + 1, 0))
                    keys.append(k)
                fit1 = _argmax(m, keys, f"fit{i}")
            else:
                fit1 = _lowest(m, fits, f"fit{i}")
            # first closed slot (opened is a prefix); resident: the channel's slot of the first
            # closed block (open blocks are a prefix)
            newb = _lowest(m, ~bopen, f"newb{i}")
            new1 = Signal(N, name=f"new{i}")
            m.d.comb += new1.eq(Mux(res, Cat(*[newb[s // C] & col1[s % C] for s in range(N)]),
                                    _lowest(m, ~opened, f"closed{i}")))
            has_fit = fits.any()
            can_open = Mux(res, ~bopen[W - 1], ~opened[N - 1])
            target = Signal(N, name=f"target{i}")   # one-hot window slot of the channel
            m.d.comb += target.eq(Mux(has_fit, fit1, Mux(can_open, new1, 0)))
            emit_full = Signal(name=f"emit_full{i}")  # no slot fits and all are open
            m.d.comb += emit_full.eq(~has_fit & ~can_open)

            act = Signal(name=f"act{i}")            # this stage places its channel
            if i == 0:
                emit_full0 = emit_full
                m.d.comb += act.eq(self.masks.valid & ~flush & pick.any()
                                   & (~emit_full | out_free))
                m.d.comb += emit.eq(act & emit_full)
            else:
                m.d.comb += act.eq(prev_act & pick.any() & ~emit_full)

            nxt = [Signal(block_layout(cfg), name=f"st{i + 1}_blk{w}") for w in range(W)]
            m.d.comb += [nxt[w].eq(state[w]) for w in range(W)]
            with m.If(act):
                if i == 0:
                    with m.If(emit_full):
                        # The others move down one block; the channel opens slot 0 of a
                        # fresh newest block.
                        m.d.comb += [nxt[w].eq(state[w + 1]) for w in range(W - 1)]
                        new = nxt[W - 1]
                        m.d.comb += [new.eq(0), new.group.eq(beat.group)]
                        # slot 0 stream 0; resident: the channel's slot and stream
                        for c in range(C):
                            for d in range(D):
                                with m.If(Mux(res, col1[c] & str1[d],
                                              int(c == 0 and d == 0))):
                                    m.d.comb += [new.slots[c][d].valid.eq(1),
                                                 new.slots[c][d].channel.eq(ch)]
                                    m.d.comb += [new.sel[r][c].eq(Mux(cv[r], d + 1, 0))
                                                 for r in range(R)]
                    with m.Else():
                        _insert(m, state, nxt, target, cv, ch, beat.group, C, D, R, res, str1)
                else:
                    _insert(m, state, nxt, target, cv, ch, beat.group, C, D, R, res, str1)
            placed_now = placed_now | Mux(act, pick, 0)
            state, left, prev_act = nxt, nleft, act

        now = Signal(P)                       # lanes placed this cycle
        m.d.comb += now.eq(placed_now)
        advance = Signal()                    # this cycle finishes the beat
        if Q == 1:
            # (rem & ~now) == 0 with the single stage's lane: no lane left, or one left
            # and the stage places it; "one left" is apart from the placement chain, so the
            # ready (and the producer's fetch behind it) waits only on emit_full
            # (the FPGA build's timing, docs/fpga.md)
            single = Signal()
            m.d.comb += single.eq((rem & _lowest(m, rem, "rem_low")) == rem)
            m.d.comb += advance.eq(self.masks.valid & ~flush
                                   & ((rem == 0) | (single & (~emit_full0 | out_free))))
        else:
            m.d.comb += advance.eq(self.masks.valid & ~flush & ((rem & ~now) == 0))
        m.d.comb += self.masks.ready.eq(advance)
        m.d.comb += self.busy.eq(self.masks.valid | flush | out_valid)

        # The output register loads the oldest block whenever it is free (its content is only
        # seen with out_valid), so the placement chain that decides an emission drives only
        # out_valid, not the enable of every output bit.
        with m.If(out_free):
            m.d.sync += out.eq(blks[0])

        def emit_oldest():
            """The oldest block to the output register, the others down one block."""
            m.d.sync += out_valid.eq(1)
            for w in range(W - 1):
                m.d.sync += blks[w].eq(blks[w + 1])
            m.d.sync += blks[W - 1].eq(0)

        m.d.sync += [blks[w].eq(state[w]) for w in range(W)]
        m.d.sync += placed.eq(placed | now)
        with m.If(emit):
            m.d.sync += out_valid.eq(1)
        with m.If(advance):
            m.d.sync += placed.eq(0)
            with m.If(beat.last):
                m.d.sync += flush.eq(1)
        # Flush: one open block per cycle, oldest first (open blocks are a prefix).
        ropen = _block_open(m, blks, C, D, "ropen")
        with m.If(flush):
            with m.If(~ropen[0]):
                m.d.sync += flush.eq(0)
            with m.Elif(out_free):
                emit_oldest()
                if W == 1:
                    m.d.sync += flush.eq(0)
                else:
                    with m.If(~ropen[1]):
                        m.d.sync += flush.eq(0)
        return m


def _block_open(m: Module, blocks, cols: int, degree: int, name: str):
    """Per block: whether any of its streams is valid (the block is open)."""
    out = Signal(len(blocks), name=name)
    m.d.comb += [out[w].eq(Cat(*[b.slots[c][d].valid for c in range(cols)
                                 for d in range(degree)]).any()) for w, b in enumerate(blocks)]
    return out


def _mod(v, n: int):
    """``v % n`` for a constant ``n`` (a bit slice when ``n`` is a power of two)."""
    if n & (n - 1) == 0:
        return v[:max(1, (n - 1).bit_length())] if n > 1 else Const(0, 1)
    return v % n


def _div(v, n: int):
    """``v // n`` for a constant ``n`` (a shift when ``n`` is a power of two)."""
    if n & (n - 1) == 0:
        return v >> (n.bit_length() - 1)
    return v // n


def _insert(m: Module, state, nxt, target, cv, ch, group, cols: int, degree: int, rows: int,
            res, streams):
    """Combinational: ``nxt`` = ``state`` with channel ``ch`` (conflict vector ``cv``) in the
    next free stream of the one-hot window slot ``target`` (with ``res``: the stream of the
    one-hot ``streams``); every block takes ``group``."""
    m.d.comb += [b.group.eq(group) for b in nxt]
    for s in range(len(target)):
        b, nb, c = state[s // cols], nxt[s // cols], s % cols
        with m.If(target[s]):
            # stream index: the number of valid streams (they fill in order); resident: the
            # channel's class
            for d in range(degree):
                nxt_free = ~b.slots[c][d].valid & (b.slots[c][d - 1].valid if d else 1)
                with m.If(Mux(res, streams[d], nxt_free)):
                    m.d.comb += [nb.slots[c][d].valid.eq(1), nb.slots[c][d].channel.eq(ch)]
                    for r in range(rows):
                        with m.If(cv[r]):
                            m.d.comb += nb.sel[r][c].eq(d + 1)


def _max_popcount(m: Module, beat, rem, rows: int, lanes: int):
    """One-hot of the lane of ``rem`` whose cv has the most set bits, the lowest on ties
    (lanes outside ``rem`` count as 0, below any nonzero cv)."""
    width = rows.bit_length()
    keys = []
    for i in range(lanes):
        k = Signal(width, name=f"pop{i}")
        m.d.comb += k.eq(Mux(rem[i], _bit_sum([beat.cv[i][r] for r in range(rows)], width), 0))
        keys.append(k)
    return _argmax(m, keys, "pick")


def _argmax(m: Module, keys, name: str):
    """One-hot of the largest of ``keys``, the lowest index on ties; 0 if every key is 0
    (a tree of pairwise comparisons)."""
    n = len(keys)
    pairs = [(k, Const(1 << i, n)) for i, k in enumerate(keys)]
    while len(pairs) > 1:
        nxt = []
        for j in range(0, len(pairs) - 1, 2):
            (ka, oa), (kb, ob) = pairs[j], pairs[j + 1]
            hi = kb > ka                      # the higher index wins only if strictly larger
            nxt.append((Mux(hi, kb, ka), Mux(hi, ob, oa)))
        if len(pairs) % 2:
            nxt.append(pairs[-1])
        pairs = nxt
    out = Signal(n, name=name)
    m.d.comb += out.eq(Mux(pairs[0][0] != 0, pairs[0][1], 0))
    return out


def _bit_sum(bits, width: int):
    """Sum of single bits (an adder tree), as a ``width``-bit value."""
    vals = list(bits)
    while len(vals) > 1:
        vals = [(vals[j] + vals[j + 1])[:width] if j + 1 < len(vals) else vals[j]
                for j in range(0, len(vals), 2)]
    return vals[0] if vals else Const(0, width)


def _or_all(values):
    acc = values[0]
    for v in values[1:]:
        acc = acc | v
    return acc
