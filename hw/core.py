"""The EXION core: host interface, command queue, three engines and the datapath.

::

    AXI4-Lite ──> registers ──> check ──> queue ──> dispatch ─┬─> load engines (s_axis_imem -> IMEM,
                                                             │                s_axis_wmem -> WMEM)
                                                             ├─> exec engine  (GEMM, SCHEDULE, PREDICT)
                                                             └─> read engine  (OMEM -> m_axis)

The command set, register map and cause codes are :mod:`exion.regmap` (docs/core.md). Buffers
are addressed absolutely (``ibuf``, ``wbuf``, ``obuf``), and the dispatcher holds a command
back while another engine uses the buffer it would touch, so the host overlaps loads and reads
with computation simply by issuing them in program order.

Execute engine:

* ``GEMM``: the SDUE (``hw/sdue.py``) runs dense blocks generated on the fly (channels
  ``ch_base ..``, WMEM words ``wbase + b * kc``) or, with ``SPARSE``, the SMEM schedule; with
  ``FFN_MASK`` each drained output column also writes its FFN-Reuse keep-mask entry
  (``golden.ffn_reuse.keep_mask_int``) into the mask memory (``drain_ports`` entries of one
  mask word per drain cycle; ``ch_base`` must then be a multiple of ``drain_ports``).
* ``SCHEDULE``: the mask memory's channels ``[0, n_ch)`` stream through the CAU
  (``hw/cau.py``); its ConMerge vectors fill SMEM.
* ``PREDICT``: one shift-add predictor (``hw/predictor.py``) and one selector
  (``hw/selector.py``) per query row score every key (IMEM: the group's predicted queries;
  WMEM: predicted keys, key ``j`` in bank ``j % cols`` at ``wbase + (j // cols) * kc``) and
  write the keep-mask, transposed to per-key conflict vectors, into the mask memory.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from exion.fields import ARG_FIELDS
from exion.regmap import (CAU_BEAT, CAUSES, FLAGS, ID_VALUE, MAX_HEAD_DIM, MAX_KEYS, OPCODES,
                          QUEUE_DEPTH, REGISTERS, RegisterMap)

from .axil import AxiLiteSlave, axil_members
from .cau import Cau
from .library import declare_unit, place
from .mem import Bank
from .predictor import Predictor
from .sdue import Sdue, block_layout
from .selector import Selector

__all__ = ["ExionCore"]

_EXEC_GEMM, _EXEC_SCHED, _EXEC_PRED = 0, 1, 2

_ENTRY = data.StructLayout({"op": 8, "flags": 8, **{f"a{i}": 32 for i in range(6)}})


def _fields(regs):
    """The bit fields of argument registers ``regs`` (ARG0, ARG1, ...) by name, sliced as the
    spec's table says (:data:`exion.fields.ARG_FIELDS`; fields of registers not given are
    left out: ARG4 / ARG5 are used whole)."""
    return {f.name: regs[f.reg][f.lo:f.lo + f.width] for f in ARG_FIELDS if f.reg < len(regs)}


class ExionCore(wiring.Component):
    """The accelerator: what ``make verilog`` emits.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    s_axil_* : AXI4-Lite slave (registers, command issue, mask and SMEM windows).
    s_axis_imem_tdata, s_axis_wmem_tdata : In(lanes * data_width) ;
    s_axis_imem_tvalid, s_axis_wmem_tvalid : In(1) ; s_axis_imem_tready, s_axis_wmem_tready : Out(1)
        Bulk input of ``LOAD_IMEM`` / ``LOAD_WMEM``: one lane vector per beat (lane 0 at the
        LSB); two streams so that weights load while row groups stream in.
    m_axis_tdata : Out(rows * data_width) ; m_axis_tvalid, m_axis_tlast : Out(1) ;
    m_axis_tready : In(1)
        Bulk output: one OMEM address of every bank per beat (bank 0 at the LSB); ``tlast`` on
        the last beat of a ``READ_OMEM``.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._map = RegisterMap(cfg)
        super().__init__({
            **axil_members(self._map.addr_width),
            "s_axis_imem_tdata": In(self._map.in_width), "s_axis_imem_tvalid": In(1),
            "s_axis_imem_tready": Out(1),
            "s_axis_wmem_tdata": In(self._map.in_width), "s_axis_wmem_tvalid": In(1),
            "s_axis_wmem_tready": Out(1),
            "m_axis_tdata": Out(self._map.out_width), "m_axis_tvalid": Out(1),
            "m_axis_tlast": Out(1), "m_axis_tready": In(1),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    @property
    def regmap(self) -> RegisterMap:
        return self._map

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _banks(m, platform, prefix, n, width, depth, buffers, lanes=1, ports=1):
        banks = []
        for i in range(n):
            bank = Bank(width=width, depth=buffers * depth, write_lanes=lanes, write_ports=ports,
                        unit=prefix)
            place(m, f"{prefix}{i}", bank, platform, bank.module_name)
            banks.append(bank)
        return banks

    def elaborate(self, platform):
        cfg, rm = self._cfg, self._map
        R, C, D, L, W = cfg.rows, cfg.cols, cfg.merge_degree, cfg.lanes, cfg.data_width
        Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        S = cfg.schedule_depth
        CH = rm.channels
        MW = -(-CH // CAU_BEAT)                  # mask memory words
        m = Module()

        # -- host interface ------------------------------------------------------------------
        m.submodules.axil = axil = AxiLiteSlave(addr_width=rm.addr_width)
        for name in axil_members(rm.addr_width):
            port, mine = getattr(axil, name), getattr(self, name)
            if axil.signature.members[name].flow == Out:
                m.d.comb += mine.eq(port)
            else:
                m.d.comb += port.eq(mine)

        args = [Signal(32, name=f"arg{i}") for i in range(6)]
        for i, a in enumerate(args):
            with m.If(axil.wr_en & (axil.wr_addr == REGISTERS[f"ARG{i}"])):
                m.d.sync += a.eq(axil.wr_data)

        # -- status registers ----------------------------------------------------------------
        error = Signal()
        cause = Signal(8)
        err_cmd = Signal(32)
        cycles = Signal(32)
        blocks = Signal(range(S + 1))
        done_count = Signal(32)
        dominant = Signal(64)
        skip_k = Signal(64)
        skip_v = Signal(64)

        # -- memories ------------------------------------------------------------------------
        imem = self._banks(m, platform, "imem", R, L * W, Di, Bi)
        wmem = self._banks(m, platform, "wmem", C, D * L * W, Dw, Bw, lanes=D)
        DP = cfg.drain_ports
        omem = self._banks(m, platform, "omem", R, W, Do, Bo, ports=DP)
        m.submodules.smem = smem = declare_unit(
            Memory(shape=block_layout(cfg), depth=S, init=[]), "smem")
        smem_wp = smem.write_port()
        smem_rp = smem.read_port()          # execute engine
        smem_hp = smem.read_port()          # host window
        m.submodules.mask = mask = declare_unit(      # the CAU's mask memory
            Memory(shape=CAU_BEAT * R, depth=MW, init=[]), "cau")
        mask_wp = mask.write_port(granularity=R)
        mask_rp = mask.read_port()          # CAU feeder
        mask_hp = mask.read_port()          # host window

        m.submodules.sdue = sdue = Sdue(cfg)
        m.submodules.cau = cau = Cau(cfg, CAU_BEAT)
        preds = []
        sels = []
        for r in range(R):
            p = Predictor(cfg, k_max=MAX_HEAD_DIM)
            s = Selector(cfg, max_keys=MAX_KEYS)
            assert p.acc_width == s.score_width
            place(m, f"pred{r}", p, platform, f"exion_predictor_l{L}_w{W}_s{p.steps}_a{p.acc_width}")
            place(m, f"sel{r}", s, platform,
                  f"exion_selector_k{s.max_keys}_p{s.max_keep}_s{s.score_width}")
            preds.append(p)
            sels.append(s)
        max_keep = sels[0].max_keep
        score_width = sels[0].score_width

        # -- command check --------------------------------------------------------------------
        cmd_wr = Signal()
        m.d.comb += cmd_wr.eq(axil.wr_en & (axil.wr_addr == REGISTERS["CMD"]))
        op = axil.wr_data[0:8]
        flags = axil.wr_data[8:16]
        f = _fields(args[:4])
        sparse_f = (flags & (FLAGS["SPARSE"] >> 8)) != 0
        ffn_f = (flags & (FLAGS["FFN_MASK"] >> 8)) != 0
        n_blk = Signal(17)          # dense blocks of a GEMM; WMEM rows of a PREDICT's keys
        m.d.comb += n_blk.eq((f["n_ch"] + (C - 1)) // C)
        bad = Signal(8)                                 # cause, 0 = good

        def check(*rules):
            """First failing (condition, cause) wins."""
            with m.If(rules[0][0]):
                m.d.comb += bad.eq(CAUSES[rules[0][1]])
            for cond, name in rules[1:]:
                with m.Elif(cond):
                    m.d.comb += bad.eq(CAUSES[name])

        with m.Switch(op):
            with m.Case(OPCODES["LOAD_IMEM"]):
                check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                      (f["base"] + f["count"] > Di, "ADDR_RANGE"))
            with m.Case(OPCODES["LOAD_WMEM"]):
                check((f["wbuf"] >= Bw, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                      (f["streams"] > D, "BAD_FIELD"),
                      (f["base"] + f["count"] > Dw, "ADDR_RANGE"))
            with m.Case(OPCODES["READ_OMEM"]):
                check((f["obuf"] >= Bo, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                      (f["base"] + f["count"] > Do, "ADDR_RANGE"))
            with m.Case(OPCODES["GEMM"]):
                check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                      (f["obuf"] >= Bo, "BAD_BUFFER"),
                      (f["kc"] == 0, "BAD_FIELD"), (f["shift"] >= cfg.acc_width, "BAD_FIELD"),
                      (sparse_f & ffn_f, "BAD_FIELD"), (~sparse_f & (f["n_ch"] == 0), "BAD_FIELD"),
                      (ffn_f & (f["ch_base"] % DP != 0), "BAD_FIELD"),
                      (f["kc"] > Di, "TILE"), ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                      (~sparse_f & (f["ch_base"] + f["n_ch"] > Do), "ADDR_RANGE"),
                      (~sparse_f & (f["wbase"] + n_blk * f["kc"] > Dw), "ADDR_RANGE"))
            with m.Case(OPCODES["SCHEDULE"]):
                check((f["n_ch"] == 0, "BAD_FIELD"), (f["n_ch"] > CH, "ADDR_RANGE"))
            with m.Case(OPCODES["PREDICT"]):
                check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                      (f["kc"] == 0, "BAD_FIELD"),
                      ((f["topk"] == 0) | (f["topk"] > max_keep), "BAD_FIELD"),
                      (f["kc"] * L > MAX_HEAD_DIM, "TILE"), (f["kc"] > Di, "TILE"),
                      ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                      ((f["n_keys"] == 0) | (f["n_keys"] > min(MAX_KEYS, CH)), "TILE"),
                      (f["wbase"] + n_blk * f["kc"] > Dw, "ADDR_RANGE"))
            with m.Default():
                m.d.comb += bad.eq(CAUSES["BAD_OPCODE"])

        m.submodules.queue = queue = SyncFIFOBuffered(width=_ENTRY.size, depth=QUEUE_DEPTH)
        refuse = Signal(8)
        m.d.comb += refuse.eq(Mux(bad != 0, bad, Mux(queue.w_rdy, 0, CAUSES["QUEUE_FULL"])))
        m.d.comb += [
            queue.w_data.eq(Cat(op, flags, *args)),
            queue.w_en.eq(cmd_wr & ~error & (refuse == 0)),
        ]
        with m.If(cmd_wr & ~error & (refuse != 0)):
            m.d.sync += [error.eq(1), cause.eq(refuse), err_cmd.eq(axil.wr_data)]
        with m.If(axil.wr_en & (axil.wr_addr == REGISTERS["CTRL"]) & axil.wr_data[0]):
            m.d.sync += [error.eq(0), cause.eq(0)]

        # -- dispatch --------------------------------------------------------------------------
        head = data.View(_ENTRY, queue.r_data)
        hf = _fields((head.a0, head.a1, head.a2, head.a3))
        h_sparse = (head.flags & (FLAGS["SPARSE"] >> 8)) != 0
        h_ffn = (head.flags & (FLAGS["FFN_MASK"] >> 8)) != 0

        li_active, lw_active = Signal(), Signal()
        li_buf, lw_buf = Signal(4), Signal(4)
        e_active = Signal()
        e_mode = Signal(2)
        e_ibuf, e_wbuf, e_obuf = Signal(4), Signal(4), Signal(4)
        r_active = Signal()
        r_buf = Signal(4)

        e_reads_i = e_active & (e_mode != _EXEC_SCHED)
        # GEMM outputs still draining from the SDUE after their command left the exec engine,
        # per OMEM buffer (a command is done when its last block has drained)
        drains = [Signal(range(4), name=f"drains{b}") for b in range(Bo)]
        draining_o = Signal(4)
        for b in range(Bo):
            m.d.comb += draining_o[b].eq(drains[b] != 0)
        e_writes_o = e_active & (e_mode == _EXEC_GEMM)
        go = Signal()
        with m.Switch(head.op):
            with m.Case(OPCODES["LOAD_IMEM"]):
                m.d.comb += go.eq(~li_active & ~(e_reads_i & (e_ibuf == hf["ibuf"])))
            with m.Case(OPCODES["LOAD_WMEM"]):
                m.d.comb += go.eq(~lw_active & ~(e_reads_i & (e_wbuf == hf["wbuf"])))
            with m.Case(OPCODES["GEMM"], OPCODES["PREDICT"]):
                loads_mine = ((li_active & (li_buf == hf["ibuf"]))
                              | (lw_active & (lw_buf == hf["wbuf"])))
                reads_mine = (head.op == OPCODES["GEMM"]) & r_active & (r_buf == hf["obuf"])
                m.d.comb += go.eq(~e_active & ~loads_mine & ~reads_mine)
            with m.Case(OPCODES["SCHEDULE"]):
                m.d.comb += go.eq(~e_active)
            with m.Case(OPCODES["READ_OMEM"]):
                m.d.comb += go.eq(~r_active & ~(e_writes_o & (e_obuf == hf["obuf"]))
                                  & ~draining_o.bit_select(hf["obuf"], 1))
        dispatch = Signal()
        # A sparse GEMM's WMEM range depends on BLOCKS, final only when it reaches the exec
        # engine (the SCHEDULE before it has run): checked here; a bad one is dropped.
        late_bad = Signal()
        m.d.comb += late_bad.eq((head.op == OPCODES["GEMM"]) & h_sparse
                                & (hf["wbase"] + blocks * hf["kc"] > Dw))
        m.d.comb += [dispatch.eq(queue.r_rdy & go), queue.r_en.eq(dispatch)]
        with m.If(dispatch & late_bad & ~error):
            m.d.sync += [error.eq(1), cause.eq(CAUSES["ADDR_RANGE"]),
                         err_cmd.eq(Cat(head.op, head.flags))]

        def dispatching(*ops):
            return dispatch & ~late_bad & Cat(*(head.op == OPCODES[o] for o in ops)).any()

        li_fin, lw_fin, e_fin, r_fin = Signal(), Signal(), Signal(), Signal()
        g_end = Signal()            # the last block of a GEMM finished draining
        e_count_fin = Signal()      # e_fin of a command that is done at e_fin
        m.d.sync += done_count.eq(done_count + li_fin + lw_fin + e_count_fin + r_fin + g_end)

        # -- load engines: s_axis_imem -> IMEM, s_axis_wmem -> WMEM -------------------------
        # Two engines on two streams, so a weight tile loads while row groups stream in.
        def loader(name, op, stream, banks, n_banks, depth, lanes, buf_field):
            active, buf = (li_active, li_buf) if name == "li" else (lw_active, lw_buf)
            base = Signal(16, name=f"{name}_base")
            count = Signal(16, name=f"{name}_count")
            off = Signal(16, name=f"{name}_off")
            bank = Signal(range(n_banks), name=f"{name}_bank")
            lane = Signal(range(lanes), name=f"{name}_lane")
            last_lane = Signal(range(lanes), name=f"{name}_last_lane")  # streams loaded - 1
            fin = Signal(name=f"{name}_fin")
            with m.If(dispatching(op)):
                m.d.sync += [active.eq(1), buf.eq(hf[buf_field]), base.eq(hf["base"]),
                             count.eq(hf["count"]), off.eq(0), bank.eq(0), lane.eq(0),
                             last_lane.eq(Mux(hf["streams"] == 0, lanes - 1, hf["streams"] - 1)
                                          if lanes > 1 else 0)]
            beat = Signal(name=f"{name}_beat")
            m.d.comb += [getattr(self, f"{stream}_tready").eq(active),
                         beat.eq(active & getattr(self, f"{stream}_tvalid"))]
            addr = Signal(16, name=f"{name}_addr")
            m.d.comb += addr.eq(base + off)
            tdata = getattr(self, f"{stream}_tdata")
            for i, bk in enumerate(banks):
                m.d.comb += [bk.w_addr.eq(buf * depth + addr),
                             bk.w_data.eq(tdata.replicate(lanes)),
                             bk.w_en.eq(Mux(beat & (bank == i), Const(1, lanes) << lane, 0))]
            last_off = off == count - 1
            last_ln = lane == last_lane
            # (fin strobes are plain assignments, not set inside m.If: Icarus never evaluates
            # an always @* block whose inputs keep their initial values, leaving its output X)
            m.d.comb += fin.eq(beat & last_off & last_ln & (bank == n_banks - 1))
            with m.If(beat):
                m.d.sync += off.eq(Mux(last_off, 0, off + 1))
                with m.If(last_off):
                    with m.If(last_ln):
                        m.d.sync += [lane.eq(0), bank.eq(bank + 1)]
                    with m.Else():
                        m.d.sync += lane.eq(lane + 1)
            with m.If(fin):
                m.d.sync += active.eq(0)
            return fin

        m.d.comb += [
            li_fin.eq(loader("li", "LOAD_IMEM", "s_axis_imem", imem, R, Di, 1, "ibuf")),
            lw_fin.eq(loader("lw", "LOAD_WMEM", "s_axis_wmem", wmem, C, Dw, D, "wbuf")),
        ]

        # -- read engine: OMEM -> m_axis ------------------------------------------------------
        r_base = Signal(16)
        r_left = Signal(17)
        r_addr = Signal(16)         # address of the beat in the output (held between fetches)
        out_valid = Signal()
        out_last = Signal()
        fetch_r = Signal()
        with m.If(dispatching("READ_OMEM")):
            m.d.sync += [r_active.eq(1), r_buf.eq(hf["obuf"]), r_base.eq(hf["base"]),
                         r_left.eq(hf["count"])]
        m.d.comb += fetch_r.eq(r_active & (r_left != 0) & (~out_valid | self.m_axis_tready))
        nxt_addr = Signal(16)
        m.d.comb += nxt_addr.eq(Mux(fetch_r, r_base, r_addr))
        with m.If(fetch_r):
            m.d.sync += [r_addr.eq(r_base), r_base.eq(r_base + 1), r_left.eq(r_left - 1),
                         out_valid.eq(1), out_last.eq(r_left == 1)]
        with m.Elif(self.m_axis_tready):
            m.d.sync += out_valid.eq(0)
        m.d.comb += r_fin.eq(out_valid & self.m_axis_tready & out_last)
        with m.If(r_fin):
            m.d.sync += [r_active.eq(0), out_last.eq(0)]
        for i, bank in enumerate(omem):
            m.d.comb += bank.r_addr.eq(r_buf * Do + nxt_addr)
        m.d.comb += [self.m_axis_tdata.eq(Cat(*(b.r_data for b in omem))),
                     self.m_axis_tvalid.eq(out_valid), self.m_axis_tlast.eq(out_valid & out_last)]

        # -- execute engine -------------------------------------------------------------------
        e_kc = Signal(16)
        e_shift = Signal(range(cfg.acc_width))
        e_wbase = Signal(16)
        e_rows = Signal(8)
        e_sparse = Signal()
        e_ffn = Signal()
        e_th_hi = Signal(signed(32))
        e_th_lo = Signal(signed(32))
        e_nch = Signal(16)
        e_count = Signal(16)
        e_cycles = Signal(32)
        e_start = Signal()          # the cycle after dispatch
        m.d.sync += e_start.eq(dispatching("GEMM", "SCHEDULE", "PREDICT"))
        with m.If(dispatching("GEMM", "SCHEDULE", "PREDICT")):
            m.d.sync += [
                e_active.eq(1),
                e_mode.eq(Mux(head.op == OPCODES["GEMM"], _EXEC_GEMM,
                              Mux(head.op == OPCODES["SCHEDULE"], _EXEC_SCHED, _EXEC_PRED))),
                e_ibuf.eq(hf["ibuf"]), e_wbuf.eq(hf["wbuf"]), e_obuf.eq(hf["obuf"]),
                e_kc.eq(hf["kc"]), e_shift.eq(hf["shift"]), e_count.eq(hf["topk"]),
                e_wbase.eq(hf["wbase"]), e_rows.eq(hf["n_rows"]), e_sparse.eq(h_sparse),
                e_ffn.eq(h_ffn), e_th_hi.eq(head.a4), e_th_lo.eq(head.a5), e_nch.eq(hf["n_ch"]),
                e_cycles.eq(0),
            ]
        with m.Elif(e_active):
            m.d.sync += e_cycles.eq(e_cycles + 1)
        with m.If(e_fin):
            m.d.sync += e_active.eq(0)
        gemm = e_active & (e_mode == _EXEC_GEMM)
        sched = e_active & (e_mode == _EXEC_SCHED)
        pred = e_active & (e_mode == _EXEC_PRED)

        # GEMM: block source (dense generator or SMEM) with a one-block prefetch
        left = Signal(17)
        rd_ptr = Signal(range(S))
        have = Signal()
        dense_ch = Signal(16)
        dense_rem = Signal(17)
        dense_blk = Signal(block_layout(cfg))
        fetch_g = Signal()
        with m.If(dispatching("GEMM")):
            m.d.sync += [left.eq(Mux(h_sparse, blocks, (hf["n_ch"] + (C - 1)) // C)),
                         rd_ptr.eq(0), have.eq(0),
                         dense_ch.eq(hf["ch_base"]), dense_rem.eq(hf["n_ch"])]
        m.d.comb += [
            sdue.clear.eq(dispatching("GEMM")),     # (only the WMEM pointer matters here)
            sdue.kc.eq(e_kc), sdue.shift.eq(e_shift),
            sdue.blocks.payload.eq(Mux(e_sparse, smem_rp.data, dense_blk)),
            sdue.blocks.valid.eq(have),
            fetch_g.eq(gemm & (left != 0) & (~have | sdue.blocks.ready)),
            smem_rp.addr.eq(rd_ptr), smem_rp.en.eq(fetch_g),
        ]
        blk_last = Signal()         # the block in the prefetch register is the command's last
        with m.If(fetch_g):
            m.d.sync += [left.eq(left - 1), rd_ptr.eq(rd_ptr + 1), have.eq(1),
                         blk_last.eq(left == 1),
                         dense_ch.eq(dense_ch + C),
                         dense_rem.eq(Mux(dense_rem > C, dense_rem - C, 0))]
            for c in range(C):
                on = dense_rem > c
                m.d.sync += [dense_blk.slots[c][0].valid.eq(on),
                             dense_blk.slots[c][0].channel.eq(dense_ch + c)]
                for r in range(R):
                    m.d.sync += dense_blk.sel[r][c].eq(on & (e_rows > r))
        with m.Elif(sdue.blocks.ready):
            m.d.sync += have.eq(0)
        # The exec engine is free once the SDUE could take another block (its last block's
        # chunks are read, so the next command may reset the WMEM pointer); the outputs drain
        # under the next command, tagged with their OMEM buffer. An FFN_MASK GEMM waits for its
        # drain (its thresholds and mask writes belong to it).
        gemm_done = (gemm & ~e_start & (left == 0) & ~have & sdue.blocks.ready
                     & ~(e_ffn & sdue.busy))
        m.d.comb += sdue.tag.eq(Cat(e_obuf, blk_last, e_ffn))
        tag_obuf = sdue.omem_tag[0:4]
        m.d.comb += g_end.eq(sdue.drain_end & sdue.omem_tag[4])

        # CYCLES of a GEMM: from its first block's acceptance to its last block's last drain
        # cycle, measured with a timestamp per command in flight
        now = Signal(32)
        m.d.sync += now.eq(now + 1)
        g_first = Signal()          # no block of the current GEMM accepted yet
        accept_g = gemm & sdue.blocks.valid & sdue.blocks.ready
        with m.If(dispatching("GEMM")):
            m.d.sync += g_first.eq(1)
        with m.Elif(accept_g):
            m.d.sync += g_first.eq(0)
        m.submodules.g_starts = g_starts = SyncFIFOBuffered(width=32, depth=4)
        m.d.comb += [g_starts.w_data.eq(now), g_starts.w_en.eq(accept_g & g_first),
                     g_starts.r_en.eq(g_end)]
        for b in range(Bo):
            inc = accept_g & g_first & (e_obuf == b)
            dec = g_end & (tag_obuf == b)
            m.d.sync += drains[b].eq(drains[b] + inc - dec)
        with m.If(g_end):
            m.d.sync += cycles.eq(now - g_starts.r_data + 1)
        with m.Elif(e_fin & ((e_mode != _EXEC_GEMM) | g_first)):
            m.d.sync += cycles.eq(Mux(e_mode == _EXEC_GEMM, 0, e_cycles + 1))
        m.d.comb += e_count_fin.eq(e_fin & ((e_mode != _EXEC_GEMM) | g_first))

        p_k = Signal(16)
        p_wrow = Signal(16)
        for bank in imem:
            m.d.comb += bank.r_addr.eq(e_ibuf * Di + Mux(pred, p_k, sdue.imem_addr))
        for bank in wmem:
            m.d.comb += bank.r_addr.eq(e_wbuf * Dw + Mux(pred, p_wrow + p_k,
                                                         e_wbase + sdue.wmem_addr))
        m.d.comb += [
            sdue.imem_data.eq(Cat(*(b.r_data for b in imem))),
            sdue.wmem_data.eq(Cat(*(b.r_data for b in wmem))),
        ]
        for r, bank in enumerate(omem):
            for j in range(DP):
                addr, wdata, en = bank.write(j)
                m.d.comb += [en.eq(sdue.omem_en[r * DP + j]),
                             addr.eq(tag_obuf * Do + sdue.omem_addr[r * DP + j]),
                             wdata.eq(sdue.omem_data[r * DP + j])]

        # FFN-Reuse keep-mask on the way into OMEM (dense blocks: a drained column's rows all
        # write the same channel, so one mask entry per drained column; with drain_ports DP
        # the DP channels of a drain cycle are consecutive and, ch_base being a multiple of
        # DP for FFN_MASK, lie in one mask word: entries ffn_ch + j, j < DP)
        ffn_we = Signal()
        ffn_lanes = Signal(DP)
        ffn_cv = [Signal(R, name=f"ffn_cv{j}") for j in range(DP)]
        m.d.comb += ffn_we.eq(sdue.omem_tag[5] & sdue.omem_en[0])
        for j in range(DP):
            m.d.comb += ffn_lanes[j].eq(sdue.omem_tag[5] & sdue.omem_en[j])
            for r in range(R):
                v = sdue.omem_data[r * DP + j]
                m.d.comb += ffn_cv[j][r].eq(sdue.omem_en[r * DP + j]
                                            & ((v > e_th_hi) | (v < e_th_lo)))
        ffn_ch = sdue.omem_addr[0]

        # SCHEDULE: mask memory -> CAU beats -> SMEM
        s_left = Signal(17)         # beats not yet fetched
        s_rem = Signal(17)          # channels not yet fetched
        s_ptr = Signal(range(MW))
        s_have = Signal()
        s_lanes = Signal(range(CAU_BEAT + 1))
        s_base = Signal(16)
        s_last = Signal()
        s_count = Signal(range(S + 1))
        s_over = Signal()
        fetch_s = Signal()
        with m.If(dispatching("SCHEDULE")):
            m.d.sync += [s_left.eq((hf["n_ch"] + (CAU_BEAT - 1)) // CAU_BEAT),
                         s_rem.eq(hf["n_ch"]), s_ptr.eq(0), s_have.eq(0), s_count.eq(0),
                         s_over.eq(0)]
        m.d.comb += fetch_s.eq(sched & ~e_start & (s_left != 0) & (~s_have | cau.masks.ready))
        with m.If(fetch_s):
            m.d.sync += [s_left.eq(s_left - 1), s_ptr.eq(s_ptr + 1), s_have.eq(1),
                         s_lanes.eq(Mux(s_rem > CAU_BEAT, CAU_BEAT, s_rem)),
                         s_rem.eq(Mux(s_rem > CAU_BEAT, s_rem - CAU_BEAT, 0)),
                         s_base.eq(s_ptr * CAU_BEAT), s_last.eq(s_left == 1)]
        with m.Elif(cau.masks.ready):
            m.d.sync += s_have.eq(0)
        m.d.comb += [mask_rp.addr.eq(s_ptr), mask_rp.en.eq(fetch_s),
                     cau.masks.valid.eq(s_have),
                     cau.masks.payload.group.eq(0), cau.masks.payload.base.eq(s_base),
                     cau.masks.payload.last.eq(s_last)]
        for i in range(CAU_BEAT):
            m.d.comb += cau.masks.payload.cv[i].eq(
                Mux(s_lanes > i, mask_rp.data[i * R:(i + 1) * R], 0))
        m.d.comb += [cau.blocks.ready.eq(1),
                     smem_wp.addr.eq(s_count), smem_wp.data.eq(cau.blocks.payload),
                     smem_wp.en.eq(cau.blocks.valid & (s_count < S))]
        with m.If(cau.blocks.valid):
            with m.If(s_count < S):
                m.d.sync += s_count.eq(s_count + 1)
            with m.Else():
                m.d.sync += s_over.eq(1)
        sched_done = sched & ~e_start & (s_left == 0) & ~s_have & ~cau.busy
        with m.If(sched_done):
            m.d.sync += blocks.eq(s_count)
            with m.If(s_over & ~error):
                m.d.sync += [error.eq(1), cause.eq(CAUSES["SMEM_OVERFLOW"]),
                             err_cmd.eq(OPCODES["SCHEDULE"])]

        # PREDICT: scores of every key for every query row, selection, mask write
        p_issue = Signal()
        p_j = Signal(range(MAX_KEYS))
        p_col = Signal(range(C))
        p_wait = Signal()           # waiting for the selectors' results
        p_write = Signal()          # writing mask words
        p_w = Signal(range(MAX_KEYS // CAU_BEAT + 1))
        keeps = [Signal(MAX_KEYS, name=f"keep{r}") for r in range(R)]
        doms = Signal(R)
        with m.If(dispatching("PREDICT")):
            m.d.sync += [p_issue.eq(1), p_k.eq(0), p_j.eq(0), p_col.eq(0),
                         p_wrow.eq(hf["wbase"]), p_wait.eq(0), p_write.eq(0), p_w.eq(0)]
        last_k = p_k == e_kc - 1
        last_j = p_j == e_nch - 1
        issue = pred & p_issue
        with m.If(issue):
            m.d.sync += p_k.eq(Mux(last_k, 0, p_k + 1))
            with m.If(last_k):
                m.d.sync += p_j.eq(p_j + 1)
                with m.If(p_col == C - 1):
                    m.d.sync += [p_col.eq(0), p_wrow.eq(p_wrow + e_kc)]
                with m.Else():
                    m.d.sync += p_col.eq(p_col + 1)
                with m.If(last_j):
                    m.d.sync += [p_issue.eq(0), p_wait.eq(1)]
        d1_valid, d1_first, d1_push, d1_lastkey = Signal(), Signal(), Signal(), Signal()
        d1_col = Signal.like(p_col)
        m.d.sync += [d1_valid.eq(issue), d1_first.eq(issue & (p_k == 0)),
                     d1_push.eq(issue & last_k), d1_lastkey.eq(issue & last_k & last_j),
                     d1_col.eq(p_col)]
        d2_push, d2_lastkey = Signal(), Signal()
        m.d.sync += [d2_push.eq(d1_push), d2_lastkey.eq(d1_lastkey)]
        key_vec = Signal(L * W)
        with m.Switch(d1_col):
            for c in range(C):
                with m.Case(c):
                    m.d.comb += key_vec.eq(wmem[c].r_data[:L * W])   # stream 0
        results = Signal()
        m.d.comb += results.eq(Cat(*(s.result.valid for s in sels)).all())
        for r in range(R):
            p, s = preds[r], sels[r]
            m.d.comb += [
                p.a.eq(imem[r].r_data), p.b.eq(key_vec), p.valid.eq(d1_valid),
                p.first.eq(d1_first),
                s.scores.valid.eq(d2_push), s.scores.payload.score.eq(p.acc),
                s.scores.payload.last.eq(d2_lastkey),
                s.q_th.eq(Cat(e_th_hi, e_th_lo)[:score_width]),
                s.count.eq(e_count),
                s.result.ready.eq(pred & p_wait & results),
            ]
        with m.If(pred & p_wait & results):
            m.d.sync += [p_wait.eq(0), p_write.eq(1)]
            for r in range(R):
                m.d.sync += [keeps[r].eq(Mux(e_rows > r, sels[r].result.payload.keep, 0)),
                             doms[r].eq((e_rows > r) & sels[r].result.payload.dominant)]
        key_on = Signal(MAX_KEYS)
        m.d.comb += key_on.eq(Mux(e_nch >= MAX_KEYS, (1 << MAX_KEYS) - 1,
                                  (Const(1, MAX_KEYS + 1) << e_nch[:clog2(MAX_KEYS)]) - 1))
        cvs = [Cat(*(keeps[r][j] for r in range(R))) for j in range(MAX_KEYS)]
        p_word = Signal(CAU_BEAT * R)
        with m.Switch(p_w):
            for w in range(MAX_KEYS // CAU_BEAT):
                with m.Case(w):
                    m.d.comb += p_word.eq(Cat(*cvs[w * CAU_BEAT:(w + 1) * CAU_BEAT]))
        p_words = Signal(range(MAX_KEYS // CAU_BEAT + 1))
        m.d.comb += p_words.eq((e_nch + (CAU_BEAT - 1)) // CAU_BEAT)
        pred_we = pred & p_write
        with m.If(pred_we):
            m.d.sync += p_w.eq(p_w + 1)
        pred_done = pred_we & (p_w == p_words - 1)
        with m.If(pred_done):
            m.d.sync += [p_write.eq(0), dominant.eq(doms)]
            nd = Cat(*(~doms[r] for r in range(R)))
            m.d.sync += [
                skip_v.eq(key_on & ~Cat(*(cv.any() for cv in cvs))),
                skip_k.eq(key_on & ~Cat(*((cv & nd).any() for cv in cvs))),
            ]
        m.d.comb += e_fin.eq(gemm_done | sched_done | pred_done)

        # -- mask memory write port: execute engine first, then the host window ---------------
        h_mask_we = Signal()
        h_ch = Signal(16)
        h_cv = Signal(R)
        with m.If(pred_we):
            m.d.comb += [mask_wp.addr.eq(p_w), mask_wp.data.eq(p_word),
                         mask_wp.en.eq((1 << CAU_BEAT) - 1)]
        with m.Elif(ffn_we):
            m.d.comb += [mask_wp.addr.eq(ffn_ch // CAU_BEAT),
                         mask_wp.data.eq(Cat(*ffn_cv).replicate(CAU_BEAT // DP)),
                         mask_wp.en.eq(ffn_lanes << (ffn_ch % CAU_BEAT))]
        with m.Elif(h_mask_we):
            m.d.comb += [mask_wp.addr.eq(h_ch // CAU_BEAT),
                         mask_wp.data.eq(h_cv.replicate(CAU_BEAT)),
                         mask_wp.en.eq(Const(1, CAU_BEAT) << (h_ch % CAU_BEAT))]

        # -- host windows ---------------------------------------------------------------------
        mw, ms = rm.mask_words, rm.mask_stride
        ss = rm.smem_stride
        mask_end = rm.mask_base + CH * ms * 4
        smem_end = rm.smem_base + S * ss * 4
        wa = axil.wr_addr
        in_mask_w = (wa >= rm.mask_base) & (wa < mask_end)
        w_word = (wa - rm.mask_base) >> 2
        w_chunk = w_word % ms if ms > 1 else Const(0, 1)
        staging = Signal(max(1, (mw - 1) * 32))
        m.d.comb += [h_ch.eq(w_word // ms),
                     h_cv.eq(Cat(staging[:(mw - 1) * 32] if mw > 1 else Const(0, 0),
                                 axil.wr_data)[:R]),
                     h_mask_we.eq(axil.wr_en & in_mask_w & (w_chunk == mw - 1))]
        if mw > 1:
            for i in range(mw - 1):
                with m.If(axil.wr_en & in_mask_w & (w_chunk == i)):
                    m.d.sync += staging[i * 32:(i + 1) * 32].eq(axil.wr_data)

        ra = axil.rd_addr
        r_word = (ra - rm.mask_base) >> 2
        m.d.comb += [mask_hp.addr.eq((r_word // ms) // CAU_BEAT),
                     smem_hp.addr.eq(((ra - rm.smem_base) >> 2) // ss)]
        ra_q = Signal.like(ra)
        rd_q = Signal()
        m.d.sync += [rd_q.eq(axil.rd_en), ra_q.eq(ra)]
        m.d.comb += axil.rd_ack.eq(rd_q)
        q_word = (ra_q - rm.mask_base) >> 2
        q_ch = q_word // ms
        q_chunk = q_word % ms if ms > 1 else Const(0, 1)
        mask_cv = (mask_hp.data >> ((q_ch % CAU_BEAT) * R))[:R]
        s_word = (ra_q - rm.smem_base) >> 2
        s_chunk = s_word % ss if ss > 1 else Const(0, 1)
        smem_bits = smem_hp.data.as_value()

        status = Cat(
            queue.r_rdy | li_active | lw_active | e_active | r_active | draining_o.any(), error,
            li_active | lw_active,
            e_active | draining_o.any(), r_active,
            ~queue.w_rdy, Const(0, 2), queue.level)
        fixed = {
            "ID": ID_VALUE, "STATUS": status, "CAUSE": cause, "CYCLES": cycles,
            "BLOCKS": blocks, "DONE": done_count, "ERR_CMD": err_cmd,
            **{f"ARG{i}": args[i] for i in range(6)},
            "DOMINANT_LO": dominant[:32], "DOMINANT_HI": dominant[32:], "SKIP_K_LO": skip_k[:32], "SKIP_K_HI": skip_k[32:],
            "SKIP_V_LO": skip_v[:32], "SKIP_V_HI": skip_v[32:],
            **rm.config_registers(),
        }
        with m.If((ra_q >= rm.mask_base) & (ra_q < mask_end)):
            m.d.comb += axil.rd_data.eq((mask_cv.as_unsigned() >> (q_chunk * 32))[:32])
        with m.Elif((ra_q >= rm.smem_base) & (ra_q < smem_end)):
            m.d.comb += axil.rd_data.eq((smem_bits >> (s_chunk * 32))[:32])
        with m.Else():
            with m.Switch(ra_q):
                for name, value in fixed.items():
                    with m.Case(REGISTERS[name]):
                        m.d.comb += axil.rd_data.eq(value)
        return m
