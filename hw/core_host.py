"""The host interface: AXI4-Lite registers, the command check and the command queue.

Contract (the host's view is ``docs/core.md``; every name is :mod:`exion.regmap`):

* Registers: ``ARG0..ARG5`` hold what the host writes; a write of ``CMD`` checks the command
  in the next cycle and queues or refuses it in the one after (opcode, fields against this
  configuration, hw/core_check.py; the first failing check gives the cause) and
  either queues it (``QUEUE_DEPTH`` entries, in order; the head is ``cmd``, taken when
  ``cmd.ready``; it leaves the queue the cycle after, ``cmd.valid`` low then) or refuses it: ``error`` rises with ``CAUSE`` and ``ERR_CMD``. While
  ``error`` is set every command is refused; ``CTRL.clear_error`` clears it.
* ``fail`` reports an error found later (at dispatch or run time) with its cause and
  command word; it is registered, and kept (``error`` rises the cycle after; ``STATUS.busy`` is
  set in between) only if no error is set.
* Status and result registers are inputs (``busy_*``, ``cycles``, ``blocks``, ...); ``DONE``
  counts the ``done`` strobes.
* The mask window writes a channel's conflict vector through ``mask_we`` (a multi-word
  vector when its last word is written); the mask and SMEM windows read through
  ``mask_raddr`` / ``smem_raddr`` (data one cycle later).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from exion.regmap import (CAUSES, FLAGS, ID_VALUE, MERGED_REGISTERS, QUEUE_DEPTH, REGISTERS,
                          RESPONSES, WORD_REGISTERS, RegisterMap)

from .axil import AxiLiteSlave, axil_members
from .core_check import command_cause, mem_cause, mem_op
from .core_cmd import COMMAND, command_fields, command_stream
from .library import forward
from .sdue import block_layout

__all__ = ["HostInterface"]


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
        # The engines' strobes and counts (done, CYCLES, stream beats, master-port bytes) are
        # registered before the counters add them: they come from deep in the engines (the
        # unpackers' ready logic, the drain's end), and the counters' adders and carry chains
        # then start at flip-flops (the FPGA build's timing, docs/fpga.md). A count lands a
        # cycle later; ``pend`` holds STATUS.busy meanwhile, so a host that sees the core idle
        # reads every count.
        done, cycles_we, cycles_in = Signal(3), Signal(), Signal(32)
        in_beats, out_beats = Signal(2), Signal()
        mem_in, mem_out = Signal(16), Signal(16)
        pend = Signal()
        m.d.sync += [done.eq(self.done), cycles_we.eq(self.cycles_we),
                     cycles_in.eq(self.cycles),
                     in_beats.eq(self.in_beats), out_beats.eq(self.out_beats),
                     mem_in.eq(self.mem_in_bytes), mem_out.eq(self.mem_out_bytes),
                     pend.eq((self.done != 0) | self.cycles_we | (self.in_beats != 0)
                             | self.out_beats | (self.mem_in_bytes != 0)
                             | (self.mem_out_bytes != 0))]
        cycles, done_count = Signal(32), Signal(32)
        m.d.sync += done_count.eq(done_count + done)
        with m.If(cycles_we):
            m.d.sync += cycles.eq(cycles_in)
        bytes_in, bytes_out = Signal(64), Signal(64)
        # (beats times the beat's bytes as multiplexed constants: a product with a constant
        # maps to a MULT18X18D in the FPGA build)
        ib, ob = -(-rm.in_width // 8), -(-rm.out_width // 8)
        m.d.sync += [bytes_in.eq(bytes_in + Mux(in_beats[1], 2 * ib, 0) + Mux(in_beats[0], ib, 0)
                                 + mem_in),
                     bytes_out.eq(bytes_out + Mux(out_beats, ob, 0) + mem_out)]

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
        command_cause(m, cfg, op, flags, f, bad, w_over, d_over, r_over)
        # MEM commands (master port): alignment and region after the opcode's own checks
        mem_bad = mem_cause(m, cfg, op, flags, f, *region)
        chk_on, chk_bad, chk_entry, chk_word = Signal(), Signal(8), Signal(COMMAND), Signal(32)
        m.d.sync += [chk_on.eq(cmd_wr), chk_entry.eq(entry), chk_word.eq(cmd_word),
                     chk_bad.eq(Mux(bad != 0, bad, mem_bad))]
        m.submodules.queue = queue = SyncFIFOBuffered(width=COMMAND.size, depth=QUEUE_DEPTH)
        refuse = Signal(8)
        # the head leaves the queue the cycle after its take (``r_taken``; ``cmd.valid`` is low
        # then): the queue's output register, a command wide, loads on a flip-flop's enable
        # instead of the dispatcher's and the engines' ready logic (the FPGA build's timing,
        # docs/fpga.md); the dispatcher offers no command in that cycle anyway
        r_taken = Signal()
        m.d.sync += r_taken.eq(self.cmd.valid & self.cmd.ready)
        m.d.comb += [refuse.eq(Mux(chk_bad != 0, chk_bad,
                                   Mux(queue.w_rdy, 0, CAUSES["QUEUE_FULL"]))),
                     queue.w_data.eq(chk_entry),
                     queue.w_en.eq(chk_on & ~error & (refuse == 0)),
                     self.cmd.payload.eq(queue.r_data),
                     self.cmd.valid.eq(queue.r_rdy & ~r_taken),
                     queue.r_en.eq(r_taken)]
        # MEM commands in the check stages and the queue (hw/core_dma.py's flag rule)
        mem_bit = FLAGS["MEM"] >> 8
        is_mem = Signal()
        m.d.comb += is_mem.eq(mem_op(op) & ((flags & mem_bit) != 0))
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
        # a later error is registered first: its sources are deep in the engines (the
        # dispatcher's drop, the gather's range check, the master port's faults), and error,
        # CAUSE and ERR_CMD then load from flip-flops (the FPGA build's timing, docs/fpga.md);
        # it raises error a cycle later, which nothing compares (run-time faults refuse the
        # commands written after them as time decides, docs/core-model.md)
        fail, fail_cause, fail_cmd = Signal(), Signal(8), Signal(32)
        m.d.sync += [fail.eq(self.fail), fail_cause.eq(self.fail_cause),
                     fail_cmd.eq(self.fail_cmd)]
        with m.If(fail & ~error):
            m.d.sync += [error.eq(1), cause.eq(fail_cause), err_cmd.eq(fail_cmd)]

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
        # (busy while a later error or a count is registered: an engine that faults or
        # finishes is idle the cycle before error rises or the count lands, and a host that
        # sees the core idle sees them)
        status = Cat(queue.r_rdy | self.busy_load | self.busy_exec | self.busy_read | fail
                     | pend,
                     error,
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
