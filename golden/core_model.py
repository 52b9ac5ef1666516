"""Command-level model of the EXION core (hw/core.py, docs/core.md): the same outputs, status,
cause codes and ``CYCLES`` as the RTL, command by command, in numpy.

A command goes through the same two steps as in the RTL:

1. **issue** (:meth:`CoreModel.issue`, or :meth:`CoreModel.write` of ``CMD``): while
   ``error`` is set it is dropped; else the checks of :data:`golden.core_checks.CHECKS` run and
   a failing one sets ``error``, ``CAUSE`` and ``ERR_CMD``; a good one is queued.
2. **execution** (:meth:`CoreModel.run`): queued commands run in program order.
   :data:`golden.core_checks.DISPATCH_CHECKS` apply first (a failing command is dropped).
   A load waits until its stream (:meth:`CoreModel.push_imem` / :meth:`push_wmem`) holds all
   its beats; the commands behind it wait too.

Program order is what the RTL's results equal: its dispatcher holds back any command whose
buffer another engine is using (docs/core.md, "Ordering and overlap"). What the model does
not have is time: ``STATUS.queue_full`` depends on how fast engines drain, so the caller says
when the RTL's queue was full (``queue_full=True``); host mask writes racing an engine that
writes the mask are the host's responsibility in the RTL and are applied in call order here.

The opcodes are a table (:data:`OPS`): an :class:`Op` says which stream a command consumes
and how many beats, and what it does to the state. A new command adds a row here and its
checks to :mod:`golden.core_checks`. Results come from the golden functions
(``golden.intsem``, ``golden.ffn_reuse``, ``golden.eager``, ``golden.conmerge``,
``golden.schedule``), ``CYCLES`` from ``golden.cycle_model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from exion.config import ExionConfig
from exion.formats import shift_add_acc_width
from exion.limits import CAU_BEAT, MAX_HEAD_DIM
from exion.regmap import CAUSES, ID_VALUE, OPCODES, REGISTERS, STATUS_BITS, mask_half, smem_half
from exion.regmap import FLAGS

from . import (conmerge, core_cfse, core_gather, core_mem, core_smem, cycle_model, eager,
               ffn_reuse, intsem, sdue)
from .core_checks import DISPATCH_CHECKS, Command, Limits, decode, first_failure
from .core_state import CoreState, Registers, bits_of, bits_of_rows
from .schedule import unpack_block

__all__ = ["CoreModel", "Op", "OPS", "Outcome"]

_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Outcome:
    """What one executed (or dropped) command did.

    Members
    -------
    cmd : Command
    ran : bool
        False: dropped by a dispatch check.
    frame : numpy.ndarray or None
        ``READ_OMEM``: ``(count, rows)`` outputs (beat i = address ``base + i``).
    fault : str or None
        The cause a dispatch check or the run raised (``ADDR_RANGE``, ``SMEM_OVERFLOW``),
        whether or not ``error`` was already set.
    """

    cmd: Command
    ran: bool
    frame: np.ndarray | None = None
    fault: str | None = None


@dataclass(frozen=True)
class Op:
    """One row of the opcode table.

    Members
    -------
    stream : str or None
        ``"imem"`` / ``"wmem"``: the input stream the command consumes.
    beats : callable (model, cmd) -> int
        Beats it takes from that stream.
    execute : callable (model, cmd, beats) -> numpy.ndarray or None
        Applies the command; returns a ``READ_OMEM`` frame.
    counts : bool
        Whether ``DONE`` counts it.
    """

    stream: str | None
    beats: Callable
    execute: Callable
    counts: bool = True


class CoreModel:
    """The core at command level.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    cfg : ExionConfig
    state : CoreState
        Memories, registers, queue, streams (golden/core_state.py).
    limits : Limits
    executed : int
        Commands run (or dropped at dispatch) since construction.
    port : golden.core_mem.MemPort
        The memory on the master port (``MEM`` commands; empty until the caller sets it).
    """

    def __init__(self, cfg: ExionConfig):
        self.cfg = cfg
        self.state = CoreState(cfg)
        self.limits = Limits.of(cfg)
        self.executed = 0
        self._staging: dict[int, int] = {}     # mask-window words of a multi-word vector
        self._fault: str | None = None
        self.port = core_mem.MemPort()
        # decoded commands and their issue checks by (ARG0..ARG5, CMD, region): both depend
        # on nothing else, and a host issues the same few hundred commands again and again
        self._decoded: dict = {}

    # -- host interface --------------------------------------------------------------------
    @property
    def regs(self) -> Registers:
        return self.state.regs

    def issue(self, args, word: int, *, queue_full: bool = False) -> int:
        """Write ``ARG0..ARG5`` = ``args`` (a sequence, or the dict of
        :func:`exion.regmap.encode`) and ``CMD`` = ``word``. Returns the cause of a refusal
        (0: queued, or dropped because ``error`` was already set; see :attr:`regs`)."""
        if isinstance(args, dict):
            args = [args.get(f"ARG{i}", 0) for i in range(6)]
        self.state.regs.args = [int(a) & _MASK32 for a in args]
        return self._cmd(int(word) & _MASK32, queue_full)

    @property
    def region_locked(self) -> bool:
        """A ``MEM`` command waits in the queue (issued, not yet run): a write to
        ``REGION_BASE`` / ``REGION_END`` is refused (``SLVERR`` in the RTL, the register
        unchanged). The RTL also locks the region while such a command runs, which the model,
        without time, cannot see: once :meth:`run` has run it, the caller writes the region
        when the core is idle."""
        return any(c.mem for c in self.state.queue)

    def write(self, addr, value: int, *, queue_full: bool = False) -> int:
        """An AXI4-Lite write (register name or byte address): ARGn, CMD, CTRL, the mask
        window, ``REGION_BASE`` / ``REGION_END`` unless :attr:`region_locked`; anything else
        is ignored, as in the RTL. Returns the refusal cause of a CMD."""
        addr = REGISTERS[addr] if isinstance(addr, str) else int(addr)
        value = int(value) & _MASK32
        regs, m = self.state.regs, self.state.map
        for i in range(6):
            if addr == REGISTERS[f"ARG{i}"]:
                regs.args[i] = value
        if addr == REGISTERS["REGION_BASE"] and not self.region_locked:
            regs.region_base = value
        if addr == REGISTERS["REGION_END"] and not self.region_locked:
            regs.region_end = value
        if addr == REGISTERS["CMD"]:
            return self._cmd(value, queue_full)
        if addr == REGISTERS["CTRL"] and value & 1:
            regs.error, regs.cause = 0, 0
        mask_end = m.mask_base + 4 * m.channels * m.mask_stride
        if m.mask_base <= addr < mask_end:
            word = (addr - m.mask_base) >> 2
            ch, chunk = divmod(word, m.mask_stride)
            if chunk < m.mask_words:
                self._staging[chunk] = value
            if chunk == m.mask_words - 1:
                cv = sum(self._staging.get(i, 0) << (32 * i) for i in range(m.mask_words))
                self.state.write_mask_cv(ch, cv)
        return 0

    def reset(self) -> None:
        """``rst``: registers, queue, streams and the mask-window staging reset; memories keep
        their contents."""
        self.state.reset()
        self._staging.clear()

    def clear_error(self) -> None:
        self.write("CTRL", 1)

    def push_imem(self, beats) -> None:
        """Lane vectors ``(n, lanes)`` sent on ``s_axis_imem``."""
        self.state.imem_in.extend(beats)

    def push_wmem(self, beats) -> None:
        """Lane vectors ``(n, lanes)`` sent on ``s_axis_wmem``."""
        self.state.wmem_in.extend(beats)

    def read(self, addr) -> int:
        """An AXI4-Lite read of a register (name or address) or of the mask / SMEM windows
        (STATUS as :meth:`CoreState.status` knows it)."""
        addr = REGISTERS[addr] if isinstance(addr, str) else int(addr)
        st, m = self.state, self.state.map
        if m.mask_base <= addr < m.mask_base + 4 * m.channels * m.mask_stride:
            ch, chunk = divmod((addr - m.mask_base) >> 2, m.mask_stride)
            return (st.mask_cv(ch) >> (32 * chunk)) & _MASK32
        if m.smem_base <= addr < m.smem_base + 4 * self.cfg.schedule_depth * m.smem_stride:
            b, chunk = divmod((addr - m.smem_base) >> 2, m.smem_stride)
            return (st.smem[b] >> (32 * chunk)) & _MASK32
        regs = st.regs.as_dict()
        name = next((n for n, a in REGISTERS.items() if a == addr), None)
        if name == "STATUS":
            s = st.status()
            return sum(s[k] << b for k, b in STATUS_BITS.items()) | (s["level"] & 0xFF) << 8
        if name == "ID":
            return ID_VALUE
        if name in regs:
            return regs[name]
        return m.config_registers().get(name, 0)

    # -- issue -----------------------------------------------------------------------------
    def _cmd(self, word: int, queue_full: bool) -> int:
        regs = self.state.regs
        if regs.error:
            return 0
        key = (*regs.args, word, regs.region_base, regs.region_end)
        hit = self._decoded.get(key)
        if hit is None:
            cmd = decode(regs.args, word)
            hit = cmd, first_failure(cmd, self.limits, (regs.region_base, regs.region_end))
            if len(self._decoded) > 1 << 16:
                self._decoded.clear()
            self._decoded[key] = hit
        cmd, bad = hit
        if bad is None and queue_full:
            bad = "QUEUE_FULL"
        if bad is not None:
            regs.error, regs.cause, regs.err_cmd = 1, CAUSES[bad], word
            return CAUSES[bad]
        self.state.queue.append(cmd)
        return 0

    def _fail(self, cause: str, err_cmd: int) -> None:
        regs = self.state.regs
        if not regs.error:
            regs.error, regs.cause, regs.err_cmd = 1, CAUSES[cause], err_cmd

    # -- execution -------------------------------------------------------------------------
    def run(self) -> list[Outcome]:
        """Execute queued commands in order until the queue is empty or a load lacks beats."""
        st, done = self.state, []
        while st.queue:
            cmd = st.queue[0]
            op = OPS[cmd.op]
            # (half 3 only as junk in a command that does not read it: a plain LOAD_WMEM)
            blocks = st.regs.blocks_of(cmd.half) if cmd.half < 3 else 0
            late = next((c for c in DISPATCH_CHECKS.get(cmd.op, ())
                         if c.fails(cmd, self.limits, blocks)), None)
            if late is not None:
                st.queue.popleft()
                self._fail(late.cause, cmd.word & 0xFFFF)
                done.append(Outcome(cmd, False, fault=late.cause))
                self.executed += 1
                continue
            beats = None
            if op.stream is not None and not cmd.mem:
                fifo = st.imem_in if op.stream == "imem" else st.wmem_in
                n = op.beats(self, cmd)
                if len(fifo) < n:
                    break
                beats = fifo.take(n)
            st.queue.popleft()
            self._fault = None
            frame = op.execute(self, cmd, beats)
            if op.counts and not (cmd.mem and self._fault):     # a master-port fault: no DONE
                st.regs.done = (st.regs.done + 1) & _MASK32
            done.append(Outcome(cmd, True, frame, self._fault))
            if frame is not None:
                st.out.append(frame)
            self.executed += 1
        return done

    def step(self, args, word: int, *, imem=None, wmem=None) -> tuple[int, list[Outcome]]:
        """Issue one command, push its stream data, run: ``(refusal cause, outcomes)``."""
        cause = self.issue(args, word)
        if imem is not None:
            self.push_imem(imem)
        if wmem is not None:
            self.push_wmem(wmem)
        return cause, self.run()

    # -- the engines ----------------------------------------------------------------------
    def _load_imem(self, c: Command, beats):
        st, k = self.state, self.limits
        if c.mem:
            for i, v in enumerate(self._mem_load(c)):       # bank by bank, word by word
                st.imem[c.ibuf, i // c.count, c.base + i % c.count] = v
            return
        st.regs.bytes_in += len(beats) * k.lane_bytes
        data = beats.reshape(k.rows, c.count, self.cfg.lanes)       # bank by bank, word by word
        st.imem[c.ibuf, :, c.base:c.base + c.count, :] = data

    def _streams(self, c: Command) -> int:
        return c.streams or self.limits.merge_degree

    def _load_wmem(self, c: Command, beats):
        k, s = self.limits, self._streams(c)
        if c.gather:
            return self._gather(c)
        if c.mem:
            for i, v in enumerate(self._mem_load(c)):       # bank, stream, word
                row, w = divmod(i, c.count)
                self.state.wmem[c.wbuf, row // s, c.base + w, row % s] = v
            return
        self.state.regs.bytes_in += len(beats) * k.lane_bytes
        data = beats.reshape(k.cols, s, c.count, self.cfg.lanes)    # bank, stream, word
        self.state.wmem[c.wbuf, :, c.base:c.base + c.count, :s, :] = data.transpose(0, 2, 1, 3)

    def _gather(self, c: Command):
        """``LOAD_WMEM`` with ``MEM`` and ``GATHER``: ``golden.sdue.wmem_image`` of the blocks
        of its SMEM part (``RESIDENT``: of the identity window of ``n_ch`` channels,
        ``golden.core_gather.resident_blocks``), fetched row by row
        (:func:`golden.core_gather.gather`)."""
        st, k, cfg = self.state, self.limits, self.cfg
        if c.resident:      # the identity window: the resident layout of channels 0..n_ch-1
            blocks = core_gather.resident_blocks(c.n_ch, k.rows, k.cols, k.merge_degree)
            n_blocks = len(blocks)
        else:
            n_blocks = st.regs.blocks_of(c.half)
            first, _ = smem_half(cfg.schedule_depth, c.half)
            blocks = []
            for b in range(first, first + n_blocks):
                if st.smem_blocks[b] is None:
                    st.smem_blocks[b] = unpack_block(st.smem[b], cfg)
                blocks.append(st.smem_blocks[b])
        g = core_gather.gather(self.port, blocks, c.addr, c.stride, c.count,
                            (st.regs.region_base, st.regs.region_end), k.cols,
                            k.merge_degree, k.bus_bytes, k.lane_bytes)
        st.regs.bytes_in += g.words * k.bus_bytes
        n = c.count * n_blocks                     # words per bank and stream
        for i, v in enumerate(g.items):            # bank, stream, word
            row, w = divmod(i, n)
            st.wmem[c.wbuf, row // k.merge_degree, c.base + w, row % k.merge_degree] = \
                core_mem.unpack_lanes(v, cfg.data_width, cfg.lanes)
        if g.fault is None:
            st.regs.mem_rd_cycles = g.cycles
        self._mem_fault(c, g.fault)

    def _read_omem(self, c: Command, beats):
        frame = self.state.omem[c.obuf, :, c.base:c.base + c.count].T.copy()
        if not c.mem:
            self.state.regs.bytes_out += c.count * self.limits.out_bytes
            return frame
        self._mem_fault(c, core_mem.mem_read(self.port, c, self.limits, frame,
                                             self.cfg.data_width, self.state.regs))
        return None

    def _mem_load(self, c: Command) -> list:
        """Lane vectors a ``MEM`` load writes (stream order; fewer after a bus fault)."""
        vectors, fault = core_mem.mem_load(self.port, c, self.limits, self.cfg.data_width,
                                           self.cfg.lanes, self.state.regs)
        self._mem_fault(c, fault)
        return vectors

    def _mem_fault(self, c: Command, fault: str | None):
        if fault:
            self._fault = fault
            self._fail(fault, c.word & 0xFFFF)

    def _operands(self, c: Command, n: int):
        """IMEM rows (rows, kc * lanes) and the dense-layout weight columns of channels
        ``0..n-1`` (kc * lanes, n): channel j in bank j % cols, words wbase + (j // cols) kc..,
        stream 0 (dense GEMM and PREDICT)."""
        k, L = self.limits, self.cfg.lanes
        st = self.state
        i0 = c.ibase if c.op == "GEMM" else 0       # PREDICT reads from word 0
        x = st.imem[c.ibuf, :, i0:i0 + c.kc, :].reshape(k.rows, c.kc * L)
        j = np.arange(n)
        words = c.wbase + (j // k.cols)[:, None] * c.kc + np.arange(c.kc)[None, :]
        w = st.wmem[c.wbuf, (j % k.cols)[:, None], words, 0, :]      # (n, kc, lanes)
        return x, w.reshape(n, c.kc * L).T

    def _requant(self, x, w, shift):
        acc = intsem.int_matmul(x, w, self.cfg.lanes, self.cfg.acc_width)
        return intsem.requantize(acc, shift, self.cfg.data_width)

    def _gemm(self, c: Command, beats):
        st, k, cfg = self.state, self.limits, self.cfg
        if c.sparse:
            self._gemm_sparse(c)
            return None
        x, w = self._operands(c, c.n_ch)
        y = self._requant(x[:c.n_rows], w, c.shift)
        st.omem[c.obuf, :c.n_rows, c.ch_base:c.ch_base + c.n_ch] = y
        if c.ffn:
            keep = np.zeros((k.rows, c.n_ch), bool)
            keep[:c.n_rows] = ffn_reuse.keep_mask_int(y, c.th_hi, c.th_lo)
            m0 = self._mask_first(c) + c.ch_base
            st.mask[m0:m0 + c.n_ch] = keep.T
        st.regs.cycles = cycle_model.compute_cycles(k.dense_blocks(c.n_ch), c.kc * cfg.lanes, cfg)
        return None

    def _gemm_sparse(self, c: Command):
        st, k, cfg = self.state, self.limits, self.cfg
        L, D = cfg.lanes, cfg.merge_degree
        n_blocks = st.regs.blocks_of(c.half)
        first, _ = smem_half(cfg.schedule_depth, c.half)
        x = st.imem[c.ibuf, :, c.ibase:c.ibase + c.kc, :].reshape(k.rows, c.kc * L)
        for b in range(n_blocks):
            blk = st.smem_blocks[first + b]
            if blk is None:
                blk = st.smem_blocks[first + b] = unpack_block(st.smem[first + b], cfg)
            # RESIDENT: each stream at its slot's class of the window (golden.sdue)
            w, ok = sdue.block_weights(st.wmem[c.wbuf], blk.slots, c.wbase, c.kc, cfg,
                                       block=b, resident=c.resident, n_ch=c.n_ch)
            y = self._requant(x, w, c.shift)                             # (rows, cols * D)
            r, col = np.nonzero(blk.sel)
            d = blk.sel[r, col] - 1
            if c.resident:      # a sel naming an idle stream (or none) writes nothing
                on = d < D
                on[on] = ok[col[on], d[on]]
                r, col, d = r[on], col[on], d[on]
            st.omem[c.obuf, r, blk.slots[col, d]] = y[r, col * D + d]
        st.regs.cycles = cycle_model.compute_cycles(n_blocks, c.kc * L, cfg)

    def _mask_first(self, c: Command) -> int:
        """First mask channel of the part ``c.mhalf`` names (``exion.regmap.mask_half``)."""
        return mask_half(self.limits.channels, c.mhalf)[0]

    def _schedule(self, c: Command, beats):
        st, cfg = self.state, self.cfg
        m0 = self._mask_first(c)
        mask = st.mask[m0:m0 + c.n_ch].T                                  # (rows, n_ch)
        resident = bool(c.word & FLAGS["RESIDENT"])     # the resident rule
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none", resident=resident)
        words = sched.words()
        first, size = smem_half(cfg.schedule_depth, c.half)
        n = min(len(words), size)
        st.smem[first:first + n] = words[:n]
        st.smem_blocks[first:first + n] = sched.blocks[:n]
        cvs = bits_of_rows(st.mask[m0:m0 + c.n_ch])
        cycles = cycle_model.schedule_cycles(cvs, CAU_BEAT, cfg, resident=resident)
        st.regs.sched_cycles = cycles
        if c.half == 0:
            st.regs.blocks, st.regs.cycles = n, cycles
        else:       # a split SCHEDULE runs beside a GEMM: it leaves CYCLES to the GEMMs
            st.regs.blocks_half[c.half - 1] = n
        if len(words) > n:
            self._fault = "SMEM_OVERFLOW"
            self._fail("SMEM_OVERFLOW", OPCODES["SCHEDULE"])

    def _predict(self, c: Command, beats):
        st, k, cfg = self.state, self.limits, self.cfg
        n = c.n_keys
        x, w = self._operands(c, n)
        s = eager.shift_add_matmul(x[:c.n_rows], w, cfg.lod_steps)
        width = self._score_width()
        q_th = c.q_th & ((1 << width) - 1)          # the selector's q_th input is that wide
        keep_r, dom_r = eager.select(s, q_th, min(c.topk, n) / n)
        keep = np.zeros((k.rows, n), bool)
        dom = np.zeros(k.rows, bool)
        keep[:c.n_rows], dom[:c.n_rows] = keep_r, dom_r
        words = -(-n // CAU_BEAT)
        m0 = self._mask_first(c)
        st.mask[m0:m0 + words * CAU_BEAT] = False   # whole mask words are written
        st.mask[m0:m0 + n] = keep.T
        _, skip_k, skip_v = eager.skippable_rows(keep, dom)
        st.regs.dominant = bits_of(dom)
        st.regs.skip_k = bits_of(skip_k)
        st.regs.skip_v = bits_of(skip_v)
        st.regs.cycles = cycle_model.predict_cycles(
            n, c.kc, CAU_BEAT, operand_stages=self.cfg.operand_stages)

    def _predict_proj(self, c: Command, beats):
        """Q' or K' = requantize(shift_add_matmul(X, W), shift): X = IMEM ``ibuf`` rows, W = the
        dense-layout columns of channels ``0 .. n_ch - 1`` (PREDICT's key layout); each row's
        ``n_ch`` outputs as ``ceil(n_ch / lanes)`` lane vectors (zero past ``n_ch``) into IMEM
        ``dbuf`` bank ``r`` words ``dbase ..`` (Q') or, with ``KEYS``, as key ``key_base + r``
        of WMEM ``dbuf`` (bank ``j % cols``, words ``dbase + (j // cols) * kcp ..``, stream 0;
        the other streams keep their contents)."""
        st, k, cfg = self.state, self.limits, self.cfg
        L, W = cfg.lanes, cfg.data_width
        x, w = self._operands(c, c.n_ch)
        acc = eager.shift_add_matmul(x[:c.n_rows], w, cfg.lod_steps)
        y = intsem.requantize(acc, c.shift, W)
        kcp = -(-c.n_ch // L)
        vec = np.zeros((c.n_rows, kcp * L), np.int64)
        vec[:, :c.n_ch] = y
        vec = vec.reshape(c.n_rows, kcp, L)
        if c.keys:
            for r in range(c.n_rows):
                j = c.key_base + r
                lo = c.dbase + (j // k.cols) * kcp
                st.wmem[c.dbuf, j % k.cols, lo:lo + kcp, 0, :] = vec[r]
        else:
            st.imem[c.dbuf, :c.n_rows, c.dbase:c.dbase + kcp, :] = vec
        shifted = (acc + (1 << (c.shift - 1))) >> c.shift if c.shift else acc
        lim = 1 << (W - 1)
        st.regs.proj_sat = int(np.count_nonzero((shifted < -lim) | (shifted >= lim)))
        st.regs.cycles = cycle_model.predict_proj_cycles(
            c.n_ch, c.kc, L, c.n_rows, c.keys, operand_stages=cfg.operand_stages)

    def _score_width(self) -> int:
        # the selector's score width (hw/selector.py default: a MAX_HEAD_DIM product)
        return shift_add_acc_width(MAX_HEAD_DIM, self.cfg.data_width, self.cfg.lod_steps)


def _load_beats_imem(model, c):
    return model.limits.rows * c.count


def _load_beats_wmem(model, c):
    return model.limits.cols * model._streams(c) * c.count


#: The opcode table (names of :data:`exion.regmap.OPCODES`).
OPS: dict[str, Op] = {
    "LOAD_IMEM": Op("imem", _load_beats_imem, CoreModel._load_imem),
    "LOAD_WMEM": Op("wmem", _load_beats_wmem, CoreModel._load_wmem),
    "READ_OMEM": Op(None, lambda m, c: 0, CoreModel._read_omem),
    "GEMM": Op(None, lambda m, c: 0, CoreModel._gemm),
    "SCHEDULE": Op(None, lambda m, c: 0, CoreModel._schedule),
    "PREDICT": Op(None, lambda m, c: 0, CoreModel._predict),
    "PREDICT_PROJ": Op(None, lambda m, c: 0, CoreModel._predict_proj),
    # the special-function engine (golden/core_cfse.py)
    "GELU": Op(None, lambda m, c: 0, core_cfse.gelu),
    "RESIDUAL": Op(None, lambda m, c: 0, core_cfse.residual),
    "LAYERNORM": Op(None, lambda m, c: 0, core_cfse.layernorm),
    "SOFTMAX": Op(None, lambda m, c: 0, core_cfse.softmax),
    # schedule reuse through the master port (golden/core_smem.py)
    "LOAD_SMEM": Op(None, lambda m, c: 0, core_smem.load_smem),
    "STORE_SMEM": Op(None, lambda m, c: 0, core_smem.store_smem),
}
assert set(OPS) == set(OPCODES), "every opcode of exion.regmap needs a row in OPS"
