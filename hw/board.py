"""The FPGA board wrapper: a unit with every input driven on chip and every output observed.

The accelerator's host ports are far wider than a board's pins, so :class:`FpgaTop` drives every
input port of the unit from an on-chip stimulus (a 32-bit LFSR shifted into a chain of
flip-flops, one per input bit) and folds every output bit into a few registered parity bits
(the LEDs). Nothing is constant and every output is observed, so synthesis keeps all of the unit.
The wrapper reads the unit's signature only, so any top of :mod:`hw.generate` works.
:class:`BoardTop` connects it to a board's LEDs and first button. The flow that builds it is
``exion_tools.fpga``; this is RTL, so it lives in ``hw/``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FpgaTop", "BoardTop"]


def _lfsr32_next(state):
    """Galois LFSR step, polynomial x^32 + x^22 + x^2 + x + 1 (maximal length)."""
    fb = state[0]
    return Cat(state[1:], 0) ^ (fb.replicate(32) & 0x80200003)


class FpgaTop(wiring.Component):
    """A unit with every input driven on chip and every output folded into ``leds``.

    Parameters
    ----------
    unit : wiring.Component
        The design (e.g. ``hw.generate.tops()["sdue_top"](cfg)``); clocked by ``sync``.
    n_leds : int
        Parity outputs. Output bit ``i`` of the unit goes into ``leds[i % n_leds]``.

    Members
    -------
    leds : Out(n_leds)
        Registered XOR of the unit's output bits (one group per LED).
    hold : In(1)
        While high, the stimulus stands still (a board button; 0 when unconnected).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, unit: wiring.Component, n_leds: int = 8):
        if not isinstance(unit, wiring.Component):
            raise TypeError(f"unit must be an amaranth wiring.Component, not {unit!r}")
        self._unit = unit
        self._n_leds = n_leds
        self.in_bits = sum(Value.cast(v).shape().width
                           for _, m, v in unit.signature.flatten(unit) if m.flow == In)
        self.out_bits = sum(Value.cast(v).shape().width
                            for _, m, v in unit.signature.flatten(unit) if m.flow == Out)
        super().__init__({"leds": Out(n_leds), "hold": In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        ins = [Value.cast(v) for _, mem, v in unit.signature.flatten(unit) if mem.flow == In]
        outs = [Value.cast(v) for _, mem, v in unit.signature.flatten(unit) if mem.flow == Out]

        # Stimulus: one fresh LFSR bit per cycle enters a chain with one flip-flop per input
        # bit. Every input bit is its own register, so no two inputs are provably equal and
        # synthesis can merge nothing.
        lfsr = Signal(32, init=1)
        chain = Signal(max(1, self.in_bits))
        with m.If(~self.hold):
            m.d.sync += [lfsr.eq(_lfsr32_next(lfsr)),
                         chain.eq(Cat(lfsr[0], chain[:-1]) if self.in_bits > 1 else lfsr[0])]
        pos = 0
        for v in ins:
            w = v.shape().width
            m.d.comb += v.eq(chain[pos:pos + w])
            pos += w

        # Observation: every output bit lands in one registered parity bit.
        bits = Cat(*outs) if outs else Cat(lfsr[0])
        groups = [[] for _ in range(self._n_leds)]
        for i in range(len(bits)):
            groups[i % self._n_leds].append(bits[i])
        for i, g in enumerate(groups):
            m.d.sync += self.leds[i].eq(Cat(*g).xor() if g else lfsr[i])
        return m


class BoardTop(Elaboratable):
    """:class:`FpgaTop` connected to a board: clock from the board's oscillator (the
    platform's default ``sync`` domain), parities on the LEDs, the first button holds the
    stimulus."""

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, unit: wiring.Component):
        self.unit = unit
        self.core = None

    def elaborate(self, platform):
        from amaranth.build import ResourceError
        from amaranth.lib import io
        m = Module()
        leds = []
        while True:
            try:
                port = platform.request("led", len(leds), dir="-")
            except ResourceError:  # no more LEDs on this board
                break
            m.submodules[f"led{len(leds)}"] = buf = io.Buffer("o", port)
            leds.append(buf)
        self.core = core = FpgaTop(self.unit, n_leds=max(1, len(leds)))
        m.submodules.core = core
        for i, buf in enumerate(leds):
            m.d.comb += buf.o.eq(core.leds[i])
        try:
            port = platform.request("button", 0, dir="-")
        except ResourceError:
            pass
        else:
            m.submodules.hold = buf = io.Buffer("i", port)
            m.d.comb += core.hold.eq(buf.i)
        return m
