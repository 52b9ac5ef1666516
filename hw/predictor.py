"""Shift-and-add dot-product unit of the eager predictor: :func:`golden.eager.shift_add_matmul`.

Per cycle it takes ``lanes`` operand pairs ``(a[i], b[i])``, replaces each operand by its
leading-one approximation (``steps`` power-of-two terms, ``hw.lod``) and forms the sum of every
term product ``(-1)**(sign_a ^ sign_b) << (e_a + e_b)`` per lane as
``(sam << p1_b) + has_second_b * (sam << p2_b)`` with ``sam = sign(a * b) * |approx(a)|``
(barrel shifters, no multiplier); the lane values and the accumulator form one sum.

Timing: one register splits the path from the operands to the accumulator. The first half
(the two LODs per lane and ``sam``, decoded without a carry chain by
:func:`hw.lod.lod_signed_approx` straight from ``a``'s per-bit leading-one flags, with no
position encoded and decoded again, and ``b``'s nonzero flag read from ``b`` itself, not
through its negation: the FPGA build's timing, docs/fpga.md) ends in registers; the second half (shifts, the sum, the
accumulator value) drives ``acc`` combinationally from them and the accumulator register
takes ``acc`` every cycle. ``acc`` therefore shows each chunk's sum in the cycle after the
chunk, as a single registered accumulator would; the longest path is about half of what it
was. With ``cfg.operand_stages = 1`` the operands (``a``, ``b``, ``valid``, ``first``) are
registered before the LODs as well (the path from a block RAM's read through the core's key
multiplexer ends there), and ``acc`` shows each chunk's sum two cycles after the chunk:
latency ``1 + operand_stages``. See ``docs/predictor.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.formats import shift_add_acc_width
from exion.util import check_int

from .lod import lod_fields, lod_signed_approx

__all__ = ["Predictor", "DEFAULT_K_MAX", "predictor_acc_width"]

#: Default longest reduction the accumulator is sized for: DiT-XL's d_model (X @ Wq, X @ Wk).
DEFAULT_K_MAX = 1152


def predictor_acc_width(cfg: ExionConfig, k_max: int = DEFAULT_K_MAX,
                        steps: int | None = None) -> int:
    """Accumulator width: ``exion.formats.shift_add_acc_width(k_max, data_width, steps)``."""
    steps = cfg.lod_steps if steps is None else steps
    return shift_add_acc_width(k_max, cfg.data_width, steps)


class Predictor(wiring.Component):
    """``lanes``-wide shift-and-add dot product with an exact accumulator.

    Parameters
    ----------
    cfg : ExionConfig
        ``lanes``, ``data_width``, ``lod_steps`` (default ``steps``) and ``operand_stages``
        (0 or 1 input registers).
    k_max : int
        Longest reduction (``K``) the accumulator holds exactly: it is
        ``shift_add_acc_width(k_max, data_width, steps)`` bits wide, so no sum of up to
        ``ceil(k_max / lanes)`` chunks can overflow it. Longer reductions are outside the
        contract (the register would wrap); the host splits them.
    steps : {1, 2}, optional

    Members
    -------
    a, b : In(ArrayLayout(signed(data_width), lanes))
    valid : In(1)   the cycle carries a chunk
    first : In(1)   the chunk starts a new sum (the accumulator takes it instead of adding)
    acc : Out(signed(acc_width))   the sum including every valid chunk up to ``1 +
        cfg.operand_stages`` cycles ago (with no operand stage: what a register updated at the
        end of each valid cycle would hold; held between chunks); driven from registers
        through the second half's adders
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "predictor"

    def __init__(self, cfg: ExionConfig, k_max: int = DEFAULT_K_MAX, steps: int | None = None):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._steps = check_int("steps", cfg.lod_steps if steps is None else steps, 1, 2)
        self._k_max = int(k_max)
        self._acc_width = predictor_acc_width(cfg, self._k_max, self._steps)
        lv = data.ArrayLayout(signed(cfg.data_width), cfg.lanes)
        super().__init__({
            "a": In(lv), "b": In(lv), "valid": In(1), "first": In(1),
            "acc": Out(signed(self._acc_width)),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def steps(self) -> int:
        return self._steps

    def elaborate(self, platform):
        cfg = self._cfg
        W, L, S, AW = cfg.data_width, cfg.lanes, self._steps, self._acc_width
        m = Module()
        # Two halves around one register (module docstring): the first ends with sam and b's
        # shift amounts per lane, the second forms the lane products, the sum and the
        # accumulator value, which leaves combinationally.
        tw = 2 * W
        # cfg.operand_stages: the operands (a memory read, and b through the core's key mux)
        # registered before the LODs, so that the read and the LODs take a cycle each
        a, b, valid, first = self.a, self.b, self.valid, self.first
        if cfg.operand_stages:
            lv = data.ArrayLayout(signed(W), L)
            a, b = Signal(lv, name="a_q"), Signal(lv, name="b_q")
            valid, first = Signal(name="valid_q"), Signal(name="first_q")
            m.d.sync += [a.eq(self.a), b.eq(self.b), valid.eq(self.valid),
                         first.eq(self.first)]
        lanes = []              # per lane: registered (sam, p1_b, p2_b, has_second_b)
        for i in range(L):
            sb, pb1, pb2, hsb, nzb = lod_fields(m, b[i], W, name=f"b{i}")
            two = S == 2
            sam = Signal(signed(W + 1), name=f"sam{i}")
            regs = (sam, Signal.like(pb1, name=f"pb1_{i}"), Signal.like(pb2, name=f"pb2_{i}"),
                    Signal(name=f"hsb{i}"))
            m.d.sync += [
                # approx(a) * sign(a * b); zero when a or b is zero
                sam.eq(lod_signed_approx(m, a[i], W, S, nzb, sb, name=f"a{i}")),
                regs[1].eq(pb1), regs[2].eq(pb2), regs[3].eq(hsb if two else 0),
            ]
            lanes.append(regs)
        valid_r, first_r = Signal(), Signal()
        m.d.sync += [valid_r.eq(valid), first_r.eq(first)]
        # Second half: per lane (sam << p1_b) + has_second_b * (sam << p2_b), sign already in
        # sam (no negation), all terms and the accumulator in one sum (one carry-save tree and
        # one carry chain after synthesis).
        terms = []
        for sam, pb1, pb2, hsb in lanes:
            terms.append((sam << pb1)[:tw].as_signed())
            if S == 2:
                terms.append(Mux(hsb, (sam << pb2)[:tw].as_signed(), 0))
        acc_q = Signal(signed(AW))
        total = Mux(first_r, 0, acc_q)
        for t in terms:
            total = total + t
        m.d.comb += self.acc.eq(Mux(valid_r, total[:AW].as_signed(), acc_q))
        m.d.sync += acc_q.eq(self.acc)
        return m


class EagerUnits(wiring.Component):
    """Test bundle: :class:`~hw.lod.Lod`, :class:`Predictor` and
    :class:`~hw.selector.Selector` of one configuration side by side, unconnected, with their
    ports prefixed ``lod__``, ``pred__``, ``sel__``. One design instead of three keeps the
    regression's Verilator builds (30-40 s each, mostly fixed cost) few; the benches drive each
    unit through its prefix exactly as they would drive it alone.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "predictor"

    def __init__(self, cfg: ExionConfig):
        from .lod import Lod
        from .selector import Selector

        self._parts = {"lod": Lod(cfg), "pred": Predictor(cfg), "sel": Selector(cfg)}
        super().__init__({n: Out(c.signature) for n, c in self._parts.items()})

    def elaborate(self, platform):
        m = Module()
        for name, part in self._parts.items():
            m.submodules[name] = part
            wiring.connect(m, wiring.flipped(getattr(self, name)), part)
        return m
