"""The execute engine: ``GEMM`` commands on the SDUE (``hw/sdue.py``).

Contract: a ``GEMM`` command (:mod:`hw.core_cmd`) is taken when ``cmd.ready``. Its blocks come
from the shared sequencer (``hw/sequencer.py``): dense, block ``b`` of ``ceil(n_ch / cols)``
is generated on the fly (channels ``ch_base + b * cols ..``, rows ``< n_rows``, WMEM words
``wbase + b * kc ..``, stream 0); ``SPARSE``, the ``blocks`` ConMerge vectors of SMEM from
the first vector of the command's ``half`` (``exion.regmap.smem_half``; ``blocks`` is the
count of that part). Each block travels with its command's context (buffers, ``wbase``,
``ibase``, ``kc``, ``shift``, first / last marks) from its fetch through the SDUE to its drain,
so one command's drain overlaps the next command's blocks. Its tokens are read from IMEM
buffer ``ibuf``, words ``ibase + k`` for chunk ``k < kc`` (row groups side by side in one
buffer, each at its own ``ibase``); outputs are written to OMEM buffer ``obuf`` at the
output's channel. With ``FFN_MASK`` each drained column also writes its keep-mask entry
(``golden.ffn_reuse.keep_mask_int``; ``drain_ports`` entries of one mask word per cycle, one
cycle after their drain), and the command holds the engine until its drain ends (the
thresholds are its own).

With ``SPARSE | RESIDENT`` the weights are read in place from the resident layout
(``golden.sdue.block_weights``): stream ``d`` of bank ``c`` reads words ``wbase +
(slots[c, d].channel // (cols * merge_degree)) * kc ..`` (its own WMEM read address,
``wmem_addr`` entry ``c * merge_degree + d``) where the slot is valid and names a channel below
the command's ``n_ch`` (the window); a ``sel`` naming any other stream is cleared (the DPU
idles, nothing is written). The class is a shift when ``cols * merge_degree`` is a power of
two, else a multiplication by a constant reciprocal (:func:`channel_class`); the offset
``class * kc`` one small multiplier per stream, all formed from the SMEM word in the cycle its
data arrives and registered: a block is accepted no earlier than the second cycle after its
fetch (only a run's first block waits for it; blocks issue ``II >= 2`` apart).

A command is done when its last block has drained: ``done`` counts it, ``cycles`` /
``cycles_we`` give its cycles from its first block's acceptance to its last drain cycle
(``golden.cycle_model.compute_cycles``; 0 for a sparse GEMM of no blocks, done once the
commands before it have drained, so that commands finish in program order).

Hazard outputs for the dispatcher: ``reads_i`` / ``reads_w`` (buffers whose chunks are still
to be read), ``writes_o`` (OMEM buffers with outputs still to be written), ``smem_reads``
(SMEM halves a sparse command's blocks are still fetched from: bit 0 lower, bit 1 upper, both
for half 0) and ``mask_busy`` (the mask-memory halves an ``FFN_MASK`` command writes, from its
take to its last keep-mask write: ``mhalf`` 1 / 2 one half, 0 both): a split ``SCHEDULE`` may
run beside the engine when neither concerns it. With ``mhalf`` 2 the keep-mask entries go to
the upper half of the mask memory (``exion.regmap.mask_half``: word ``mask_words // 2`` on).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from exion.regmap import smem_half

from .core_cmd import command_fields, command_flag, command_stream
from .sdue import Sdue, block_layout
from .sequencer import Sequencer

__all__ = ["ExecEngine", "channel_class"]


def channel_class(ch, cd: int, width: int):
    """``ch // cd`` for an unsigned ``ch`` of ``width`` bits: a shift when ``cd`` is a power of
    two, else ``(ch * M) >> s`` with ``M = ceil(2**s / cd)``, ``s = width + bits(cd)``: a
    constant multiplier, exact for every ``ch < 2**width`` since the error ``e = M * cd -
    2**s < cd`` keeps ``e * 2**width <= 2**s`` (checked)."""
    if cd & (cd - 1) == 0:
        return ch >> (cd.bit_length() - 1)
    s = width + cd.bit_length()
    mul = -(-(1 << s) // cd)
    # exact when mul * cd - 2**s <= 2**s / 2**width (the error stays below one step)
    if (mul * cd - (1 << s)) << width > 1 << s:
        raise ValueError(f"no exact reciprocal of cd = {cd} for {width}-bit channels")
    return (ch * mul) >> s


class ExecEngine(wiring.Component):
    """The SDUE with its block source.

    Parameters
    ----------
    cfg : ExionConfig
    mask_words : int
        Words of the mask memory.

    Members
    -------
    cmd : In(command_stream())
    blocks : In(range(schedule_depth + 1))
        The block count of the SMEM part the command's ``half`` names (``BLOCKS``,
        ``BLOCKS_H1`` or ``BLOCKS_H2``).
    smem_addr : Out(range(schedule_depth)) ; smem_en : Out(1) ; smem_data : In(block_layout)
    imem_addr, wmem_addr : Out ; imem_data, wmem_data : In
        IMEM / WMEM read ports (full addresses, buffer included; data one cycle later);
        ``wmem_addr`` one address per WMEM bank and stream (entry ``c * merge_degree + d``),
        all equal unless a ``RESIDENT`` block is read.
    omem_en : Out(rows * drain_ports) ; omem_addr, omem_data : Out(ArrayLayout)
        OMEM writes, entry ``r * drain_ports + j`` = port ``j`` of bank ``r``.
    mask_we : Out(1) ; mask_addr : Out(range(mask_words)) ; mask_data : Out(CAU_BEAT * rows) ;
    mask_en : Out(CAU_BEAT)
        ``FFN_MASK`` keep-mask writes (``mask_en``: which channels of the word).
    cycles : Out(32) ; cycles_we : Out(1) ; done : Out(2)
        CYCLES of a finished command; commands finished this cycle.
    reads_i, reads_w, writes_o : Out(buffers)
    smem_reads : Out(2) ; mask_busy : Out(2)
        SMEM halves still read; mask-memory halves still written (``FFN_MASK``).
    idle : Out(1)
        No block of any command left to fetch or read (SCHEDULE and PREDICT may start).
    busy : Out(1)
        A command is not done.
    busy_cycles : Out(32)
        Cycles the SDUE was busy since reset (``BUSY_CYCLES``).
    """

    def __init__(self, cfg: ExionConfig, *, mask_words: int):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        if not isinstance(mask_words, int) or mask_words < 1:
            raise ValueError(f"mask_words = {mask_words!r} must be an integer >= 1")
        self._cfg, self._mw = cfg, mask_words
        L, W, R, DP = cfg.lanes, cfg.data_width, cfg.rows, cfg.drain_ports
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        Do = cfg.words("omem")
        super().__init__({
            "cmd": In(command_stream()),
            "blocks": In(range(cfg.schedule_depth + 1)),
            "smem_addr": Out(range(cfg.schedule_depth)), "smem_en": Out(1),
            "smem_data": In(block_layout(cfg)),
            "imem_addr": Out(range(Bi * cfg.words("imem"))), "imem_data": In(R * L * W),
            "wmem_addr": Out(data.ArrayLayout(range(Bw * cfg.words("wmem")),
                                              cfg.cols * cfg.merge_degree)),
            "wmem_data": In(cfg.cols * cfg.merge_degree * L * W),
            "omem_en": Out(R * DP),
            "omem_addr": Out(data.ArrayLayout(range(Bo * Do), R * DP)),
            "omem_data": Out(data.ArrayLayout(signed(W), R * DP)),
            "mask_we": Out(1), "mask_addr": Out(range(mask_words)),
            "mask_data": Out(CAU_BEAT * R), "mask_en": Out(CAU_BEAT),
            "cycles": Out(32), "cycles_we": Out(1), "done": Out(2),
            "reads_i": Out(Bi), "reads_w": Out(Bw), "writes_o": Out(Bo),
            "idle": Out(1), "busy": Out(1), "busy_cycles": Out(32),
            "smem_reads": Out(2), "mask_busy": Out(2),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        R, C, DP = cfg.rows, cfg.cols, cfg.drain_ports
        Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        m = Module()
        m.submodules.sdue = sdue = Sdue(cfg)
        m.submodules.seq = seq = Sequencer(addr_width=16, count_width=17)
        f = command_fields(self.cmd.payload)

        # -- the front: the command whose blocks are being fetched ----------------------------
        active = Signal()
        start = Signal()            # the cycle after the command was taken
        first = Signal()            # its first block not yet fetched
        empty = Signal()            # a command of no blocks
        c_ibuf, c_wbuf, c_obuf = Signal(4), Signal(4), Signal(4)
        c_kc, c_wbase = Signal(16), Signal(16)
        c_ibase = Signal(range(Di))     # ibase + kc <= IMEM words (checked at issue), kc >= 1
        c_shift = Signal(range(cfg.acc_width))
        c_rows = Signal(8)
        c_sparse, c_ffn, c_res = Signal(), Signal(), Signal()
        c_nch = Signal(16)
        c_half, c_mhalf = Signal(2), Signal(2)
        th_hi, th_lo = Signal(signed(32)), Signal(signed(32))
        dense_ch = Signal(16)
        dense_rem = Signal(17)
        take = Signal()
        n_blk = Signal(17)
        sparse_f = command_flag(self.cmd.payload, "SPARSE")
        m.d.comb += [take.eq(self.cmd.valid & self.cmd.ready),
                     n_blk.eq(Mux(sparse_f, self.blocks, (f["n_ch"] + (C - 1)) // C))]
        m.d.sync += start.eq(take)
        front_done = Signal()       # (below) every block of the command fetched
        ffn = Signal()              # (below) a keep-mask write pending
        ffn_mh = Signal(2)          # its mask half (the command holds the engine until then)
        with m.If(front_done):      # before the take: a command taken in that cycle stays
            m.d.sync += active.eq(0)
        with m.If(take):
            m.d.sync += [active.eq(1), first.eq(1)]
        # the command's context, loaded in every cycle a command could be taken (so in the
        # take's): its enable is the engine's own ready, not the dispatcher's valid with its
        # hazards (the FPGA build's timing, docs/fpga.md); none of these is read while the
        # engine is not active, and a take would replace them in that cycle as well
        with m.If(self.cmd.ready):
            m.d.sync += [empty.eq(n_blk == 0),
                         c_ibuf.eq(f["ibuf"]), c_wbuf.eq(f["wbuf"]), c_obuf.eq(f["obuf"]),
                         c_kc.eq(f["kc"]), c_wbase.eq(f["wbase"]), c_ibase.eq(f["ibase"]),
                         c_shift.eq(f["shift"]),
                         c_rows.eq(f["n_rows"]), c_sparse.eq(sparse_f), c_half.eq(f["half"]),
                         c_mhalf.eq(f["mhalf"]),
                         c_ffn.eq(command_flag(self.cmd.payload, "FFN_MASK")),
                         c_res.eq(sparse_f & command_flag(self.cmd.payload, "RESIDENT")),
                         c_nch.eq(f["n_ch"]),
                         th_hi.eq(f["th_hi"]), th_lo.eq(f["th_lo"]),
                         dense_ch.eq(f["ch_base"]), dense_rem.eq(f["n_ch"])]
        upper = smem_half(cfg.schedule_depth, 2)[0]
        m.d.comb += [seq.start.eq(take), seq.base.eq(Mux(sparse_f & (f["half"] == 2), upper, 0)),
                     seq.count.eq(n_blk),
                     self.smem_addr.eq(seq.f_addr), self.smem_en.eq(seq.r_en)]

        # -- the fetched block and its command's context (the sequencer's prefetch) ----------
        dense_blk = Signal(block_layout(cfg))
        b_ibuf, b_wbuf, b_obuf = Signal(4), Signal(4), Signal(4)
        b_kc, b_wbase = Signal(16), Signal(16)
        b_ibase = Signal.like(c_ibase)
        b_shift = Signal(range(cfg.acc_width))
        b_sparse, b_ffn, b_first, b_res = Signal(), Signal(), Signal(), Signal()
        b_half = Signal(2)
        b_nch = Signal(16)
        fetch = seq.r_en
        with m.If(fetch):
            m.d.sync += [first.eq(0), b_ibuf.eq(c_ibuf), b_wbuf.eq(c_wbuf), b_obuf.eq(c_obuf),
                         b_kc.eq(c_kc), b_wbase.eq(c_wbase), b_ibase.eq(c_ibase),
                         b_shift.eq(c_shift),
                         b_sparse.eq(c_sparse), b_ffn.eq(c_ffn), b_first.eq(first),
                         b_half.eq(c_half), b_res.eq(c_res), b_nch.eq(c_nch),
                         dense_ch.eq(dense_ch + C),
                         dense_rem.eq(Mux(dense_rem > C, dense_rem - C, 0))]
            for c in range(C):
                on = dense_rem > c
                m.d.sync += [dense_blk.slots[c][0].valid.eq(on),
                             dense_blk.slots[c][0].channel.eq(dense_ch + c)]
                for r in range(R):
                    m.d.sync += dense_blk.sel[r][c].eq(on & (c_rows > r))
        # RESIDENT: the streams in the window (valid, channel < n_ch) and their word offsets
        # class * kc; a sel naming another stream is cleared, so its DPU idles
        D = cfg.merge_degree
        aw = (Dw - 1).bit_length() or 1
        kw = Di.bit_length()
        sp_blk = Signal(block_layout(cfg))
        res_ok = Signal(C * D)
        res_off = Signal(data.ArrayLayout(aw, C * D))
        m.d.comb += sp_blk.eq(self.smem_data)
        # The SMEM word (block RAM, its data a cycle after the fetch) is registered with the
        # RESIDENT offsets computed from it, and a block is accepted no earlier than the cycle
        # after its data arrived (``fresh``): the SMEM read, the class product and the WMEM
        # address are not one path (docs/fpga.md). Blocks issue II >= 2 cycles apart and the
        # next block is fetched as one is accepted, so only a run's first block waits the cycle
        # (CYCLES and BUSY_CYCLES count from its acceptance; docs/core.md, timing).
        fresh = Signal()
        m.d.sync += fresh.eq(fetch)
        sp_reg = Signal(block_layout(cfg))
        off_reg = Signal.like(res_off)
        with m.If(fresh):
            m.d.sync += [sp_reg.eq(sp_blk), off_reg.eq(res_off)]
        for c in range(C):
            for d in range(D):
                slot = self.smem_data.slots[c][d]
                cls = channel_class(slot.channel, C * D, len(slot.channel))
                m.d.comb += [
                    res_ok[c * D + d].eq(b_res & slot.valid & (slot.channel < b_nch)),
                    res_off[c * D + d].eq(Mux(res_ok[c * D + d], cls[:aw] * b_kc[:kw], 0)),
                ]
            for r in range(R):
                sel = self.smem_data.sel[r][c]
                on = Cat(*(res_ok[c * D + d] & (sel == d + 1) for d in range(D))).any()
                m.d.comb += sp_blk.sel[r][c].eq(Mux(b_res & ~on, 0, sel))
        accept = Signal()
        m.d.comb += [
            sdue.blocks.payload.eq(Mux(b_sparse, sp_reg, dense_blk)),
            sdue.blocks.valid.eq(seq.o_valid & ~fresh),
            seq.o_ready.eq(sdue.blocks.ready & ~fresh),
            accept.eq(seq.o_valid & ~fresh & sdue.blocks.ready),
            sdue.kc.eq(b_kc), sdue.shift.eq(b_shift), sdue.restart.eq(b_first),
            sdue.tag.eq(Cat(b_obuf, seq.o_last, b_ffn)),
        ]

        # -- chunk reads: the context of the block being read ---------------------------------
        i_ibuf, i_wbuf = Signal(4), Signal(4)
        i_wbase, i_ibase = Signal(16), Signal.like(c_ibase)
        i_res = Signal()
        i_off = Signal.like(res_off)
        with m.If(accept):
            m.d.sync += [i_ibuf.eq(b_ibuf), i_wbuf.eq(b_wbuf), i_wbase.eq(b_wbase),
                         i_ibase.eq(b_ibase),
                         i_res.eq(b_res), i_off.eq(off_reg)]
        # RESIDENT: chunk k (the IMEM address) of each stream's own class; else the SDUE's
        # pointer (block b of the run at words b * kc ..). Each address is summed for both
        # cases, chunk 0 of the block offered (the pointer or 0 with restart) and the next
        # chunks of the block being read (the SDUE's chunk and pointer registers), and the
        # SDUE's ``issuing`` register picks one: a block is accepted only while it is clear,
        # and a cycle that reads nothing may read anything, so the accept handshake is not a
        # path into the banks (docs/fpga.md)
        for i in range(C * D):
            m.d.comb += self.wmem_addr[i].eq(Mux(
                sdue.issuing,
                i_wbuf * Dw + i_wbase + Mux(i_res, i_off[i] + sdue.imem_next,
                                            sdue.wmem_next),
                b_wbuf * Dw + b_wbase + Mux(b_res, off_reg[i],
                                            Mux(b_first, 0, sdue.wmem_next))))
        # the token tile at words ibase .. ibase + kc of ibuf (ibase + kc <= IMEM words is
        # checked at issue, so the sum stays inside the buffer)
        m.d.comb += [self.imem_addr.eq(Mux(sdue.issuing, i_ibuf * Di + i_ibase + sdue.imem_next,
                                           b_ibuf * Di + b_ibase)),
                     sdue.imem_data.eq(self.imem_data), sdue.wmem_data.eq(self.wmem_data)]
        reading = ~sdue.blocks.ready            # chunks of the accepted block still to read

        # -- the front is done once every block is fetched: the next command is taken then, so
        # its first block is fetched the cycle the last one of this command is accepted and
        # the SDUE never idles between commands (golden.cycle_model.gemm_sequence_cycles; a
        # block of fewer chunks waits in the SDUE for the longer one's capture, command_gap).
        # FFN_MASK: only when its blocks have drained too (the thresholds are its own). A
        # command of no blocks (a sparse GEMM while BLOCKS = 0) only when the commands before
        # it have drained, so that it is done, and writes CYCLES, after them: in program order
        # (golden.cycle_model.gemm_sequence_cycles: the run restarts after it).
        # (FFN_MASK: the SDUE's reads count through seq.busy, which holds while a block is
        # offered, and ~ready while its chunks are read, so the accept handshake is not a path
        # into the engine's ready: sdue.flushing, not sdue.busy)
        older = Signal()            # a command taken before has outputs to drain
        m.d.comb += front_done.eq(active & ~start & ~seq.fetching
                                  & ~(c_ffn & (seq.busy | ~sdue.blocks.ready | sdue.flushing))
                                  & ~(empty & older))
        m.d.comb += [self.cmd.ready.eq(~active | front_done),
                     self.idle.eq(~active & ~seq.busy & sdue.blocks.ready & ~ffn),
                     self.busy_cycles.eq(sdue.cycles)]

        # -- drain: OMEM writes, per-command completion, CYCLES -------------------------------
        tag_obuf = sdue.omem_tag[0:4]
        g_end = Signal()            # the last block of a command finished draining
        m.d.comb += g_end.eq(sdue.drain_end & sdue.omem_tag[4])
        for p in range(R * DP):
            m.d.comb += [self.omem_en[p].eq(sdue.omem_en[p]),
                         self.omem_addr[p].eq(tag_obuf * Do + sdue.omem_addr[p]),
                         self.omem_data[p].eq(sdue.omem_data[p])]
        # GEMM outputs not yet drained, per OMEM buffer: from the first block's fetch to the
        # last block's last drain cycle
        drains = [Signal(range(8), name=f"drains{b}") for b in range(Bo)]
        for b in range(Bo):
            inc = fetch & first & (c_obuf == b)
            dec = g_end & (tag_obuf == b)
            m.d.sync += drains[b].eq(drains[b] + inc - dec)
            m.d.comb += self.writes_o[b].eq((active & (c_obuf == b)) | (drains[b] != 0))
        for b in range(Bi):
            m.d.comb += self.reads_i[b].eq((active & (c_ibuf == b)) | (seq.o_valid & (b_ibuf == b))
                                           | (reading & (i_ibuf == b)))
        for b in range(Bw):
            m.d.comb += self.reads_w[b].eq((active & (c_wbuf == b)) | (seq.o_valid & (b_wbuf == b))
                                           | (reading & (i_wbuf == b)))
        # SMEM halves: from the take to the last block's acceptance (its data is the read
        # port's, which the SDUE samples then); half 0 reads both
        def halves(h):
            return Mux(h == 0, 3, h)
        m.d.comb += [self.smem_reads.eq(Mux(active & c_sparse, halves(c_half), 0)
                                        | Mux(seq.o_valid & b_sparse, halves(b_half), 0)),
                     self.mask_busy.eq(Mux(active & c_ffn, halves(c_mhalf), 0)
                                       | Mux(ffn, halves(ffn_mh), 0))]
        m.d.comb += [older.eq(Cat(*(d != 0 for d in drains)).any()),
                     self.busy.eq(active | older | ffn)]

        # CYCLES of a GEMM: from its first block's acceptance to its last block's last drain
        # cycle, measured with a timestamp per command in flight
        now = Signal(32)
        m.d.sync += now.eq(now + 1)
        m.submodules.starts = starts = SyncFIFOBuffered(width=32, depth=4)
        m.d.comb += [starts.w_data.eq(now), starts.w_en.eq(accept & b_first),
                     starts.r_en.eq(g_end)]
        none = Signal()
        m.d.comb += none.eq(front_done & empty)
        m.d.comb += [self.cycles.eq(Mux(g_end, now - starts.r_data + 1, 0)),
                     self.cycles_we.eq(g_end | none), self.done.eq(g_end + none)]

        # FFN-Reuse keep-mask on the way into OMEM (dense blocks: a drained column's rows all
        # write the same channel, so one mask entry per drained column; with drain_ports DP
        # the DP channels of a drain cycle are consecutive and, ch_base being a multiple of
        # DP for FFN_MASK, lie in one mask word: entries ffn_ch + j, j < DP)
        # The drained outputs are registered first and compared a cycle later, so the drain's
        # requantizer and the compare are not one path (docs/fpga.md, timing); the engine stays
        # busy (not idle) while that last mask write is pending.
        ffn_en = Signal(R * DP)
        ffn_v = [Signal.like(sdue.omem_data[p], name=f"ffn_v{p}") for p in range(R * DP)]
        ffn_ch = Signal.like(sdue.omem_addr[0])
        # the thresholds travel with the outputs: the next command may be taken in the cycle
        # of this one's last drain and replace th_hi / th_lo before the compare
        ffn_hi, ffn_lo = Signal.like(th_hi), Signal.like(th_lo)
        m.d.sync += [ffn.eq(sdue.omem_tag[5] & sdue.omem_en[0]), ffn_mh.eq(c_mhalf),
                     ffn_en.eq(Cat(*(sdue.omem_en[p] for p in range(R * DP)))),
                     ffn_ch.eq(sdue.omem_addr[0]), ffn_hi.eq(th_hi), ffn_lo.eq(th_lo)]
        m.d.sync += [ffn_v[p].eq(sdue.omem_data[p]) for p in range(R * DP)]
        ffn_lanes = Signal(DP)
        ffn_cv = [Signal(R, name=f"ffn_cv{j}") for j in range(DP)]
        for j in range(DP):
            m.d.comb += ffn_lanes[j].eq(ffn & ffn_en[j])
            for r in range(R):
                v = ffn_v[r * DP + j]
                m.d.comb += ffn_cv[j][r].eq(ffn_en[r * DP + j] & ((v > ffn_hi) | (v < ffn_lo)))
        m.d.comb += [self.mask_we.eq(ffn),
                     self.mask_addr.eq(ffn_ch // CAU_BEAT
                                       + Mux(ffn_mh == 2, self._mw // 2, 0)),
                     self.mask_data.eq(Cat(*ffn_cv).replicate(CAU_BEAT // DP)),
                     self.mask_en.eq(ffn_lanes << (ffn_ch % CAU_BEAT))]
        return m
