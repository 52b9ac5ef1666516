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

__all__ = ["Lod", "lod_fields", "lod_signed_approx"]


def lod_fields(m: Module, x, width: int, name: str = "lod"):
    """Add a LOD of the signed ``width``-bit value ``x`` to ``m``.

    Returns signals ``(sign, p1, p2, has_second, nonzero)``; positions are ``clog2(width)``
    bits wide. The scan runs from bit 0 upwards: a set bit ``b`` makes ``b`` the new ``p1``
    and the old ``p1`` the new ``p2`` (``has_second`` = a one was seen before).
    """
    pw = max(1, clog2(width))
    sign, mag, z, o = _lod_parts(m, x, width, name)
    h1, h2 = _ones(mag, z, o, width)
    outs = []
    for nm, expr, shape in (("p1", _encode(h1, width, pw), pw), ("p2", _encode(h2, width, pw), pw),
                            ("has_second", ~o[0], 1), ("nonzero", _nonzero(x, width), 1)):
        s = Signal(shape, name=f"{name}_{nm}")
        m.d.comb += s.eq(expr)
        outs.append(s)
    return (sign, *outs)


def _lod_parts(m: Module, x, width: int, name: str):
    """``(sign, mag, z, o)``: ``mag = |x|`` and, for ``j = 0 .. width``, ``z[j]`` = no one in
    ``mag[j:]``, ``o[j]`` = at most one one in ``mag[j:]`` (``z[width] = o[width] = 1``).
    The scan's result, the highest one ``p1`` and the highest one below it ``p2``, follows
    bit by bit from these: bit ``j`` is ``p1`` when ``mag[j] & z[j+1]``, ``p2`` when
    ``mag[j] & ~z[j+1] & o[j+1]``. Each ``z[j]`` / ``o[j]`` is a tree of (any, two or more)
    pairs over aligned blocks of bits, not a chain of width muxes, and nothing needs a
    position encoded and decoded again (the FPGA build's timing, docs/fpga.md)."""
    sign = Signal(name=f"{name}_sign")
    mag = Signal(unsigned(width), name=f"{name}_mag")
    m.d.comb += sign.eq(x[width - 1])
    # Two's-complement negation in width bits: -(-2**(W-1)) = 2**(W-1) read unsigned.
    m.d.comb += mag.eq(Mux(sign, -x, x)[:width])
    blocks = {}

    def block(lo, size):            # (any, two or more) of mag[lo:lo + size], aligned
        if (lo, size) not in blocks:
            if size == 1:
                blocks[lo, size] = (mag[lo], Const(0, 1))
            else:
                h = size // 2
                (a1, t1), (a2, t2) = block(lo, h), block(lo + h, h)
                blocks[lo, size] = (a1 | a2, t1 | t2 | (a1 & a2))
        return blocks[lo, size]

    z, o = [], []
    for j in range(width + 1):
        parts, lo = [], j           # mag[j:] as aligned power-of-two blocks
        while lo < width:
            size = 1
            while lo % (2 * size) == 0 and lo + 2 * size <= width:
                size *= 2
            parts.append(block(lo, size))
            lo += size
        while len(parts) > 1:       # combine as a balanced tree
            nxt = []
            for i in range(0, len(parts) - 1, 2):
                (a1, t1), (a2, t2) = parts[i], parts[i + 1]
                nxt.append((a1 | a2, t1 | t2 | (a1 & a2)))
            if len(parts) % 2:
                nxt.append(parts[-1])
            parts = nxt
        zs, os_ = Signal(name=f"{name}_z{j}"), Signal(name=f"{name}_o{j}")
        if parts:
            m.d.comb += [zs.eq(~parts[0][0]), os_.eq(~parts[0][1])]
        else:
            m.d.comb += [zs.eq(1), os_.eq(1)]
        z.append(zs)
        o.append(os_)
    return sign, mag, z, o


def _ones(mag, z, o, width: int):
    """One-hot ``p1`` and ``p2`` of :func:`_lod_parts`'s fields."""
    h1 = Cat(*[mag[j] & z[j + 1] for j in range(width)])
    h2 = Cat(*[mag[j] & ~z[j + 1] & o[j + 1] for j in range(width)])
    return h1, h2


def _nonzero(x, width: int):
    """``x != 0`` (``|x| != 0``, read from ``x`` itself, not through the negation)."""
    return x[:width].any()


def lod_signed_approx(m: Module, x, width: int, steps: int, nonzero_other, negative_other,
                      name: str = "lod"):
    """``(-1)**negative * (nonzero * 2**p1 + has_second * 2**p2)`` of ``x``'s LOD fields as
    a signed ``width + 1``-bit value, with ``nonzero = (x != 0) & nonzero_other``,
    ``negative = sign(x) ^ negative_other``, ``has_second`` used only with ``steps == 2``.
    No carry chain: the negation of a value whose lowest one is at ``q`` keeps bits
    ``0 .. q`` and inverts every bit above, so it is the magnitude XOR a mask of the bits
    above ``q``. Built bit by bit from :func:`_lod_parts`'s fields, so neither position is
    encoded: bit ``j`` of the magnitude is ``p1``'s or (two steps) ``p2``'s one, and the mask
    is ``z[j]`` (one term: no one at or above ``j``) or ``o[j]`` (two terms: at most one, the
    leading one, there)."""
    sign, mag, z, o = _lod_parts(m, x, width, name)
    h1, h2 = _ones(mag, z, o, width)
    nz = Signal(name=f"{name}_nz")
    m.d.comb += nz.eq(_nonzero(x, width) & nonzero_other)
    second = nz & ~o[0] if steps == 2 else Const(0, 1)
    neg = nz & (sign ^ negative_other)
    bits = []
    for j in range(width):
        term = h1[j] | (h2[j] if steps == 2 else 0)
        above = Mux(second, o[j], z[j])
        bits.append((nz & term) ^ (neg & above))
    bits.append(neg)                 # bit ``width``: above every term
    out = Signal(signed(width + 1), name=f"{name}_sam")
    m.d.comb += out.eq(Cat(*bits))
    return out


def _encode(onehot, width: int, pw: int):
    """The position of the set bit of a one-hot ``onehot`` (0 if none), ``pw`` bits."""
    return Cat(*[_or_bits([onehot[b] for b in range(width) if b >> k & 1]) for k in range(pw)])


def _or_bits(bits):
    return Cat(*bits).any() if bits else Const(0, 1)


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
