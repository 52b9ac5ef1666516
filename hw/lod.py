"""Two-step leading-one detector (LOD) of the eager predictor: :func:`golden.eager.lod` in RTL.

For a signed ``W``-bit ``x``: ``sign = x < 0``, ``mag = |x|`` as an unsigned ``W``-bit number
(``-2**(W-1)`` has ``mag = 2**(W-1)``), ``p1`` = position of the leading one of ``mag``,
``p2`` = position of the next one below it (``has_second``), ``nonzero = mag != 0``; zero has
every field 0. Purely combinational; see ``docs/predictor.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2

__all__ = ["Lod", "lod_fields", "signed_approx"]


def lod_fields(m: Module, x, width: int, name: str = "lod"):
    """Add a LOD of the signed ``width``-bit value ``x`` to ``m``.

    Returns signals ``(sign, p1, p2, has_second, nonzero)``; positions are ``clog2(width)``
    bits wide. The scan runs from bit 0 upwards: a set bit ``b`` makes ``b`` the new ``p1``
    and the old ``p1`` the new ``p2`` (``has_second`` = a one was seen before).
    """
    pw = max(1, clog2(width))
    sign = Signal(name=f"{name}_sign")
    mag = Signal(unsigned(width), name=f"{name}_mag")
    m.d.comb += sign.eq(x[width - 1])
    # Two's-complement negation in width bits: -(-2**(W-1)) = 2**(W-1) read unsigned.
    m.d.comb += mag.eq(Mux(sign, -x, x)[:width])
    # The scan's result: p1 the highest one, p2 the highest one below it. Found as one-hot
    # highest ones of mag and of mag without its highest one (each bit tests the bits above
    # it: a tree, not a chain of width muxes; the FPGA build's timing), then encoded.
    h1 = _highest(mag, width)
    rest = Signal(unsigned(width), name=f"{name}_rest")
    m.d.comb += rest.eq(mag & ~h1)
    h2 = _highest(rest, width)
    p1, p2 = _encode(h1, width, pw), _encode(h2, width, pw)
    seen1, seen2 = mag.any(), rest.any()
    outs = []
    for nm, expr, shape in (("p1", p1, pw), ("p2", p2, pw), ("has_second", seen2, 1),
                            ("nonzero", seen1, 1)):
        s = Signal(shape, name=f"{name}_{nm}")
        m.d.comb += s.eq(expr)
        outs.append(s)
    return (sign, *outs)


def _highest(v, width: int):
    """One-hot of the highest set bit of ``v`` (0 if none)."""
    return Cat(*[v[b] & ~v[b + 1:width].any() if b + 1 < width else v[b]
                 for b in range(width)])


def _encode(onehot, width: int, pw: int):
    """The position of the set bit of a one-hot ``onehot`` (0 if none), ``pw`` bits."""
    return Cat(*[_or_bits([onehot[b] for b in range(width) if b >> k & 1]) for k in range(pw)])


def _or_bits(bits):
    return Cat(*bits).any() if bits else Const(0, 1)


def signed_approx(p1, p2, has_second, nonzero, negative, width: int):
    """``(-1)**negative * (nonzero * 2**p1 + has_second * 2**p2)`` as a signed ``width + 1``-bit
    value (``p2 < p1``; ``has_second`` counts only with ``nonzero``), decoded without a carry
    chain: the negation of a value whose lowest one is at ``q`` keeps bits ``0 .. q`` and
    inverts every bit above, so it is the magnitude XOR a mask of the bits above ``q``.
    """
    w1 = width + 1
    one = Const(1, unsigned(w1))
    second = nonzero & has_second
    mag = Mux(nonzero, (one << p1)[:w1], 0) | Mux(second, (one << p2)[:w1], 0)
    above = (Const((1 << w1) - 2, unsigned(w1)) << Mux(second, p2, p1))[:w1]
    return (mag ^ Mux(negative & nonzero, above, 0)).as_signed()


class Lod(wiring.Component):
    """Leading-one detector of one signed ``width``-bit operand (combinational).

    Parameters
    ----------
    cfg : ExionConfig
        Supplies ``data_width`` (the default ``width``).
    width : int, optional
        Operand width (formal harnesses use 8).

    Members
    -------
    x : In(signed(width))
    sign, has_second, nonzero : Out(1)
    p1, p2 : Out(clog2(width))
    approx1, approx2 : Out(signed(width + 1))
        ``golden.eager.lod_approx(x, 1)`` and ``(x, 2)``, for comparison (one bit wider than
        ``x`` so that no value needs a special case).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "predictor"

    def __init__(self, cfg: ExionConfig, width: int | None = None):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._width = width = cfg.data_width if width is None else int(width)
        pw = max(1, clog2(width))
        super().__init__({
            "x": In(signed(width)),
            "sign": Out(1), "p1": Out(pw), "p2": Out(pw),
            "has_second": Out(1), "nonzero": Out(1),
            "approx1": Out(signed(width + 1)), "approx2": Out(signed(width + 1)),
        })

    @property
    def width(self) -> int:
        return self._width

    def elaborate(self, platform):
        m = Module()
        w = self._width
        sign, p1, p2, hs, nz = lod_fields(m, self.x, w)
        m.d.comb += [self.sign.eq(sign), self.p1.eq(p1), self.p2.eq(p2),
                     self.has_second.eq(hs), self.nonzero.eq(nz)]
        one = Const(1, unsigned(w + 1))
        m1 = Signal(unsigned(w + 1))
        m2 = Signal(unsigned(w + 1))
        m.d.comb += m1.eq(Mux(nz, (one << p1)[:w + 1], 0))
        m.d.comb += m2.eq(m1 + Mux(hs, (one << p2)[:w + 1], 0))
        m.d.comb += self.approx1.eq(Mux(sign, -m1, m1))
        m.d.comb += self.approx2.eq(Mux(sign, -m2, m2))
        return m
