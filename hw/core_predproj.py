"""The output side of ``PREDICT_PROJ``: requantizer, output collector and IMEM / WMEM writer.

Contract (the PREDICT engine, ``hw/core_predict.py``, drives it): ``take`` latches the
command's fields (``keys`` = the ``KEYS`` flag, ``dbuf``, ``dbase``, ``key_base``,
``n_rows``, ``n_ch``, ``shift``) and clears ``sat``. ``push`` marks the cycle in which
``acc`` (one shift-add sum per row) holds output channel ``c``'s complete sum, channels in
order from 0; ``chunk_end`` with it says that ``c`` is the last channel of its lane chunk
(``c % lanes == lanes - 1`` or ``c == n_ch - 1``). The sums are registered, requantized in
the next cycle (:func:`requantize`, ``golden.intsem.requantize``) into lane ``c % lanes`` of
each row's output vector, and after a chunk's last channel the vectors are written, from the
cycle after: Q' as one IMEM write of rows ``< n_rows`` (buffer ``dbuf``, word ``dbase +
chunk``), K' (``keys``) as one WMEM write per row ``r`` (key ``j = key_base + r``: bank ``j %
cols``, word ``dbase + (j // cols) * ceil(n_ch / lanes) + chunk``, stream 0). ``wdone``
pulses in the chunk's last write cycle (the vectors are cleared then, so lanes past ``n_ch``
are written as zeros). ``sat`` counts the outputs of rows ``< n_rows`` the requantizer
saturated (``PROJ_SAT``). Cycles: :func:`golden.cycle_model.predict_proj_cycles`.

Timing: the requantizer's saturation thresholds are registered from ``shift`` in the cycle
after the take, at least two cycles before the first sum arrives, so the path from the
registered sums to the output vectors is the shifter, a ``data_width``-bit increment and the
saturating mux, with the two threshold comparisons beside them (:func:`requantize`; the FPGA build's timing, docs/fpga.md).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from exion.limits import MAX_HEAD_DIM
from exion.util import check_int

from .core_cmd import COMMAND, command_fields, command_flag

__all__ = ["ProjWriter", "requantize", "requantize_limits"]


def requantize_limits(m, shift, acc_width: int, width: int):
    """Registered saturation thresholds of :func:`requantize` for the shift ``shift`` (read a
    cycle later: ``shift`` must have held its value for a cycle). ``acc`` rounded half up by
    ``s`` bits, ``floor((acc + 2^(s-1)) / 2^s)`` (``acc`` itself for ``s = 0``), exceeds
    ``2^(width-1) - 1`` exactly when ``2 * acc >= (2^width - 1) * 2^s`` and falls below
    ``-2^(width-1)`` exactly when ``2 * acc < -(2^width + 1) * 2^s``; as bounds on ``acc``:
    ``ceil`` of half of each. Clamped to one past ``acc``'s range (a bound no ``acc``
    reaches), so ``acc_width + 1`` signed bits."""
    one = Const(1, 1)
    top = (1 << (acc_width - 1))
    hi_w = ((Const((1 << width) - 1, width) << shift) + one) >> 1
    lo_w = (Const((1 << width) + 1, width + 1) << shift) >> 1
    hi = Signal(signed(acc_width + 1), name="rq_hi")
    lo = Signal(signed(acc_width + 1), name="rq_lo")
    m.d.sync += [hi.eq(Mux(hi_w >= top, top, hi_w)),
                 lo.eq(Mux(lo_w >= top, -top, -lo_w[:acc_width + 1].as_signed()))]
    return hi, lo


def requantize(m, acc, shift, width: int, limits):
    """``(q, saturated)``: ``acc`` rounded half up by ``shift`` bits and saturated to
    ``width`` bits, as ``golden.intsem.requantize``; ``limits`` from
    :func:`requantize_limits`. With ``u = floor(2 * acc / 2^shift)`` (one arithmetic shift of
    ``2 * acc``, which also covers ``shift = 0``) the rounded value is ``floor((u + 1) / 2) =
    (u >> 1) + u[0]``, of which only the low ``width`` bits are formed; whether it saturates
    is two comparisons of ``acc`` itself with the registered thresholds, beside the shifter
    (the FPGA build's timing: no subtraction from ``shift``, no carry chain after the shift
    but the ``width``-bit increment, docs/fpga.md)."""
    hi_t, lo_t = limits
    a2 = Cat(Const(0, 1), acc).as_signed()
    u = Signal(width + 1)
    m.d.comb += u.eq((a2 >> shift)[:width + 1])
    over, under = acc >= hi_t, acc < lo_t
    hi, lo = (1 << (width - 1)) - 1, -(1 << (width - 1))
    v = (u[1:] + u[0])[:width]
    q = Mux(over, hi, Mux(under, lo, v))
    return q[:width], over | under


class ProjWriter(wiring.Component):
    """Requantizer, output collector and writer of ``PREDICT_PROJ`` (module docstring).

    Parameters
    ----------
    cfg : ExionConfig
    acc_width : int
        Width of the predictors' sums.

    Members
    -------
    cmd : In(COMMAND) ; take : In(1)
    acc : In(rows * acc_width) ; push, chunk_end : In(1)
    imem_addr : Out(range(imem_buffers * imem_words)) ; imem_data : Out(rows * lanes * W) ;
    imem_we : Out(rows)
    wmem_addr : Out(range(wmem_buffers * wmem_words)) ; wmem_data : Out(lanes * W) ;
    wmem_we : Out(cols)
        One write port each (every bank at one address; WMEM: stream 0 of one bank).
    writing, wdone : Out(1)
    sat : Out(32)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md): the predictor's output side.
    report_unit = "predictor"

    def __init__(self, cfg: ExionConfig, *, acc_width: int):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._aw = check_int("acc_width", acc_width, cfg.data_width + 1, 64)
        R, L, W = cfg.rows, cfg.lanes, cfg.data_width
        super().__init__({
            "cmd": In(COMMAND), "take": In(1),
            "acc": In(R * self._aw), "push": In(1), "chunk_end": In(1),
            "imem_addr": Out(range(cfg.imem_buffers * cfg.words("imem"))),
            "imem_data": Out(R * L * W), "imem_we": Out(R),
            "wmem_addr": Out(range(cfg.wmem_buffers * cfg.words("wmem"))),
            "wmem_data": Out(L * W), "wmem_we": Out(cfg.cols),
            "writing": Out(1), "wdone": Out(1), "sat": Out(32),
        })

    @property
    def acc_width(self) -> int:
        return self._aw

    def elaborate(self, platform):
        cfg, AW = self._cfg, self._aw
        R, C, L, W = cfg.rows, cfg.cols, cfg.lanes, cfg.data_width
        Di, Dw = cfg.words("imem"), cfg.words("wmem")
        m = Module()
        f = command_fields(self.cmd)
        keys, dbuf, n_rows = Signal(), Signal(4), Signal(8)
        shift = Signal(range(AW))
        chunk = Signal(range(MAX_HEAD_DIM + 1))
        kcp = Signal(range(MAX_HEAD_DIM + 1))           # lane chunks of a row's outputs
        i_word = Signal(range(Di + 1))
        w_word0 = Signal(range(Dw + 1))                 # word of key_base's first chunk
        bank0 = Signal(range(C))
        # key_base // cols and % cols at the take; the issue check bounds key_base below
        # wmem_words * cols, so a narrow divider suffices
        kb = f["key_base"][:clog2(Dw * C + 1)]
        lane = Signal(range(L))
        with m.If(self.take):
            kcp_v = (f["n_ch"] + (L - 1)) // L
            m.d.sync += [keys.eq(command_flag(self.cmd, "KEYS")), dbuf.eq(f["dbuf"]),
                         n_rows.eq(f["n_rows"]), shift.eq(f["shift"]), chunk.eq(0), lane.eq(0),
                         kcp.eq(kcp_v), i_word.eq(f["dbase"]),
                         w_word0.eq(f["dbase"] + (kb // C) * kcp_v), bank0.eq(kb % C)]
        # one register after the predictors' sum, then the requantizer
        acc_r = Signal(R * AW)
        v_r, end_r = Signal(), Signal()
        m.d.sync += [acc_r.eq(self.acc), v_r.eq(self.push), end_r.eq(self.push & self.chunk_end)]
        vecs = [Signal(L * W, name=f"vec{r}") for r in range(R)]
        sats = []
        # registered from shift a cycle after the take: at least two cycles before a first sum
        limits = requantize_limits(m, shift, AW, W)
        for r in range(R):
            q, s = requantize(m, acc_r[r * AW:(r + 1) * AW].as_signed(), shift, W, limits)
            sats.append(s & (n_rows > r))
            with m.If(v_r):
                with m.Switch(lane):
                    for ln in range(L):
                        with m.Case(ln):
                            m.d.sync += vecs[r][ln * W:(ln + 1) * W].eq(q)
        # the count of a chunk's saturated outputs is registered before the sum into ``sat``
        # (the requantizer and the 32-bit add are not one path); it lands the cycle after, while
        # the chunk's rows are written, so ``sat`` is final before ``wdone``
        n_sat = Signal(range(R + 1))
        m.d.sync += n_sat.eq(Mux(v_r, sum(sats), 0))
        with m.If(self.take):
            m.d.sync += self.sat.eq(0)
        with m.Else():
            m.d.sync += self.sat.eq(self.sat + n_sat)
        with m.If(v_r):
            m.d.sync += lane.eq(Mux(end_r, 0, lane + 1))

        # writes: from the cycle after a chunk's last channel was requantized
        writing = Signal()
        wr = Signal(8)                                  # K': the row written
        bank = Signal(range(C))
        w_word = Signal(range(Dw + MAX_HEAD_DIM + 1))
        with m.If(end_r):
            m.d.sync += [writing.eq(1), wr.eq(0), bank.eq(bank0), w_word.eq(w_word0 + chunk)]
        last_w = ~keys | (wr == n_rows - 1)
        m.d.comb += [self.writing.eq(writing), self.wdone.eq(writing & last_w)]
        with m.If(writing):
            m.d.sync += [wr.eq(wr + 1), bank.eq(Mux(bank == C - 1, 0, bank + 1))]
            with m.If(bank == C - 1):
                m.d.sync += w_word.eq(w_word + kcp)
        with m.If(self.wdone):
            m.d.sync += [writing.eq(0), chunk.eq(chunk + 1)]
            m.d.sync += [v.eq(0) for v in vecs]
        rows_on = Cat(*(n_rows > r for r in range(R)))
        m.d.comb += [
            self.imem_addr.eq(dbuf * Di + i_word + chunk),
            self.imem_data.eq(Cat(*vecs)),
            self.imem_we.eq(Mux(writing & ~keys, rows_on, 0)),
            self.wmem_addr.eq(dbuf * Dw + w_word),
            self.wmem_data.eq(Cat(*vecs).word_select(wr, L * W)),
            self.wmem_we.eq(Mux(writing & keys, Const(1, C) << bank, 0)),
        ]
        return m
