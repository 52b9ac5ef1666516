"""Formal harnesses: each is a component whose output ``ok`` must be 1 in every reachable cycle.

Free inputs of a harness are left unconstrained by the proof (the BMC explores every value in
every cycle). ``formal/run.py`` wraps the harness in a few lines of Verilog
(``always @* assert(ok);``) and runs a bounded model check.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from hw.cau import Cau
from hw.lod import Lod

__all__ = ["LodHarness", "CauHarness"]


class LodHarness(wiring.Component):
    """``hw.lod.Lod`` at ``width`` bits against the definition of ``golden.eager.lod``:

    ``sign = x < 0``; ``nonzero = x != 0``; for nonzero ``x``, ``mag >> p1 == 1`` (p1 is the
    leading one), ``has_second = (mag != 2**p1)`` and, when set, ``(mag - 2**p1) >> p2 == 1``;
    fields that do not apply are 0; the approximations are ``±2**p1`` and
    ``±(2**p1 + has_second * 2**p2)``, never larger in magnitude than ``x``.
    """

    def __init__(self, width: int = 8, mutant: bool = False):
        self.width, self.mutant = width, mutant
        super().__init__({"x": In(signed(width)), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        W = self.width
        dut = m.submodules.dut = Lod(ExionConfig(data_width=max(W, 2), acc_width=48), W)
        m.d.comb += dut.x.eq(self.x)
        mag = Signal(W + 1)
        m.d.comb += mag.eq(abs(self.x))
        lead = Signal(W + 1)
        rem = Signal(W + 1)
        m.d.comb += lead.eq(Const(1, W + 1) << dut.p1)
        m.d.comb += rem.eq(mag - lead)
        a1 = Signal(signed(W + 2))
        a2 = Signal(signed(W + 2))
        m.d.comb += a1.eq(Cat(lead, 0).as_signed())
        m.d.comb += a2.eq(a1 + Cat((Const(1, W + 1) << dut.p2) & Cat(*[dut.has_second] * (W + 1)), 0).as_signed())
        checks = [
            dut.sign == (self.x < 0),
            dut.nonzero == (self.x != 0),
        ]
        nz = self.x != 0
        checks += [
            ~nz | ((mag >> dut.p1) == 1),
            ~nz | (dut.has_second == (mag != lead)),
            ~(nz & dut.has_second) | ((rem >> (dut.p2 + int(self.mutant))) == 1),
            dut.has_second | (dut.p2 == 0),
            nz | ((dut.p1 == 0) & (dut.p2 == 0) & ~dut.has_second & ~dut.sign),
            dut.approx1 == Mux_(nz, self.x < 0, a1),
            dut.approx2 == Mux_(nz, self.x < 0, a2),
            abs(dut.approx2) <= mag,
        ]
        m.d.comb += self.ok.eq(Cat(*checks).all())
        return m


def Mux_(nz, neg, a):
    """0 for zero, else ``a`` with the sign of ``x``."""
    from amaranth.hdl import Mux
    return Mux(nz, Mux(neg, -a, a), 0)


class CauHarness(wiring.Component):
    """The CAU fed one group of ``channels`` channels with free conflict vectors, free input
    gaps and free output back-pressure (a well-behaved stream producer: a beat stays stable
    until accepted). ``ok`` checks, every cycle:

    1. on every output block and slot ``c``: every valid stream ``d`` holding channel ``ch``
       has ``sel[r][c] == d + 1`` exactly for the rows ``r`` of ``cv(ch)`` (so each DPU's sel
       points at exactly the stream whose cv has its bit, and the streams sharing the slot have
       disjoint cvs); no DPU selects an invalid stream; the channel exists and needs work;
    2. no channel is emitted twice;
    3. once the group is done (last beat accepted, the CAU idle), every channel with a nonzero
       cv has been emitted: every required (token, channel) is in exactly one block.
    4. with ``resident`` (the CAU's ``resident`` input held at 1): every valid stream ``d`` of
       slot ``c`` holds a channel of its class, ``ch % cols == c``,
       ``(ch // cols) % merge_degree == d`` (the resident weight layout).

    ``done`` (an output) marks the end state, for a reachability check.
    """

    def __init__(self, cfg: ExionConfig, channels: int = 6, beat: int = 2,
                 resident: bool = False, mutant: bool = False):
        self.cfg, self.channels, self.beat, self.resident = cfg, channels, beat, resident
        self.mutant = mutant    # property 4 with a wrong stream class: must fail
        super().__init__({
            "offer": In(1), "cv_in": In(data.ArrayLayout(cfg.rows, beat)),
            "ready_in": In(1), "ok": Out(1), "done": Out(1),
        })

    def elaborate(self, platform):
        cfg, N, P = self.cfg, self.channels, self.beat
        R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
        m = Module()
        cau = m.submodules.cau = Cau(cfg, P)
        m.d.comb += cau.resident.eq(int(self.resident))
        nbeats = -(-N // P)
        cv_of = Array(Signal(R, name=f"cv_of{i}") for i in range(nbeats * P))
        emitted = Signal(nbeats * P)
        bi = Signal(range(nbeats + 1))          # beats accepted so far
        pend = Signal()                         # a beat is offered (held stable)
        hold = Signal(data.ArrayLayout(R, P))
        # Producer: a new beat takes free cvs; lanes past the last channel are zero.
        with m.If(~pend & self.offer & (bi < nbeats)):
            m.d.sync += pend.eq(1)
            for i in range(P):
                m.d.sync += hold[i].eq(self.cv_in[i])
        m.d.comb += [cau.masks.valid.eq(pend), cau.masks.payload.group.eq(0),
                     cau.masks.payload.base.eq(bi * P),
                     cau.masks.payload.last.eq(bi == nbeats - 1)]
        for i in range(P):
            lane_ok = Signal(name=f"lane_ok{i}")
            m.d.comb += lane_ok.eq((bi * P + i) < N)
            m.d.comb += cau.masks.payload.cv[i].eq(hold[i] & Cat(*[lane_ok] * R))
        with m.If(pend & cau.masks.ready):
            m.d.sync += [pend.eq(0), bi.eq(bi + 1)]
            for i in range(P):
                with m.If((bi * P + i) < N):
                    m.d.sync += cv_of[bi * P + i].eq(hold[i])
        m.d.comb += cau.blocks.ready.eq(self.ready_in)

        blk = cau.blocks.payload
        checks = []
        fire = cau.blocks.valid
        new_emit = []
        for c in range(C):
            for d in range(D):
                e = blk.slots[c][d]
                ch = e.channel
                in_range = ch < bi * P
                cv = Signal(R, name=f"cv_c{c}_d{d}")
                m.d.comb += cv.eq(cv_of[ch[:max(1, clog2(nbeats * P))]])
                rows_ok = Cat(*[(blk.sel[r][c] == d + 1) == cv[r] for r in range(R)]).all()
                checks.append(~fire | ~e.valid | (in_range & (cv != 0) & rows_ok))
                if self.resident:
                    dd = (d + 1) % D if self.mutant else d
                    checks.append(~fire | ~e.valid | ((ch % C == c) & ((ch // C) % D == dd)))
                # not emitted before, and not twice in this block
                was = Signal(name=f"was_c{c}_d{d}")
                m.d.comb += was.eq((emitted >> ch[:max(1, clog2(nbeats * P))])[0])
                checks.append(~fire | ~e.valid | ~was)
                for c2 in range(C):
                    for d2 in range(D):
                        if (c2, d2) < (c, d):
                            o = blk.slots[c2][d2]
                            checks.append(~fire | ~e.valid | ~o.valid | (o.channel != ch))
                new_emit.append(Mux_valid(fire & cau.blocks.ready & e.valid,
                                          ch[:max(1, clog2(nbeats * P))], nbeats * P))
            for r in range(R):
                s = blk.sel[r][c]
                checks.append(~fire | (s <= D))
                for d in range(D):
                    checks.append(~fire | (s != d + 1) | blk.slots[c][d].valid)
        upd = emitted
        for v in new_emit:
            upd = upd | v
        m.d.sync += emitted.eq(upd)
        done = Signal()
        m.d.comb += done.eq((bi == nbeats) & ~pend & ~cau.busy)
        need = Cat(*[cv_of[i] != 0 for i in range(nbeats * P)])
        checks.append(~done | (emitted == need))
        m.d.comb += [self.ok.eq(Cat(*checks).all()), self.done.eq(done)]
        return m


def Mux_valid(en, ch, n):
    """One-hot ``1 << ch`` (``n`` bits) when ``en``, else 0."""
    from amaranth.hdl import Mux
    return Mux(en, (Const(1, n) << ch)[:n], 0)
