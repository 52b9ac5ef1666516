"""The PREDICT engine (eager prediction): shift-add scores, exact selection, keep-mask.

Contract: a ``PREDICT`` command (:mod:`hw.core_cmd`) is taken when ``cmd.ready``. One
shift-add predictor (``hw/predictor.py``) and one selector (``hw/selector.py``) per query row
score every key, one (key, chunk) per cycle: queries are IMEM buffer ``ibuf`` (row ``r`` =
bank ``r``, chunks ``0 .. kc - 1``), key ``j`` is WMEM buffer ``wbuf`` bank ``j % cols``,
words ``wbase + (j // cols) * kc ..``, stream 0. The keep-mask of keys ``0 .. n_keys - 1``,
transposed to per-key conflict vectors, is then written into the mask memory, one word of
``CAU_BEAT`` keys per cycle, from word 0 of the part the command's ``mhalf`` names
(``exion.regmap.mask_half``: word ``mask_words // 2`` for the upper half, whose channels
``mask_writes`` names while the command runs); ``dominant``, ``skip_k``, ``skip_v`` are
updated, ``cycles`` (``golden.cycle_model.predict_cycles``) written and ``done`` pulses.
``reads_i`` / ``reads_w`` name the buffers read while the engine runs (it owns the IMEM and
WMEM read ports then).

A ``PREDICT_PROJ`` runs the same loop with output channel ``c`` (``0 .. n_ch - 1``) as the
"key": the predictors sum ``X`` (IMEM ``ibuf``) against channel ``c``'s weights (WMEM
``wbuf``, the key layout), and instead of the selectors the sums go to the projection
writer (``hw/core_predproj.py``), which requantizes them and writes Q' into IMEM or, with
``KEYS``, K' into WMEM buffer ``dbuf``; the loop stops after each lane chunk of channels
until the writer has written it (``golden.cycle_model.predict_proj_cycles``). The
destination buffer counts in ``reads_i`` / ``reads_w`` (a load into it waits), and
``proj_i`` / ``proj_w`` say that the engine uses the IMEM / WMEM write port.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from exion.limits import CAU_BEAT, MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM
from exion.regmap import OPCODES

from .core_cmd import command_fields, command_flag, command_stream
from .core_predproj import ProjWriter
from .library import place
from .predictor import Predictor
from .selector import Selector

__all__ = ["PredictEngine"]


class PredictEngine(wiring.Component):
    """Eager prediction of one attention head's keep-mask.

    Parameters
    ----------
    cfg : ExionConfig
    mask_words : int
        Words of the mask memory.

    Members
    -------
    cmd : In(command_stream())
    imem_addr : Out(range(imem_buffers * imem_words)) ; imem_data : In(rows * lanes * W)
    wmem_addr : Out(range(wmem_buffers * wmem_words)) ; wmem_data : In(cols * merge * lanes * W)
        IMEM / WMEM read ports (every bank at one address, data one cycle later).
    mask_addr : Out(range(mask_words)) ; mask_data : Out(CAU_BEAT * rows) ; mask_we : Out(1)
        Whole-word mask memory writes.
    mask_writes : Out(2)
        Mask-memory halves a running ``PREDICT`` writes (bit 0 lower, bit 1 upper).
    dominant, skip_k, skip_v : Out(64)
    cycles : Out(32) ; cycles_we : Out(1)
    reads_i : Out(imem_buffers) ; reads_w : Out(wmem_buffers)
    imem_waddr : Out(range(imem_buffers * imem_words)) ; imem_wdata : Out(rows * lanes * W) ;
    imem_we : Out(rows)
    wmem_waddr : Out(range(wmem_buffers * wmem_words)) ; wmem_wdata : Out(lanes * W) ;
    wmem_we : Out(cols)
        ``PREDICT_PROJ``'s writes (every IMEM bank at one address; WMEM: stream 0 of one bank).
    proj_i, proj_w : Out(1)
        A ``PREDICT_PROJ`` into IMEM / WMEM runs (it uses that memory's write port).
    proj_sat : Out(32)
        ``PROJ_SAT``.
    busy, done : Out(1)
    """

    def __init__(self, cfg: ExionConfig, *, mask_words: int):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        if not isinstance(mask_words, int) or mask_words < 1:
            raise ValueError(f"mask_words = {mask_words!r} must be an integer >= 1")
        self._cfg, self._mw = cfg, mask_words
        L, W = cfg.lanes, cfg.data_width
        self._Di, self._Dw = cfg.words("imem"), cfg.words("wmem")
        super().__init__({
            "cmd": In(command_stream()),
            "imem_addr": Out(range(cfg.imem_buffers * self._Di)),
            "imem_data": In(cfg.rows * L * W),
            "wmem_addr": Out(range(cfg.wmem_buffers * self._Dw)),
            "wmem_data": In(cfg.cols * cfg.merge_degree * L * W),
            "mask_addr": Out(range(mask_words)), "mask_data": Out(CAU_BEAT * cfg.rows),
            "mask_we": Out(1), "mask_writes": Out(2),
            "dominant": Out(64), "skip_k": Out(64), "skip_v": Out(64),
            "cycles": Out(32), "cycles_we": Out(1),
            "reads_i": Out(cfg.imem_buffers), "reads_w": Out(cfg.wmem_buffers),
            "imem_waddr": Out(range(cfg.imem_buffers * self._Di)),
            "imem_wdata": Out(cfg.rows * L * W), "imem_we": Out(cfg.rows),
            "wmem_waddr": Out(range(cfg.wmem_buffers * self._Dw)),
            "wmem_wdata": Out(L * W), "wmem_we": Out(cfg.cols),
            "proj_i": Out(1), "proj_w": Out(1), "proj_sat": Out(32),
            "busy": Out(1), "done": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        R, C, L, W, D = cfg.rows, cfg.cols, cfg.lanes, cfg.data_width, cfg.merge_degree
        m = Module()
        preds, sels = [], []
        for r in range(R):
            # sized for PREDICT_PROJ's reductions; a PREDICT's scores fit the low score_width bits
            p = Predictor(cfg, k_max=MAX_PROJ_DIM)
            s = Selector(cfg, max_keys=MAX_KEYS)
            assert p.acc_width >= s.score_width
            ops = f"_o{cfg.operand_stages}" if cfg.operand_stages else ""
            place(m, f"pred{r}", p, platform,
                  f"exion_predictor_l{L}_w{W}_s{p.steps}_a{p.acc_width}{ops}")
            place(m, f"sel{r}", s, platform,
                  f"exion_selector_k{s.max_keys}_p{s.max_keep}_s{s.score_width}")
            preds.append(p)
            sels.append(s)
        score_width = sels[0].score_width
        AW = preds[0].acc_width
        m.submodules.proj = pw = ProjWriter(cfg, acc_width=AW)

        f = command_fields(self.cmd.payload)
        active = Signal()
        ibuf, wbuf = Signal(4), Signal(4)
        kc = Signal(16)
        rows = Signal(8)
        nk = Signal(16)
        count = Signal(16)
        q_th = Signal(64)
        cyc = Signal(32)
        take = Signal()
        proj, keys, dbuf = Signal(), Signal(), Signal(4)
        mhalf = Signal(2)
        m.d.comb += [take.eq(self.cmd.valid & ~active), self.cmd.ready.eq(~active),
                     self.busy.eq(active)]
        p_issue = Signal()
        p_k = Signal(16)
        p_j = Signal(range(max(MAX_KEYS, MAX_HEAD_DIM) + 1))
        p_lane = Signal(range(L))   # PREDICT_PROJ: the channel's lane in its chunk
        p_col = Signal(range(C))
        p_wrow = Signal(16)
        p_wait = Signal()           # waiting for the selectors' results
        p_write = Signal()          # writing mask words
        p_w = Signal(range(MAX_KEYS // CAU_BEAT + 1))
        with m.If(take):
            m.d.sync += active.eq(1)
        # the command's context, loaded in every idle cycle (so in the take's): its enable is a
        # register, not the dispatcher's valid with its hazards (the FPGA build's timing,
        # docs/fpga.md); none of these is read while idle
        with m.If(~active):
            m.d.sync += [ibuf.eq(f["ibuf"]), wbuf.eq(f["wbuf"]), kc.eq(f["kc"]),
                         rows.eq(f["n_rows"]), nk.eq(f["n_keys"]), count.eq(f["topk"]),
                         q_th.eq(Cat(f["q_th_lo"], f["q_th_hi"])), cyc.eq(0),
                         p_issue.eq(1), p_k.eq(0), p_j.eq(0), p_col.eq(0),
                         p_wrow.eq(f["wbase"]), p_wait.eq(0), p_write.eq(0), p_w.eq(0),
                         p_lane.eq(0), proj.eq(self.cmd.payload.op == OPCODES["PREDICT_PROJ"]),
                         keys.eq(command_flag(self.cmd.payload, "KEYS")), dbuf.eq(f["dbuf"]),
                         mhalf.eq(f["mhalf"])]
        with m.Elif(active):
            m.d.sync += cyc.eq(cyc + 1)
        # a PREDICT_PROJ's destination counts as read: a load into it waits
        for b in range(cfg.imem_buffers):
            m.d.comb += self.reads_i[b].eq(active & ((ibuf == b) | (proj & ~keys & (dbuf == b))))
        for b in range(cfg.wmem_buffers):
            m.d.comb += self.reads_w[b].eq(active & ((wbuf == b) | (proj & keys & (dbuf == b))))
        m.d.comb += [self.proj_i.eq(active & proj & ~keys), self.proj_w.eq(active & proj & keys)]
        m.d.comb += [self.imem_addr.eq(ibuf * self._Di + p_k),
                     self.wmem_addr.eq(wbuf * self._Dw + p_wrow + p_k)]

        last_k = p_k == kc - 1
        last_j = p_j == nk - 1
        chunk_end = (p_lane == L - 1) | last_j      # PREDICT_PROJ: a lane chunk of channels
        issue = active & p_issue
        with m.If(issue):
            m.d.sync += p_k.eq(Mux(last_k, 0, p_k + 1))
            with m.If(last_k):
                m.d.sync += [p_j.eq(p_j + 1), p_lane.eq(Mux(p_lane == L - 1, 0, p_lane + 1))]
                with m.If(p_col == C - 1):
                    m.d.sync += [p_col.eq(0), p_wrow.eq(p_wrow + kc)]
                with m.Else():
                    m.d.sync += p_col.eq(p_col + 1)
                with m.If(last_j):
                    m.d.sync += [p_issue.eq(0), p_wait.eq(~proj)]
                with m.If(proj & chunk_end):
                    m.d.sync += p_issue.eq(0)        # until the writer has written the chunk
        d1_valid, d1_first, d1_push, d1_lastkey = Signal(), Signal(), Signal(), Signal()
        d1_col = Signal.like(p_col)
        d1_end = Signal()
        m.d.sync += [d1_valid.eq(issue), d1_first.eq(issue & (p_k == 0)),
                     d1_push.eq(issue & last_k), d1_lastkey.eq(issue & last_k & last_j),
                     d1_col.eq(p_col), d1_end.eq(chunk_end)]
        # d2: the cycle the predictors' acc holds the sum of d1's chunk, 1 + operand_stages
        # cycles later (hw/predictor.py registers its operands cfg.operand_stages times)
        late = (d1_push, d1_lastkey, d1_end)
        for n in range(cfg.operand_stages):
            q = tuple(Signal(name=f"{x.name}_op{n}") for x in late)
            m.d.sync += [d.eq(x) for d, x in zip(q, late)]
            late = q
        d2_push, d2_lastkey, d2_end = Signal(), Signal(), Signal()
        m.d.sync += [d2_push.eq(late[0]), d2_lastkey.eq(late[1]), d2_end.eq(late[2])]
        # PREDICT_PROJ: the sums to the writer; the loop resumes after each chunk's writes
        final = Signal()        # the writer is writing the last chunk
        with m.If(~active):
            m.d.sync += final.eq(0)
        with m.Elif(d2_push & d2_lastkey):
            m.d.sync += final.eq(1)
        # (a PREDICT leaves the writer and PROJ_SAT alone)
        m.d.comb += [pw.cmd.eq(self.cmd.payload),
                     pw.take.eq(take & (self.cmd.payload.op == OPCODES["PREDICT_PROJ"])),
                     pw.acc.eq(Cat(*(p.acc for p in preds))),
                     pw.push.eq(active & proj & d2_push), pw.chunk_end.eq(d2_end),
                     self.imem_waddr.eq(pw.imem_addr), self.imem_wdata.eq(pw.imem_data),
                     self.imem_we.eq(pw.imem_we), self.wmem_waddr.eq(pw.wmem_addr),
                     self.wmem_wdata.eq(pw.wmem_data), self.wmem_we.eq(pw.wmem_we),
                     self.proj_sat.eq(pw.sat)]
        proj_done = active & proj & pw.wdone & final
        with m.If(active & proj & pw.wdone & ~final):
            m.d.sync += p_issue.eq(1)
        key_vec = Signal(L * W)
        bank_w = D * L * W
        with m.Switch(d1_col):
            for c in range(C):
                with m.Case(c):      # stream 0 of bank c
                    m.d.comb += key_vec.eq(self.wmem_data[c * bank_w:c * bank_w + L * W])
        results = Signal()
        m.d.comb += results.eq(Cat(*(s.result.valid for s in sels)).all())
        take_res = Signal()
        m.d.comb += take_res.eq(active & p_wait & results)
        for r in range(R):
            p, s = preds[r], sels[r]
            m.d.comb += [
                p.a.eq(self.imem_data[r * L * W:(r + 1) * L * W]), p.b.eq(key_vec),
                p.valid.eq(d1_valid), p.first.eq(d1_first),
                s.scores.valid.eq(d2_push & ~proj), s.scores.payload.score.eq(p.acc),
                s.scores.payload.last.eq(d2_lastkey),
                s.q_th.eq(q_th[:score_width]),
                s.count.eq(count),
                s.result.ready.eq(take_res),
            ]
        keeps = [Signal(MAX_KEYS, name=f"keep{r}") for r in range(R)]
        doms = Signal(R)
        with m.If(take_res):
            m.d.sync += [p_wait.eq(0), p_write.eq(1)]
            for r in range(R):
                m.d.sync += [keeps[r].eq(Mux(rows > r, sels[r].result.payload.keep, 0)),
                             doms[r].eq((rows > r) & sels[r].result.payload.dominant)]
        key_on = Signal(MAX_KEYS)
        m.d.comb += key_on.eq(Mux(nk >= MAX_KEYS, (1 << MAX_KEYS) - 1,
                                  (Const(1, MAX_KEYS + 1) << nk[:clog2(MAX_KEYS)]) - 1))
        cvs = [Cat(*(keeps[r][j] for r in range(R))) for j in range(MAX_KEYS)]
        with m.Switch(p_w):
            for w in range(MAX_KEYS // CAU_BEAT):
                with m.Case(w):
                    m.d.comb += self.mask_data.eq(Cat(*cvs[w * CAU_BEAT:(w + 1) * CAU_BEAT]))
        p_words = Signal(range(MAX_KEYS // CAU_BEAT + 1))
        m.d.comb += p_words.eq((nk + (CAU_BEAT - 1)) // CAU_BEAT)
        we = active & p_write & ~proj
        m.d.comb += [self.mask_we.eq(we),
                     self.mask_addr.eq(p_w + Mux(mhalf == 2, self._mw // 2, 0)),
                     self.mask_writes.eq(Mux(active & ~proj, Mux(mhalf == 0, 3, mhalf), 0))]
        with m.If(we):
            m.d.sync += p_w.eq(p_w + 1)
        pred_done = we & (p_w == p_words - 1)
        m.d.comb += [self.done.eq(pred_done | proj_done),
                     self.cycles.eq(cyc + 1), self.cycles_we.eq(self.done)]
        with m.If(proj_done):
            m.d.sync += active.eq(0)
        with m.If(pred_done):
            nd = Cat(*(~doms[r] for r in range(R)))
            m.d.sync += [
                active.eq(0), p_write.eq(0), self.dominant.eq(doms),
                self.skip_v.eq(key_on & ~Cat(*(cv.any() for cv in cvs))),
                self.skip_k.eq(key_on & ~Cat(*((cv & nd).any() for cv in cvs))),
            ]
        return m
