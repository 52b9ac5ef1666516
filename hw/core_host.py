"""The host interface: AXI4-Lite registers, the command check and the command queue.

Contract (the host's view is ``docs/core.md``; every name is :mod:`exion.regmap`):

* Registers: ``ARG0..ARG5`` hold what the host writes; a write of ``CMD`` checks the command
  in the next cycle and queues or refuses it in the one after (opcode, fields against this
  configuration; the first failing check gives the cause) and
  either queues it (``QUEUE_DEPTH`` entries, in order; the head is ``cmd``, taken when
  ``cmd.ready``) or refuses it: ``error`` rises with ``CAUSE`` and ``ERR_CMD``. While
  ``error`` is set every command is refused; ``CTRL.clear_error`` clears it.
* ``fail`` reports an error found later (at dispatch or run time) with its cause and
  command word; it is kept only if no error is set.
* Status and result registers are inputs (``busy_*``, ``cycles``, ``blocks``, ...); ``DONE``
  counts the ``done`` strobes.
* The mask window writes a channel's conflict vector through ``mask_we`` (a multi-word
  vector when its last word is written); the mask and SMEM windows read through
  ``mask_raddr`` / ``smem_raddr`` (data one cycle later).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from exion.cfse_format import MAX_LN_DIM
from exion.config import ExionConfig, clog2
from exion.formats import block_words, shift_add_acc_width
from exion.limits import CAU_BEAT, DMA_ADDR_WIDTH, DMA_ROWS_BITS, MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM
from exion.regmap import (CAUSES, FLAGS, ID_VALUE, MERGED_REGISTERS, OPCODES, QUEUE_DEPTH,
                          REGISTERS, RESIDENT_OPS, RESPONSES, WORD_REGISTERS, RegisterMap,
                          mask_half, smem_half)

from .axil import AxiLiteSlave, axil_members
from .core_cmd import COMMAND, command_fields, command_stream
from .core_dma import mem_descriptor, packed
from .library import forward
from .sdue import block_layout

__all__ = ["HostInterface"]


def _mem_op(op):
    """An opcode that moves data through the master port with ``MEM``
    (``golden.core_checks.Command.mem``)."""
    return Cat(*(op == OPCODES[n] for n in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM", "LOAD_SMEM",
                                             "STORE_SMEM"))).any()


class HostInterface(wiring.Component):
    """AXI4-Lite register file, command check and queue of the core.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    s_axil_* : AXI4-Lite slave (:func:`hw.axil.axil_members`).
    cmd : Out(command_stream())
        The queue's head.
    fail : In(1) ; fail_cause : In(8) ; fail_cmd : In(32)
        A later error (kept when none is set).
    error : Out(1)
    busy_load, busy_exec, busy_read : In(1)
        Engine activity (``STATUS``).
    done : In(3)
        Commands finished this cycle (``DONE``).
    cycles : In(32) ; cycles_we : In(1)
        ``CYCLES``, written when ``cycles_we``.
    busy_cycles : In(32)
        ``BUSY_CYCLES``.
    cau_beside : In(32)
        ``CAU_BESIDE``.
    in_beats : In(2) ; out_beats : In(1)
        Stream beats into and out of the core this cycle (``BYTES_IN`` / ``BYTES_OUT`` add
        them times the beat's whole bytes, ``golden.cycle_model.stream_bytes``).
    blocks : In(16) ; dominant, skip_k, skip_v : In(64)
        Result registers.
    blocks_half : In(32) ; sched_cycles : In(32)
        ``BLOCKS_H1`` (bits 15:0), ``BLOCKS_H2`` (31:16) and ``SCHED_CYCLES`` (held by the
        SCHEDULE engine).
    proj_sat : In(32)
        ``PROJ_SAT`` (held by the PREDICT engine).
    mem_in_bytes, mem_out_bytes : In(16)
        Bytes the master port moved this cycle (``BYTES_IN`` / ``BYTES_OUT`` add them).
    mem_rd_cycles, mem_wr_cycles : In(32)
        ``MEM_RD_CYCLES`` / ``MEM_WR_CYCLES``.
    smem_ld_cycles, smem_st_cycles : In(32)
        ``SMEM_LD_CYCLES`` / ``SMEM_ST_CYCLES`` (hw/core_smem.py).
    region_base, region_end : Out(32)
        ``REGION_BASE`` / ``REGION_END`` (the master port checks its transfers against them).
        A write to either is refused (``SLVERR``, the register unchanged) while a ``MEM``
        command is being checked, waits in the queue or runs (``mem_busy``): every ``MEM``
        command runs against the region it was checked against at issue.
    mem_busy : In(1)
        A ``MEM`` load, read or gather runs (hw/core_dma.py, hw/core_gather.py).
    mask_we : Out(1) ; mask_ch : Out(16) ; mask_cv : Out(rows)
        Mask window write of channel ``mask_ch``.
    mask_raddr : Out(range(mask words)) ; mask_rdata : In(CAU_BEAT * rows)
    smem_raddr : Out(range(schedule_depth)) ; smem_rdata : In(block bits)
        Window reads (data one cycle later).
    """

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._map = rm = RegisterMap(cfg)
        self._mw = -(-rm.channels // CAU_BEAT)
        # the predictors' accumulator width: PREDICT_PROJ's shift must stay below it
        self._proj_aw = shift_add_acc_width(MAX_PROJ_DIM, cfg.data_width, cfg.lod_steps)
        super().__init__({
            **axil_members(rm.addr_width),
            "cmd": Out(command_stream()),
            "fail": In(1), "fail_cause": In(8), "fail_cmd": In(32), "error": Out(1),
            "busy_load": In(1), "busy_exec": In(1), "busy_read": In(1),
            "done": In(3), "cycles": In(32), "cycles_we": In(1), "busy_cycles": In(32),
            "cau_beside": In(32),
            "in_beats": In(2), "out_beats": In(1),
            "blocks": In(16), "dominant": In(64), "skip_k": In(64), "skip_v": In(64),
            "blocks_half": In(32), "sched_cycles": In(32), "proj_sat": In(32),
            "mem_in_bytes": In(16), "mem_out_bytes": In(16),
            "mem_rd_cycles": In(32), "mem_wr_cycles": In(32),
            "smem_ld_cycles": In(32), "smem_st_cycles": In(32),
            "region_base": Out(32), "region_end": Out(32), "mem_busy": In(1),
            "mask_we": Out(1), "mask_ch": Out(16), "mask_cv": Out(cfg.rows),
            "mask_raddr": Out(range(self._mw)), "mask_rdata": In(CAU_BEAT * cfg.rows),
            "smem_raddr": Out(range(cfg.schedule_depth)),
            "smem_rdata": In(block_layout(cfg).size),
        })

    @property
    def mask_words(self) -> int:
        """Words of the mask memory (``CAU_BEAT`` channels each)."""
        return self._mw

    def _check(self, m, op, flags, f, bad, w_over, d_over, r_over):
        """Comb ``bad`` = cause of the command (0 = good); the first failing check wins.
        ``w_over`` is the registered WMEM range rule of GEMM and PREDICT (see ``elaborate``),
        ``d_over`` the registered destination range rules of PREDICT_PROJ (Q', K')."""
        cfg, rm = self._cfg, self._map
        D = cfg.merge_degree
        Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        DP, L, R, CH = cfg.drain_ports, cfg.lanes, cfg.rows, rm.channels
        sparse = (flags & (FLAGS["SPARSE"] >> 8)) != 0
        ffn = (flags & (FLAGS["FFN_MASK"] >> 8)) != 0
        keys = (flags & (FLAGS["KEYS"] >> 8)) != 0
        resident = (flags & (FLAGS["RESIDENT"] >> 8)) != 0
        mem = (flags & (FLAGS["MEM"] >> 8)) != 0
        S = cfg.schedule_depth
        # channels of the mask-memory part mhalf names (exion.regmap.mask_half; 3 refused first)
        part = Mux(f["mhalf"] == 0, CH, mask_half(CH, 1)[1])

        def check(*rules):
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
                      (sparse & ffn, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"),
                      (ffn & (f["mhalf"] == 3), "BAD_FIELD"),
                      (~sparse & (f["n_ch"] == 0), "BAD_FIELD"),
                      (ffn & (f["ch_base"] % DP != 0), "BAD_FIELD"),
                      (f["kc"] > Di, "TILE"), ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                      (f["ibase"] + f["kc"] > Di, "ADDR_RANGE"),
                      (~sparse & (f["ch_base"] + f["n_ch"] > Do), "ADDR_RANGE"),
                      (~sparse & w_over, "ADDR_RANGE"),
                      (ffn & (f["ch_base"] + f["n_ch"] > part), "ADDR_RANGE"),
                      (resident & ~sparse, "BAD_FIELD"),
                      (resident & (f["n_ch"] == 0), "BAD_FIELD"),
                      (resident & (f["n_ch"] > Do), "ADDR_RANGE"),
                      (resident & r_over, "ADDR_RANGE"))
            with m.Case(OPCODES["LOAD_SMEM"]):
                check((~mem, "BAD_FIELD"), (f["count"] == 0, "BAD_FIELD"),
                      (f["half"] == 3, "BAD_FIELD"),
                      (f["count"] > Mux(f["half"] == 0, S, smem_half(S, 1)[1]), "ADDR_RANGE"))
            with m.Case(OPCODES["STORE_SMEM"]):
                check((~mem, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"))
            with m.Case(OPCODES["SCHEDULE"]):
                check((f["n_ch"] == 0, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"),
                      (f["mhalf"] == 3, "BAD_FIELD"), (f["n_ch"] > part, "ADDR_RANGE"))
            with m.Case(OPCODES["PREDICT"]):
                check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                      (f["kc"] == 0, "BAD_FIELD"),
                      ((f["topk"] == 0) | (f["topk"] > rm.max_topk), "BAD_FIELD"),
                      (f["mhalf"] == 3, "BAD_FIELD"),
                      (f["kc"] * L > MAX_HEAD_DIM, "TILE"), (f["kc"] > Di, "TILE"),
                      ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                      ((f["n_keys"] == 0) | (f["n_keys"] > min(MAX_KEYS, CH)), "TILE"),
                      (f["n_keys"] > part, "ADDR_RANGE"), (w_over, "ADDR_RANGE"))
            with m.Case(OPCODES["PREDICT_PROJ"]):
                kcp = (f["n_ch"] + (L - 1)) // L
                check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                      (f["dbuf"] >= Mux(keys, Bw, Bi), "BAD_BUFFER"),
                      (f["dbuf"] == Mux(keys, f["wbuf"], f["ibuf"]), "SAME_BUFFER"),
                      (f["kc"] == 0, "BAD_FIELD"), (f["n_ch"] == 0, "BAD_FIELD"),
                      (f["shift"] >= self._proj_aw, "BAD_FIELD"),
                      (f["kc"] * L > MAX_PROJ_DIM, "TILE"), (f["kc"] > Di, "TILE"),
                      ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                      (kcp * L > MAX_HEAD_DIM, "TILE"),
                      (w_over, "ADDR_RANGE"), (Mux(keys, d_over[1], d_over[0]), "ADDR_RANGE"))
            for name in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"):
                with m.Case(OPCODES[name]):
                    self._check_cfse(check, name, f)
            with m.Default():
                m.d.comb += bad.eq(CAUSES["BAD_OPCODE"])
        # RESIDENT where it means nothing: the first row of those opcodes' checks (this later
        # assignment wins; exion.regmap.RESIDENT_OPS, and a LOAD_WMEM gather)
        both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
        others = Cat(*(op == v for n, v in OPCODES.items() if n not in RESIDENT_OPS)).any()
        gather = (op == OPCODES["LOAD_WMEM"]) & ((flags & both) == both)
        with m.If(resident & others & ~gather):
            m.d.comb += bad.eq(CAUSES["BAD_FIELD"])

    def _check_cfse(self, check, name, f):
        """The checks of a CFSE command, in ``golden.core_checks``' order."""
        cfg = self._cfg
        Di, Do, L = cfg.words("imem"), cfg.words("omem"), cfg.lanes
        second = {"RESIDUAL": [(f["xbuf"] >= cfg.imem_buffers, "BAD_BUFFER")],
                  "LAYERNORM": [(f["mbuf"] >= cfg.omem_buffers, "BAD_BUFFER")]}.get(name, [])
        tile = {"SOFTMAX": [(f["n_ch"] > MAX_KEYS, "TILE")],
                "LAYERNORM": [(f["n_ch"] > min(MAX_LN_DIM, Do), "TILE")]}.get(name, [])
        adaln = ([(f["sc_base"] + f["n_ch"] > Do, "ADDR_RANGE"),
                  (f["sh_base"] + f["n_ch"] > Do, "ADDR_RANGE")] if name == "LAYERNORM" else [])
        # GELU's keep-mask / SOFTMAX's key mask: channels of the mhalf part (mask_half)
        flag = {"GELU": "ffn_mask", "SOFTMAX": "key_mask"}.get(name)
        part = Mux(f["mhalf"] == 0, self._map.channels, mask_half(self._map.channels, 1)[1])
        mfield = [(f[flag] & (f["mhalf"] == 3), "BAD_FIELD")] if flag else []
        mrange = [(f[flag] & (f["ch_base"] + f["n_ch"] > part), "ADDR_RANGE")] if flag else []
        check((f["ibuf"] >= cfg.imem_buffers, "BAD_BUFFER"),
              (f["obuf"] >= cfg.omem_buffers, "BAD_BUFFER"), *second,
              (f["n_ch"] == 0, "BAD_FIELD"), *mfield,
              ((f["n_rows"] == 0) | (f["n_rows"] > cfg.rows), "TILE"), *tile,
              (f["ch_base"] + f["n_ch"] > Do, "ADDR_RANGE"),
              (f["base"] + ((f["n_ch"] + (L - 1)) // L) > Di, "ADDR_RANGE"), *adaln, *mrange)

    def _mem_cause(self, m, op, flags, f, region_base, region_end):
        """Cause code of a ``MEM`` command at issue (0: good, or not a ``MEM`` command), as
        ``golden.dma.cause``: ``BAD_FIELD`` for a gather with
        ``half`` = 3, then ``DMA_ALIGN`` when ``addr`` or ``stride`` is not a multiple of
        ``bus_width / 8``, then ``DMA_REGION`` when a bus word it touches lies outside
        ``[region_base, region_end)`` (not for a gather, whose rows are checked as it runs).
        The region rule of each of the three opcodes (and of a packed ``READ_OMEM``, whose
        descriptor is one row of every beat) is computed from the ARG and REGION
        registers in two registered stages (see ``elaborate``): ``(rows - 1) * stride`` and the
        room ``region_end - addr - ceil(row_bytes / B) * B``, then ``end > region_end`` as
        ``product > room``."""
        cfg = self._cfg
        bb, shift = cfg.bus_bytes, clog2(cfg.bus_bytes)
        width = DMA_ADDR_WIDTH + 28      # signed room: addresses and row sizes of 24 bits
        over = {}
        # (the flags are known only with the CMD word: both READ_OMEM descriptors are ready;
        # LOAD_SMEM: count blocks of smem_bytes, back to back, golden.core_smem)
        smem_bytes = block_words(cfg) * bb
        for name, pack in (("LOAD_IMEM", 0), ("LOAD_WMEM", 0), ("READ_OMEM", 0),
                           ("READ_OMEM_PACK", 1), ("LOAD_SMEM", 0)):
            opc = Const(OPCODES[name.removesuffix("_PACK")], 8)
            if name == "LOAD_SMEM":
                rows, row_bytes, stride = f["count"], Const(smem_bytes), Const(smem_bytes)
            else:
                rows, row_bytes = mem_descriptor(m, cfg, opc, f, pack)
                stride = f["stride"]
            prod = Signal(DMA_ADDR_WIDTH + DMA_ROWS_BITS + 1, name=f"mem_prod_{name.lower()}")
            room = Signal(signed(width), name=f"mem_room_{name.lower()}")
            low = Signal(name=f"mem_low_{name.lower()}")
            m.d.sync += [prod.eq((rows - 1)[:len(rows)] * stride),
                         room.eq(region_end - f["addr"]
                                 - (((row_bytes + (bb - 1)) >> shift) << shift)),
                         low.eq(f["addr"] < region_base)]
            over[name] = Signal(name=f"mem_over_{name.lower()}")
            m.d.sync += over[name].eq(low | (room < 0) | (prod > room[:width - 1]))
        is_mem = _mem_op(op) & ((flags & (FLAGS["MEM"] >> 8)) != 0)
        smem = (op == OPCODES["LOAD_SMEM"]) | (op == OPCODES["STORE_SMEM"])
        out = Mux(op == OPCODES["LOAD_IMEM"], over["LOAD_IMEM"],
                  Mux(op == OPCODES["LOAD_WMEM"], over["LOAD_WMEM"],
                      Mux(op == OPCODES["LOAD_SMEM"], over["LOAD_SMEM"],
                          # a STORE_SMEM's count is known when it runs (hw/core_smem.py)
                          Mux(op == OPCODES["STORE_SMEM"], 0,
                              Mux(packed(op, flags), over["READ_OMEM_PACK"],
                                  over["READ_OMEM"])))))
        misaligned = ((f["addr"] | Mux(smem, 0, f["stride"])) & (bb - 1)) != 0
        both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
        gather = (op == OPCODES["LOAD_WMEM"]) & ((flags & both) == both)
        cause = Signal(8)
        m.d.comb += cause.eq(Mux(~is_mem, 0,
                             Mux(gather & (f["half"] == 3), CAUSES["BAD_FIELD"],
                             Mux(misaligned, CAUSES["DMA_ALIGN"],
                             Mux(~gather & out, CAUSES["DMA_REGION"], 0)))))
        return cause

    def elaborate(self, platform):
        cfg, rm = self._cfg, self._map
        R, S = cfg.rows, cfg.schedule_depth
        m = Module()
        m.submodules.axil = axil = AxiLiteSlave(addr_width=rm.addr_width)
        forward(m, axil, axil_members(rm.addr_width), self)

        # -- writes: the word holding the address; strobes per docs/core.md ------------------
        wa = Cat(Const(0, 2), axil.wr_addr[2:])
        strb = axil.wr_strb
        whole = Signal()
        m.d.comb += whole.eq(strb == 0xF)
        partial = (strb != 0) & ~whole
        args = [Signal(32, name=f"arg{i}") for i in range(6)]
        region = [self.region_base, self.region_end]
        # MEM commands being checked, queued (counted) or running: the region is locked
        mem_locked = Signal()
        in_region = (wa == REGISTERS["REGION_BASE"]) | (wa == REGISTERS["REGION_END"])
        for a, name in [*zip(args, (f"ARG{i}" for i in range(6))),
                        *zip(region, ("REGION_BASE", "REGION_END"))]:
            with m.If(axil.wr_en & (wa == REGISTERS[name])
                      & (~mem_locked if name.startswith("REGION") else 1)):
                m.d.sync += a.eq(Cat(*(Mux(strb[b], axil.wr_data[8 * b:8 * b + 8], a[8 * b:8 * b + 8])
                                       for b in range(4))))
        error, cause, err_cmd = self.error, Signal(8), Signal(32)
        cycles, done_count = Signal(32), Signal(32)
        m.d.sync += done_count.eq(done_count + self.done)
        with m.If(self.cycles_we):
            m.d.sync += cycles.eq(self.cycles)
        bytes_in, bytes_out = Signal(64), Signal(64)
        m.d.sync += [bytes_in.eq(bytes_in + self.in_beats * -(-rm.in_width // 8)
                              + self.mem_in_bytes),
                     bytes_out.eq(bytes_out + self.out_beats * -(-rm.out_width // 8)
                               + self.mem_out_bytes)]

        # -- command check and queue ----------------------------------------------------------
        # A CMD write takes two cycles before it is queued or refused: registered, then checked
        # (the opcode's checks and the master port's, registered with the command), then the
        # queue and error decision. Each stage is then off the others' paths and the AXI4-Lite
        # inputs' (the FPGA build's critical paths, docs/fpga.md). Writes are at least two
        # cycles apart (hw/axil.py: no write while bvalid), so the check sees the ARG registers
        # of its CMD and a CTRL write after the CMD acts after its decision (the last
        # statement below wins), as in program order.
        cmd_in, cmd_wr, cmd_word = Signal(), Signal(), Signal(32)
        m.d.comb += cmd_in.eq(axil.wr_en & (wa == REGISTERS["CMD"]) & whole)
        m.d.sync += cmd_wr.eq(cmd_in)
        with m.If(cmd_in):
            m.d.sync += cmd_word.eq(axil.wr_data)
        op, flags = cmd_word[0:8], cmd_word[8:16]
        entry = Signal(COMMAND)
        m.d.comb += entry.eq(Cat(op, flags, *args))
        bad = Signal(8)
        f = command_fields(entry)
        # The range rules whose products read only ARG (and REGION) registers are computed
        # from those registers ahead of the CMD write, in two registered stages (the products
        # and sums, then their comparisons), so that the check stage reads one flip-flop per
        # rule: no multiplier or long carry chain is behind the CMD word or in front of a
        # comparison (the FPGA build's critical paths, docs/fpga.md). Exact: writes are at least
        # two cycles apart (hw/axil.py takes no write while bvalid is set, and bvalid follows
        # every write), so an ARG / REGION register written before a CMD write at cycle t holds
        # its value from t - 1 on, its products are registered at t and its comparisons at
        # t + 1, the cycle the CMD is checked (the written word is registered at t, cmd_word).
        # WMEM range rule of GEMM and PREDICT: wbase + ceil(n_ch / cols) * kc > WMEM words
        # (n_blk: a GEMM's dense blocks, a PREDICT's WMEM rows of keys).
        w_prod = Signal(33)
        m.d.sync += w_prod.eq(((f["n_ch"] + (cfg.cols - 1)) // cfg.cols) * f["kc"])
        w_over = Signal()
        m.d.sync += w_over.eq(f["wbase"] + w_prod > cfg.words("wmem"))
        # PREDICT_PROJ's destination ranges: Q' (IMEM), dbase + ceil(n_ch / lanes), and K'
        # (WMEM), dbase + ceil((key_base + n_rows) / cols) * ceil(n_ch / lanes); the flag
        # picks one at the check
        kcp = (f["n_ch"] + (cfg.lanes - 1)) // cfg.lanes
        k_blk = (f["key_base"] + f["n_rows"] + (cfg.cols - 1)) // cfg.cols
        q_end, k_prod = Signal(18), Signal(34)
        m.d.sync += [q_end.eq(f["dbase"] + kcp), k_prod.eq(k_blk * kcp)]
        d_over = Signal(2)
        m.d.sync += d_over.eq(Cat(q_end > cfg.words("imem"),
                                  f["dbase"] + k_prod > cfg.words("wmem")))
        # the resident window's range, wbase + ceil(n_ch / (cols * merge_degree)) * kc > WMEM
        # words (GEMM with RESIDENT), in the same two stages
        n_cls = (f["n_ch"] + (cfg.cols * cfg.merge_degree - 1)) // (cfg.cols * cfg.merge_degree)
        r_prod = Signal(33)
        m.d.sync += r_prod.eq(n_cls * f["kc"])
        r_over = Signal()
        m.d.sync += r_over.eq(f["wbase"] + r_prod > cfg.words("wmem"))
        self._check(m, op, flags, f, bad, w_over, d_over, r_over)
        # MEM commands (master port): alignment and region after the opcode's own checks
        mem_bad = self._mem_cause(m, op, flags, f, *region)
        chk_on, chk_bad, chk_entry, chk_word = Signal(), Signal(8), Signal(COMMAND), Signal(32)
        m.d.sync += [chk_on.eq(cmd_wr), chk_entry.eq(entry), chk_word.eq(cmd_word),
                     chk_bad.eq(Mux(bad != 0, bad, mem_bad))]
        m.submodules.queue = queue = SyncFIFOBuffered(width=COMMAND.size, depth=QUEUE_DEPTH)
        refuse = Signal(8)
        m.d.comb += [refuse.eq(Mux(chk_bad != 0, chk_bad,
                                   Mux(queue.w_rdy, 0, CAUSES["QUEUE_FULL"]))),
                     queue.w_data.eq(chk_entry),
                     queue.w_en.eq(chk_on & ~error & (refuse == 0)),
                     self.cmd.payload.eq(queue.r_data), self.cmd.valid.eq(queue.r_rdy),
                     queue.r_en.eq(self.cmd.ready)]
        # MEM commands in the check stages and the queue (hw/core_dma.py's flag rule)
        mem_bit = FLAGS["MEM"] >> 8
        is_mem = Signal()
        m.d.comb += is_mem.eq(_mem_op(op) & ((flags & mem_bit) != 0))
        chk_mem = Signal()
        mem_q = Signal(range(QUEUE_DEPTH + 2))
        m.d.sync += [chk_mem.eq(cmd_wr & is_mem),
                     mem_q.eq(mem_q + (queue.w_en & chk_mem)
                              - (queue.r_en & queue.r_rdy
                                 & ((self.cmd.payload.flags & mem_bit) != 0)))]
        m.d.comb += mem_locked.eq((cmd_wr & is_mem) | (chk_on & chk_mem) | (mem_q != 0)
                                  | self.mem_busy)
        with m.If(chk_on & ~error & (refuse != 0)):
            m.d.sync += [error.eq(1), cause.eq(refuse), err_cmd.eq(chk_word)]
        with m.If(axil.wr_en & (wa == REGISTERS["CTRL"]) & whole & axil.wr_data[0]):
            m.d.sync += [error.eq(0), cause.eq(0)]
        with m.If(self.fail & ~error):
            m.d.sync += [error.eq(1), cause.eq(self.fail_cause), err_cmd.eq(self.fail_cmd)]

        # -- mask window writes -----------------------------------------------------------------
        mw, ms, ss = rm.mask_words, rm.mask_stride, rm.smem_stride
        mask_end = rm.mask_base + rm.channels * ms * 4
        smem_end = rm.smem_base + S * ss * 4
        in_mask_w = (wa >= rm.mask_base) & (wa < mask_end)
        in_smem_w = (wa >= rm.smem_base) & (wa < smem_end)
        w_word = (wa - rm.mask_base) >> 2
        w_chunk = w_word % ms if ms > 1 else Const(0, 1)
        staging = Signal(max(1, (mw - 1) * 32))
        m.d.comb += [self.mask_ch.eq(w_word // ms),
                     self.mask_cv.eq(Cat(staging[:(mw - 1) * 32] if mw > 1 else Const(0, 0),
                                         axil.wr_data)[:R]),
                     self.mask_we.eq(axil.wr_en & whole & in_mask_w & (w_chunk == mw - 1))]
        for i in range(mw - 1):
            with m.If(axil.wr_en & whole & in_mask_w & (w_chunk == i)):
                m.d.sync += staging[i * 32:(i + 1) * 32].eq(axil.wr_data)

        # write responses: DECERR where nothing is mapped, SLVERR for a read-only register or
        # window and for some-but-not-all strobes where a write acts on whole words
        merged = Cat(*(wa == REGISTERS[n] for n in MERGED_REGISTERS)).any()
        word = Cat(*(wa == REGISTERS[n] for n in WORD_REGISTERS)).any() | in_mask_w
        ro = Cat(*(wa == a for n, a in REGISTERS.items()
                   if n not in MERGED_REGISTERS + WORD_REGISTERS)).any() | in_smem_w
        m.d.comb += axil.wr_resp.eq(Mux(merged, Mux(in_region & mem_locked, RESPONSES["SLVERR"],
                                                    RESPONSES["OKAY"]),
                                    Mux(word, Mux(partial, RESPONSES["SLVERR"], RESPONSES["OKAY"]),
                                    Mux(ro, RESPONSES["SLVERR"], RESPONSES["DECERR"]))))

        # -- reads: windows through the memories' read ports, registers by address ------------
        ra = Cat(Const(0, 2), axil.rd_addr[2:])
        m.d.comb += [self.mask_raddr.eq((((ra - rm.mask_base) >> 2) // ms) // CAU_BEAT),
                     self.smem_raddr.eq(((ra - rm.smem_base) >> 2) // ss)]
        ra_q = Signal.like(ra)
        rd_q = Signal()
        m.d.sync += [rd_q.eq(axil.rd_en), ra_q.eq(ra)]
        m.d.comb += axil.rd_ack.eq(rd_q)
        q_word = (ra_q - rm.mask_base) >> 2
        q_ch = q_word // ms
        q_chunk = q_word % ms if ms > 1 else Const(0, 1)
        mask_cv = (self.mask_rdata >> ((q_ch % CAU_BEAT) * R))[:R]
        s_word = (ra_q - rm.smem_base) >> 2
        s_chunk = s_word % ss if ss > 1 else Const(0, 1)
        status = Cat(queue.r_rdy | self.busy_load | self.busy_exec | self.busy_read, error,
                     self.busy_load, self.busy_exec, self.busy_read, ~queue.w_rdy, Const(0, 2),
                     queue.level)
        fixed = {
            "ID": ID_VALUE, "STATUS": status, "CAUSE": cause, "CYCLES": cycles,
            "BLOCKS": self.blocks, "DONE": done_count, "ERR_CMD": err_cmd,
            "BUSY_CYCLES": self.busy_cycles, "CAU_BESIDE": self.cau_beside,
            "BLOCKS_H1": self.blocks_half[:16], "BLOCKS_H2": self.blocks_half[16:],
            "SCHED_CYCLES": self.sched_cycles, "PROJ_SAT": self.proj_sat,
            "BYTES_IN_LO": bytes_in[:32], "BYTES_IN_HI": bytes_in[32:],
            "BYTES_OUT_LO": bytes_out[:32], "BYTES_OUT_HI": bytes_out[32:],
            **{f"ARG{i}": args[i] for i in range(6)},
            "REGION_BASE": region[0], "REGION_END": region[1],
            "MEM_RD_CYCLES": self.mem_rd_cycles, "MEM_WR_CYCLES": self.mem_wr_cycles,
            "SMEM_LD_CYCLES": self.smem_ld_cycles, "SMEM_ST_CYCLES": self.smem_st_cycles,
            "DOMINANT_LO": self.dominant[:32], "DOMINANT_HI": self.dominant[32:],
            "SKIP_K_LO": self.skip_k[:32], "SKIP_K_HI": self.skip_k[32:],
            "SKIP_V_LO": self.skip_v[:32], "SKIP_V_HI": self.skip_v[32:],
            **rm.config_registers(),
        }
        mapped = (Cat(*(ra_q == a for a in REGISTERS.values())).any()
                  | ((ra_q >= rm.mask_base) & (ra_q < mask_end))
                  | ((ra_q >= rm.smem_base) & (ra_q < smem_end)))
        m.d.comb += axil.rd_resp.eq(Mux(mapped, RESPONSES["OKAY"], RESPONSES["DECERR"]))
        with m.If((ra_q >= rm.mask_base) & (ra_q < mask_end)):
            m.d.comb += axil.rd_data.eq((mask_cv.as_unsigned() >> (q_chunk * 32))[:32])
        with m.Elif((ra_q >= rm.smem_base) & (ra_q < smem_end)):
            m.d.comb += axil.rd_data.eq((self.smem_rdata >> (s_chunk * 32))[:32])
        with m.Else():
            with m.Switch(ra_q):
                for name, value in fixed.items():
                    with m.Case(REGISTERS[name]):
                        m.d.comb += axil.rd_data.eq(value)
        return m
