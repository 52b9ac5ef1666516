"""Shift-and-add dot-product unit of the eager predictor: :func:`golden.eager.shift_add_matmul`.

Per cycle it takes ``lanes`` operand pairs ``(a[i], b[i])``, replaces each operand by its
leading-one approximation (``steps`` power-of-two terms, ``hw.lod``), forms every term product
as ``(-1)**(sign_a ^ sign_b) << (e_a + e_b)`` (a decoder, no multiplier) and adds the
``lanes * steps**2`` terms into an exact accumulator. See ``docs/predictor.md``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from golden.eager import shift_add_acc_width

from .lod import lod_fields

__all__ = ["Predictor", "DEFAULT_K_MAX", "predictor_acc_width"]

#: Default longest reduction the accumulator is sized for: DiT-XL's d_model (X @ Wq, X @ Wk).
DEFAULT_K_MAX = 1152


def predictor_acc_width(cfg: ExionConfig, k_max: int = DEFAULT_K_MAX,
                        steps: int | None = None) -> int:
    """Accumulator width: ``golden.eager.shift_add_acc_width(k_max, data_width, steps)``."""
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

    def __init__(self, cfg: ExionConfig, k_max: int = DEFAULT_K_MAX, steps: int | None = None):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._steps = cfg.lod_steps if steps is None else int(steps)
        if self._steps not in (1, 2):
            raise ValueError(f"steps = {steps!r} is out of range [1, 2]")
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
        # A term product is at most 2**(2W-2) in magnitude: 2W-1 bits unsigned, 2W signed.
        tw = 2 * W
        one = Const(1, unsigned(tw))
        terms = []
        for i in range(L):
            fa = lod_fields(m, self.a[i], W, name=f"a{i}")
            fb = lod_fields(m, self.b[i], W, name=f"b{i}")
            ta = [(fa[1], fa[4])] + ([(fa[2], fa[3])] if S == 2 else [])
            tb = [(fb[1], fb[4])] + ([(fb[2], fb[3])] if S == 2 else [])
            neg = fa[0] ^ fb[0]
            for j, (ea, va) in enumerate(ta):
                for k, (eb, vb) in enumerate(tb):
                    mag = Signal(unsigned(tw - 1), name=f"t{i}_{j}{k}")
                    # one-hot decoder: 1 << (e_a + e_b), gated by both terms being present
                    m.d.comb += mag.eq(Mux(va & vb, (one << (ea + eb))[:tw - 1], 0))
                    t = Signal(signed(tw), name=f"s{i}_{j}{k}")
                    m.d.comb += t.eq(Mux(neg, -mag, mag))
                    terms.append(t)
        while len(terms) > 1:
            nxt = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
        chunk = Signal(signed(tw + clog2(L * S * S) + 1))
        m.d.comb += chunk.eq(terms[0])
        with m.If(self.valid):
            m.d.sync += self.acc.eq(Mux(self.first, 0, self.acc) + chunk)
        return m
