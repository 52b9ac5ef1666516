"""Shift-and-add dot-product unit of the eager predictor: :func:`golden.eager.shift_add_matmul`.

Per cycle it takes ``lanes`` operand pairs ``(a[i], b[i])``, replaces each operand by its
leading-one approximation (``steps`` power-of-two terms, ``hw.lod``) and forms the sum of every
term product ``(-1)**(sign_a ^ sign_b) << (e_a + e_b)`` per lane as
``(|approx(a)| << p1_b) + has_second_b * (|approx(a)| << p2_b)`` (barrel shifters, no
multiplier), negated once per lane; the ``lanes`` lane values go through an adder tree into an
exact accumulator. See ``docs/predictor.md``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from exion.formats import shift_add_acc_width
from exion.util import check_int

from .lod import lod_fields

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
        ``lanes``, ``data_width`` and ``lod_steps`` (default ``steps``).
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
    acc : Out(signed(acc_width))   registered; updated at the end of each valid cycle
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
        W, L, S = cfg.data_width, cfg.lanes, self._steps
        m = Module()
        # Per lane: A = |lod_approx(a)| (W bits, one or two ones), then the lane's magnitude
        # is (A << p1_b) + has_second_b * (A << p2_b): every term pair of the golden
        # definition, grouped by b's term (two barrel shifters and one adder per lane, no
        # multiplier). At most 2**(2W-2): 2W-1 bits unsigned, 2W signed.
        tw = 2 * W
        one = Const(1, unsigned(W))
        terms = []
        for i in range(L):
            sa, pa1, pa2, hsa, nza = lod_fields(m, self.a[i], W, name=f"a{i}")
            sb, pb1, pb2, hsb, nzb = lod_fields(m, self.b[i], W, name=f"b{i}")
            amag = Signal(unsigned(W), name=f"amag{i}")
            first_a = Mux(nza, (one << pa1)[:W], 0)
            if S == 2:
                m.d.comb += amag.eq(first_a | Mux(hsa, (one << pa2)[:W], 0))
            else:
                m.d.comb += amag.eq(first_a)
            lane = Signal(unsigned(tw - 1), name=f"lane{i}")
            t1 = Mux(nzb, (amag << pb1)[:tw - 1], 0)
            if S == 2:
                m.d.comb += lane.eq(t1 + Mux(hsb, (amag << pb2)[:tw - 1], 0))
            else:
                m.d.comb += lane.eq(t1)
            t = Signal(signed(tw), name=f"s{i}")
            m.d.comb += t.eq(Mux(sa ^ sb, -lane, lane))
            terms.append(t)
        while len(terms) > 1:
            nxt = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
        chunk = Signal(signed(tw + clog2(L) + 1))
        m.d.comb += chunk.eq(terms[0])
        with m.If(self.valid):
            m.d.sync += self.acc.eq(Mux(self.first, 0, self.acc) + chunk)
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
