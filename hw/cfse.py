"""Special-function engine (CFSE), first unit: a pipelined streaming GELU.

Computes :func:`golden.cfse.gelu` bit for bit (the definition is in ``docs/cfse.md``; every
constant and table comes from :mod:`exion.cfse_format`): per lane, for a Q5.10 code ``x``,
``phi`` = Phi(x) piecewise linear from a 256-entry ROM of (knot, slope) pairs, then
``y = (x * phi + 2**15) >> 16``. Softmax and LayerNorm row operations are not built yet.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion import cfse_format as F

__all__ = ["CfseGelu", "GELU_LATENCY", "gelu_rom_words"]

#: Cycles from accepting an input to presenting its result (without back-pressure).
GELU_LATENCY = 4

_DELTA_BITS = 11   # largest slope T[i+1] - T[i] is 1633
_BASE_BITS = F.PHI_FRAC + 1


def gelu_rom_words() -> list[int]:
    """ROM contents: word ``i`` = ``T[i] | (T[i+1] - T[i]) << 17`` for the 256 segments."""
    t = F.PHI_TABLE
    words = []
    for i in range(F.GELU_SEGMENTS):
        delta = t[i + 1] - t[i]
        assert 0 <= delta < (1 << _DELTA_BITS) and 0 <= t[i] < (1 << _BASE_BITS)
        words.append(t[i] | (delta << _BASE_BITS))
    return words


class CfseGelu(wiring.Component):
    """Streaming integer GELU, ``lanes`` Q5.10 elements per beat, one beat per cycle.

    A four-stage pipeline that stalls as a whole (every stage advances when the output
    register is empty or being taken): 1. ROM read of the segment's knot and slope (the
    segment index comes straight from the input); 2. ``phi = T[i] + ((slope * f + 32) >> 6)``
    (a small 11 x 6-bit product), or 0 / 65536 outside [-8, 8); 3. the 16 x 17-bit product
    ``x * phi``; 4. round and shift by 16. Each multiplier has a register on both sides.

    Parameters
    ----------
    lanes : int
        Elements per beat (1 to 64); each lane has its own ROM read port and multipliers.

    Members
    -------
    i : In(stream.Signature(data.ArrayLayout(signed(16), lanes)))
        Input codes (Q5.10).
    o : Out(stream.Signature(data.ArrayLayout(signed(16), lanes)))
        GELU of each lane (Q5.10), in input order, ``GELU_LATENCY`` cycles later at best.
    """

    def __init__(self, lanes: int = 1):
        if not isinstance(lanes, int) or not 1 <= lanes <= 64:
            raise ValueError(f"lanes = {lanes!r} must be an integer in [1, 64]")
        self.lanes = lanes
        layout = data.ArrayLayout(signed(F.ACT_BITS), lanes)
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        L, W, SB = self.lanes, F.ACT_BITS, F.GELU_SEG_BITS

        advance = Signal()
        v = [Signal(name=f"v{k}") for k in range(1, GELU_LATENCY + 1)]
        m.d.comb += [
            advance.eq(~v[-1] | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(v[-1]),
        ]
        with m.If(advance):
            m.d.sync += v[0].eq(self.i.valid)
            m.d.sync += [v[k].eq(v[k - 1]) for k in range(1, GELU_LATENCY)]

        m.submodules.rom = rom = Memory(shape=unsigned(_BASE_BITS + _DELTA_BITS),
                                        depth=F.GELU_SEGMENTS, init=gelu_rom_words())
        for lane in range(L):
            x0 = self.i.payload[lane]
            # Stage 1: ROM read; x, the segment fraction and the region travel alongside.
            off = Signal(unsigned(W), name=f"off{lane}")
            m.d.comb += off.eq(x0 - F.GELU_LO)
            rp = rom.read_port(domain="sync")
            m.d.comb += [rp.en.eq(advance), rp.addr.eq(off[SB:SB + 8])]
            x1 = Signal(signed(W), name=f"x1_{lane}")
            f1 = Signal(SB, name=f"f1_{lane}")
            below1 = Signal(name=f"below1_{lane}")
            above1 = Signal(name=f"above1_{lane}")
            # Stage 2: phi.
            x2 = Signal(signed(W), name=f"x2_{lane}")
            phi2 = Signal(unsigned(_BASE_BITS), name=f"phi2_{lane}")
            base = rp.data[:_BASE_BITS]
            delta = rp.data[_BASE_BITS:]
            interp = Signal(unsigned(_BASE_BITS), name=f"interp{lane}")
            m.d.comb += interp.eq(base + ((delta * f1 + (1 << (SB - 1))) >> SB))
            # Stage 3: the product; stage 4: round and shift.
            p3 = Signal(signed(W + _BASE_BITS + 1), name=f"p3_{lane}")
            y4 = Signal(signed(W), name=f"y4_{lane}")
            with m.If(advance):
                m.d.sync += [
                    x1.eq(x0), f1.eq(off[:SB]),
                    below1.eq(x0 < F.GELU_LO), above1.eq(x0 >= F.GELU_HI),
                    x2.eq(x1),
                    phi2.eq(Mux(below1, 0, Mux(above1, F.PHI_ONE, interp))),
                    p3.eq(x2 * phi2),
                    y4.eq((p3 + (1 << (F.PHI_FRAC - 1))) >> F.PHI_FRAC),
                ]
            m.d.comb += self.o.payload[lane].eq(y4)
        return m
