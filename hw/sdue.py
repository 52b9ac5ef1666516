"""Sparse-Dense Unified Engine: ROWS x COLS DPUs, output stationary.

Dataflow (docs/dataflow.md): the SDUE executes a stream of blocks of one row group. For each
block it reads ``kc`` lane chunks: chunk ``k`` of the group's tokens from IMEM (bank ``r`` feeds
DPU row ``r``, address ``k``) and of the block's weights from WMEM (bank ``c`` feeds DPU column
``c`` with ``merge_degree`` streams, address ``wptr``, which advances by one per chunk and wraps
at the buffer depth, so block ``b`` of a run occupies WMEM words ``[b * kc, (b + 1) * kc)``).
Each DPU's conflict-vector switch field (``sel``) picks its stream or idles it.

When a block's last chunk has been accumulated the whole array's accumulators are captured,
with the block's ``sel`` and channel fields, into a shadow register that drains
``drain_ports`` columns per cycle into OMEM (bank ``r`` = DPU row ``r``, one write port per
drained column, address = the output's channel) through ``drain_ports`` requantizers per row,
while the next block computes. Block issue interval
``II = max(kc, cols / drain_ports, pipeline_depth)``; a run of ``n`` blocks is busy for
``(n - 1) * II + kc + pipeline_depth + cols / drain_ports`` cycles (``golden.cycle_model``).
A block of a different ``kc`` (the next command's) follows ``golden.cycle_model.command_gap``
cycles after the one before: a shorter one waits until the longer one's last chunk has been
captured and its drain has room.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CHANNEL_BITS, GROUP_BITS

from .dpu import Dpu, lane_vector
from .library import place

__all__ = ["Sdue", "block_layout", "requantizer", "TAG_WIDTH"]

#: Bits of the per-block tag the SDUE carries from a block's acceptance to its drain.
TAG_WIDTH = 8


def block_layout(cfg: ExionConfig) -> data.StructLayout:
    """A ConMerge vector (one block), bit for bit :func:`golden.schedule.pack_block`."""
    entry = data.StructLayout({"valid": 1, "channel": CHANNEL_BITS})
    return data.StructLayout({
        "group": GROUP_BITS,
        "slots": data.ArrayLayout(data.ArrayLayout(entry, cfg.merge_degree), cfg.cols),
        "sel": data.ArrayLayout(data.ArrayLayout(unsigned(cfg.sel_width), cfg.cols), cfg.rows),
    })


def requantizer(m, acc, shift, cfg: ExionConfig, name: str):
    """``golden.intsem.requantize``: round half up by ``shift`` bits, saturate to data width.

    Built shift first (the FPGA build's timing, docs/fpga.md): ``(acc + 2**(s-1)) >> s`` is
    ``t + r`` with ``t = acc >> s`` and ``r`` bit ``s - 1`` of ``acc`` (0 when ``s`` = 0),
    both from one shift of ``2 * acc``; the saturation tests the bits of ``t`` above the
    output's sign (reductions, not a compare after an adder), and the add is ``W`` bits.
    ``t < data_min`` gives ``t + r <= data_min``: ``data_min`` either way."""
    a, w = cfg.acc_width, cfg.data_width
    u = Signal(signed(a + 1), name=f"{name}_u")
    m.d.comb += u.eq(Cat(Const(0, 1), acc).as_signed() >> shift)
    t, r = u[1:], u[0]
    hi = t[w - 1:]                      # the bits from the output's sign up
    low = t[:w - 1]
    out = Signal(signed(w), name=name)
    over = (~t[-1] & hi.any()) | (~hi.any() & low.all() & r)
    under = t[-1] & ~hi.all()
    with m.If(over):
        m.d.comb += out.eq(cfg.data_max)
    with m.Elif(under):
        m.d.comb += out.eq(cfg.data_min)
    with m.Else():
        m.d.comb += out.eq(t[:w] + r)
    return out


class Sdue(wiring.Component):
    """The SDUE: a ROWS x COLS DPU array with conflict-vector, weight (and, degenerate,
    input) switches, a shadow drain into OMEM and a busy-cycle counter.

    ``i_sw`` is the identity in this dataflow: ConMerge merges along columns only, so every DPU
    row always takes its own IMEM bank (docs/dataflow.md says why).

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    blocks : In(stream.Signature(block_layout(cfg)))
        Blocks to execute, back to back.
    kc : In(16)
        Lane chunks per block, ``ceil(K / lanes)``; at least 1, at most the IMEM depth.
        Sampled with each block (like ``tag``), so that consecutive blocks of different
        commands may differ.
    shift : In(range(acc_width))
        Requantization shift of the block's outputs, sampled with each block.
    restart : In(1)
        Sampled with each block: its WMEM reads start at word 0 (the first block of a
        command; ``clear`` does the same between runs).
    imem_addr : Out ; imem_data : In(ArrayLayout(lane_vector, rows))
    wmem_addr : Out ; wmem_data : In(ArrayLayout(ArrayLayout(lane_vector, merge), cols))
        Synchronous read ports (data one cycle after the address).
    imem_next : Out(16) ; wmem_next : Out
        The chunk and WMEM pointer registers: ``imem_addr`` / ``wmem_addr`` in every cycle
        that accepts no block (so that the core can add its bases to them before it knows
        whether a block is accepted, hw/core_exec.py).
    issuing : Out(1)
        Chunks ``1 .. kc - 1`` of the accepted block are read in this cycle (a register; no
        block is accepted then): the core picks its read addresses with it rather than with
        the accept, whose handshake is then not a path into the memories' addresses.
    omem_en : Out(rows * drain_ports) ; omem_addr : Out ; omem_data : Out
        ``drain_ports`` writes per OMEM bank and cycle: entry ``r * drain_ports + j`` is row
        ``r``'s write of the ``j``-th column drained in this cycle.
    tag : In(TAG_WIDTH)
        Side information accepted with each block and presented with its outputs (the core
        passes the OMEM buffer and a last-block mark, so that one command's drain may overlap
        the next command's blocks).
    omem_tag : Out(TAG_WIDTH) ; drain_end : Out(1)
        The tag of the block draining now; ``drain_end`` marks its last drain cycle.
    clear : In(1)
        Reset the WMEM pointer and the cycle counter (the start of a run).
    busy : Out(1)
    flushing : Out(1)
        A read chunk's sum is still in flight or the shadow drains: ``busy`` without this
        cycle's reads, from registers only (the core's ``FFN_MASK`` hold, hw/core_exec.py).
    cycles : Out(32)
        Cycles the SDUE has been busy since ``clear``.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "sdue"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        lv = lane_vector(cfg)
        super().__init__({
            "blocks": In(stream.Signature(block_layout(cfg))),
            "kc": In(16),
            "shift": In(range(cfg.acc_width)),
            "restart": In(1),
            "imem_addr": Out(range(cfg.words("imem"))),
            "imem_data": In(data.ArrayLayout(lv, cfg.rows)),
            "wmem_addr": Out(range(cfg.words("wmem"))),
            "imem_next": Out(16), "wmem_next": Out(range(cfg.words("wmem"))),
            "issuing": Out(1),
            "wmem_data": In(data.ArrayLayout(data.ArrayLayout(lv, cfg.merge_degree), cfg.cols)),
            "omem_en": Out(cfg.rows * cfg.drain_ports),
            "omem_addr": Out(data.ArrayLayout(range(cfg.words("omem")),
                                              cfg.rows * cfg.drain_ports)),
            "omem_data": Out(data.ArrayLayout(signed(cfg.data_width),
                                              cfg.rows * cfg.drain_ports)),
            "tag": In(TAG_WIDTH),
            "omem_tag": Out(TAG_WIDTH),
            "drain_end": Out(1),
            "clear": In(1),
            "busy": Out(1),
            "flushing": Out(1),
            "cycles": Out(32),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        R, C, D, P = cfg.rows, cfg.cols, cfg.merge_degree, cfg.pipeline_depth
        DP, T = cfg.drain_ports, cfg.drain_cycles   # columns drained per cycle, drain cycles
        wdepth = cfg.words("wmem")
        m = Module()
        blk = self.blocks.payload

        # -- issue: accept a block every II cycles, read its kc chunks -------------------
        ii = Signal(17)
        m.d.comb += ii.eq(Mux(self.kc < max(T, P), max(T, P), self.kc))
        wait = Signal(17)       # cycles until the next block may be accepted
        k = Signal(16)          # next chunk of the current block
        issuing = Signal()      # chunks 1..kc-1 of the current block still to read
        accept = Signal()
        m.d.comb += accept.eq(self.blocks.valid & self.blocks.ready)
        cur_kc = Signal(16)     # kc of the block being read (sampled at its acceptance)
        kc = Signal(16)
        m.d.comb += kc.eq(Mux(accept, self.kc, cur_kc))
        with m.If(accept):
            m.d.sync += cur_kc.eq(self.kc)
        # A block's switch fields and tag are kept from its last chunk read to its capture,
        # P cycles later, and its capture must not overwrite the shadow register while the
        # block before drains (T cycles): the next block's last chunk read must come at least
        # max(P, T) cycles after this one's. Blocks of one kc issue II >= max(P, T) apart; a
        # block of fewer chunks behind a longer one (the next GEMM command) waits until
        # ``kc > settle`` (golden.cycle_model.command_gap; ``settle`` 0: no wait, whatever
        # ``kc`` holds while no block is offered).
        # ``wait == 0`` is kept in a register of its own (``idle_ii``), so that the ready (and
        # the accept it fans out to, docs/fpga.md) does not wait for a 17-bit zero test
        settle = Signal(range(max(T, P)))
        idle_ii = Signal(init=1)
        m.d.comb += self.blocks.ready.eq(idle_ii & ~issuing
                                         & ((settle == 0) | (self.kc > settle)))
        with m.If(wait != 0):
            m.d.sync += [wait.eq(wait - 1), idle_ii.eq(wait == 1)]

        rd_valid = Signal()
        rd_first = Signal()
        rd_last = Signal()
        chunk = Signal(16)
        m.d.comb += [
            rd_valid.eq(accept | issuing),
            rd_first.eq(accept),
            chunk.eq(Mux(accept, 0, k)),
            rd_last.eq(rd_valid & (chunk == kc - 1)),
        ]
        with m.If(accept):
            m.d.sync += [wait.eq(ii - 1), idle_ii.eq(ii == 1), k.eq(1),
                         issuing.eq(self.kc > 1)]
        with m.Elif(issuing):
            m.d.sync += [k.eq(k + 1), issuing.eq(k + 1 < kc)]
        with m.If(rd_last):
            m.d.sync += settle.eq(max(T, P) - 1)
        with m.Elif(settle != 0):
            m.d.sync += settle.eq(settle - 1)

        wptr = Signal(range(wdepth))
        waddr = Signal(range(wdepth))
        m.d.comb += waddr.eq(Mux(accept & self.restart, 0, wptr))
        with m.If(self.clear):
            m.d.sync += wptr.eq(0)
        with m.Elif(rd_valid):
            m.d.sync += wptr.eq(Mux(waddr == wdepth - 1, 0, waddr + 1))
        m.d.comb += [self.imem_addr.eq(chunk), self.wmem_addr.eq(waddr),
                     self.imem_next.eq(k), self.wmem_next.eq(wptr),
                     self.issuing.eq(issuing)]

        # Switch fields of the block being read (valid from the cycle its data arrives) and
        # of the block whose last chunk was read (kept until its capture; II >= P, which is
        # why pipeline_depth bounds II when the drain is shorter).
        cur_sel = Signal.like(blk.sel)
        cur_slots = Signal.like(blk.slots)
        last_sel = Signal.like(blk.sel)
        last_slots = Signal.like(blk.slots)
        cur_tag = Signal(TAG_WIDTH)
        last_tag = Signal(TAG_WIDTH)
        cur_shift = Signal.like(self.shift)
        last_shift = Signal.like(self.shift)
        with m.If(accept):
            m.d.sync += [cur_sel.eq(blk.sel), cur_slots.eq(blk.slots), cur_tag.eq(self.tag),
                         cur_shift.eq(self.shift)]
        with m.If(rd_last):
            m.d.sync += [last_sel.eq(Mux(accept, blk.sel, cur_sel)),
                         last_slots.eq(Mux(accept, blk.slots, cur_slots)),
                         last_tag.eq(Mux(accept, self.tag, cur_tag)),
                         last_shift.eq(Mux(accept, self.shift, cur_shift))]

        # -- the array ------------------------------------------------------------------
        d1_valid = Signal()
        d1_first = Signal()
        m.d.sync += [d1_valid.eq(rd_valid), d1_first.eq(rd_first)]
        dpus = [[None] * C for _ in range(R)]
        for r in range(R):
            for c in range(C):
                dpu = Dpu(cfg)
                place(m, f"dpu_{r}_{c}", dpu, platform, Dpu.module_name(cfg))
                m.d.comb += [
                    dpu.a.eq(self.imem_data[r]),
                    dpu.w.eq(self.wmem_data[c]),
                    dpu.sel.eq(cur_sel[r][c]),
                    dpu.valid.eq(d1_valid),
                    dpu.first.eq(d1_first),
                ]
                dpus[r][c] = dpu

        # The last chunk's sum is in the accumulators P cycles after its read.
        capture = rd_last
        for i in range(P):
            nxt = Signal(name=f"cap_d{i + 1}")
            m.d.sync += nxt.eq(capture)
            capture = nxt

        # -- shadow drain: columns 0..DP-1 go to OMEM each cycle, the rest shift down -----
        # One packed register per row (and one for the channel fields), shifted by DP
        # columns per drain cycle, so that the shadow costs a few flip-flop processes only.
        A, SW = cfg.acc_width, cfg.sel_width
        sh_acc = [Signal(C * A, name=f"sh_acc_{r}") for r in range(R)]
        sh_sel = [Signal(C * SW, name=f"sh_sel_{r}") for r in range(R)]
        sh_ch = Signal(C * D * CHANNEL_BITS, name="sh_ch")
        drain = Signal(range(T + 1))  # drain cycles left
        dr_shift = Signal.like(self.shift)
        with m.If(capture):
            m.d.sync += [drain.eq(T), self.omem_tag.eq(last_tag), dr_shift.eq(last_shift)]
            for r in range(R):
                m.d.sync += [sh_acc[r].eq(Cat(*(dpus[r][c].acc for c in range(C)))),
                             sh_sel[r].eq(last_sel[r])]
            m.d.sync += sh_ch.eq(Cat(*(last_slots[c][d].channel
                                       for c in range(C) for d in range(D))))
        with m.Elif(drain != 0):
            m.d.sync += drain.eq(drain - 1)
            for r in range(R):
                m.d.sync += [sh_acc[r].eq(sh_acc[r] >> (DP * A)),
                             sh_sel[r].eq(sh_sel[r] >> (DP * SW))]
            m.d.sync += sh_ch.eq(sh_ch >> (DP * D * CHANNEL_BITS))

        draining = Signal()
        m.d.comb += [draining.eq(drain != 0), self.drain_end.eq(drain == 1)]
        # The OMEM write of a drain cycle is registered: the cycle before, the requantizers
        # and the channel pick read the shadow's next state (the capture's accumulators, the
        # shadow shifted by DP columns, or held), so the writes keep their cycles and the
        # requantizer's carry chains are not on the path into the OMEM banks (docs/fpga.md).
        n_drain = Signal.like(drain)
        n_shift = Signal.like(dr_shift)
        m.d.comb += [n_drain.eq(Mux(capture, T, Mux(drain != 0, drain - 1, 0))),
                     n_shift.eq(Mux(capture, last_shift, dr_shift))]
        CB = D * CHANNEL_BITS       # channel fields of one column
        n_ch = Signal(DP * CB, name="n_ch")
        nxt_ch = (sh_ch >> (DP * CB))[:DP * CB] if C > DP else Const(0, DP * CB)
        m.d.comb += n_ch.eq(Mux(capture, Cat(*(last_slots[c][d].channel
                                               for c in range(DP) for d in range(D))),
                                Mux(drain != 0, nxt_ch, sh_ch[:DP * CB])))
        for r in range(R):
            n_acc = Signal(DP * A, name=f"n_acc_{r}")
            n_sel = Signal(DP * SW, name=f"n_sel_{r}")
            nxt_acc = (sh_acc[r] >> (DP * A))[:DP * A] if C > DP else Const(0, DP * A)
            nxt_sel = (sh_sel[r] >> (DP * SW))[:DP * SW] if C > DP else Const(0, DP * SW)
            m.d.comb += [
                n_acc.eq(Mux(capture, Cat(*(dpus[r][c].acc for c in range(DP))),
                             Mux(drain != 0, nxt_acc, sh_acc[r][:DP * A]))),
                n_sel.eq(Mux(capture, Cat(*(last_sel[r][c] for c in range(DP))),
                             Mux(drain != 0, nxt_sel, sh_sel[r][:DP * SW]))),
            ]
            for j in range(DP):
                # Port j of row r: column j of the shadow (column i * DP + j of the block).
                p = r * DP + j
                sfx = f"{r}" if DP == 1 else f"{r}_{j}"
                q = requantizer(m, n_acc[j * A:(j + 1) * A].as_signed(), n_shift, cfg,
                                f"q{sfx}")
                sel0 = n_sel[j * SW:(j + 1) * SW]
                ch = Signal(CHANNEL_BITS, name=f"ch{sfx}")
                with m.Switch(sel0):
                    for d in range(D):
                        with m.Case(d + 1):
                            lo = (j * D + d) * CHANNEL_BITS
                            m.d.comb += ch.eq(n_ch[lo:lo + CHANNEL_BITS])
                m.d.sync += [
                    self.omem_en[p].eq((n_drain != 0) & (sel0 != 0)),
                    self.omem_addr[p].eq(ch),
                    self.omem_data[p].eq(q),
                ]

        # -- busy and the cycle counter ------------------------------------------------------
        in_flight = Signal(P)  # read pipeline occupancy, one bit per cycle of latency
        m.d.sync += in_flight.eq(Cat(rd_valid, in_flight)[:P])
        m.d.comb += [self.flushing.eq((in_flight != 0) | draining),
                     self.busy.eq(rd_valid | self.flushing)]
        with m.If(self.clear):
            m.d.sync += self.cycles.eq(0)
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        return m

