"""Special-function engine (CFSE), first unit: a pipelined streaming GELU.

Computes :func:`golden.cfse.gelu` bit for bit (the definition is in ``docs/cfse.md``; every
constant and table comes from :mod:`exion.cfse_format`): per lane, for a Q5.10 code ``x``,
``phi`` = Phi(x) piecewise linear from a 256-entry ROM of (knot, slope) pairs, then
``y = (x * phi + 2**15) >> 16``; and a sequential row softmax over the kept keys
(:func:`golden.cfse.softmax`), LayerNorm + adaLN (:func:`golden.cfse.layernorm_adaln`) and the
gated residual add (:func:`golden.cfse.residual_add`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion import cfse_format as F

__all__ = ["CfseGelu", "CfseSoftmax", "CfseLayerNorm", "CfseResidual", "GELU_LATENCY",
           "RESIDUAL_LATENCY", "gelu_rom_words", "exp_rom_words"]

#: Cycles from accepting an input to presenting its result (without back-pressure).
GELU_LATENCY = F.GELU_LATENCY

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


_EXP_BASE_BITS = F.EXP_FRAC + 1
_EXP_DELTA_BITS = 9  # largest T[i] - T[i+1] is 353


def exp_rom_words() -> list[int]:
    """ROM of 2**(-r): word ``i`` = ``T[i] | (T[i] - T[i+1]) << 16`` for the 64 segments."""
    t = F.EXP_TABLE
    words = []
    for i in range(F.EXP_SEGMENTS):
        delta = t[i] - t[i + 1]
        assert 0 <= delta < (1 << _EXP_DELTA_BITS) and 0 <= t[i] < (1 << _EXP_BASE_BITS)
        words.append(t[i] | (delta << _EXP_BASE_BITS))
    return words


class CfseGelu(wiring.Component):
    """Streaming integer GELU, ``lanes`` Q5.10 elements per beat, one beat per cycle.

    A five-stage pipeline that stalls as a whole (every stage advances when the output
    register is empty or being taken): 1. ROM read of the segment's knot and slope (the
    segment index comes straight from the input); 2. the small 11 x 6-bit product
    ``slope * f``; 3. ``phi = T[i] + ((slope * f + 32) >> 6)``, or 0 / 65536 outside [-8, 8);
    4. the 16 x 17-bit product ``x * phi``; 5. round and shift by 16. Each multiplier has a
    register on both sides.

    Timing: the interpolation product has its own register (stage 2): the ROM read, that
    multiplier, the adder and the region select in one cycle were one of the FPGA build's late
    paths (docs/fpga.md); it cost ``GELU_LATENCY`` one cycle (5, was 4).

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

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

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
            # Stage 2: the interpolation product; the knot and the region travel alongside.
            x2 = Signal(signed(W), name=f"x2_{lane}")
            base2 = Signal(unsigned(_BASE_BITS), name=f"base2_{lane}")
            dprod2 = Signal(unsigned(_DELTA_BITS + SB), name=f"dprod2_{lane}")
            below2 = Signal(name=f"below2_{lane}")
            above2 = Signal(name=f"above2_{lane}")
            base = rp.data[:_BASE_BITS]
            delta = rp.data[_BASE_BITS:]
            # Stage 3: phi.
            x3 = Signal(signed(W), name=f"x3_{lane}")
            phi3 = Signal(unsigned(_BASE_BITS), name=f"phi3_{lane}")
            interp = Signal(unsigned(_BASE_BITS), name=f"interp{lane}")
            m.d.comb += interp.eq(base2 + ((dprod2 + (1 << (SB - 1))) >> SB))
            # Stage 4: the product; stage 5: round and shift.
            p4 = Signal(signed(W + _BASE_BITS + 1), name=f"p4_{lane}")
            y5 = Signal(signed(W), name=f"y5_{lane}")
            with m.If(advance):
                m.d.sync += [
                    x1.eq(x0), f1.eq(off[:SB]),
                    below1.eq(x0 < F.GELU_LO), above1.eq(x0 >= F.GELU_HI),
                    x2.eq(x1), base2.eq(base), dprod2.eq(delta * f1),
                    below2.eq(below1), above2.eq(above1),
                    x3.eq(x2),
                    phi3.eq(Mux(below2, 0, Mux(above2, F.PHI_ONE, interp))),
                    p4.eq(x3 * phi3),
                    y5.eq((p4 + (1 << (F.PHI_FRAC - 1))) >> F.PHI_FRAC),
                ]
            m.d.comb += self.o.payload[lane].eq(y5)
        return m


class CfseSoftmax(wiring.Component):
    """Row softmax over the kept keys (:func:`golden.cfse.softmax`), bit for bit.

    Sequential, one row at a time, in four phases: **load** (one key per cycle into a row
    buffer, the running maximum over kept keys), **exp** (per key: ``z`` from ``m - x``, the
    2**(-r) table and the shift by ``q``; the numerator goes to a second buffer and into the
    32-bit row sum, 4 cycles per key), **divide** (``R = floor(2**47 / S)`` by restoring
    division, 48 cycles; skipped when no key is kept), **normalize** (per key
    ``min((e * R + 2**31) >> 32, 32767)``, 3 cycles per key plus the output handshake).
    Every multiplier has registers on both sides. A row of ``N`` keys costs ``9 N + 1`` cycles,
    plus 48 when a key is kept (:func:`golden.cycle_model.cfse_softmax_cycles`, held equal
    in the bench). The core runs softmax on the row unit of ``hw/cfse_rows.py`` instead (every
    row at once, pipelined).

    Parameters
    ----------
    max_keys : int
        Row buffer depth (1 to ``MAX_SOFTMAX_KEYS``). A row longer than that is cut: its
        ``max_keys``-th key is taken as the last.

    Members
    -------
    i : In(stream.Signature(StructLayout({"x": signed(16), "keep": 1, "last": 1})))
        Scores (Q5.10) of one row, in key order; ``keep`` is the eager keep-mask bit and
        ``last`` marks the row's last key. Ready only in the load phase.
    o : Out(stream.Signature(StructLayout({"p": signed(16), "last": 1})))
        The row's probabilities (Q1.15) in key order, ``last`` on the last one.
    busy : Out(1)
        A row is being processed (any phase but an idle load).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, max_keys: int = 64):
        if not isinstance(max_keys, int) or not 1 <= max_keys <= F.MAX_SOFTMAX_KEYS:
            raise ValueError(f"max_keys = {max_keys!r} must be an integer in "
                             f"[1, {F.MAX_SOFTMAX_KEYS}]")
        self.max_keys = max_keys
        super().__init__({
            "i": In(stream.Signature(data.StructLayout(
                {"x": signed(F.ACT_BITS), "keep": 1, "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"p": signed(F.ACT_BITS), "last": 1}))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        from amaranth.hdl import Cat, Const

        m = Module()
        N = self.max_keys
        AW = max(1, (N - 1).bit_length())
        W = F.ACT_BITS
        lo_bits = F.Z_FRAC - F.EXP_SEG_BITS

        m.submodules.xmem = xmem = Memory(shape=unsigned(W + 1), depth=N, init=[])
        m.submodules.emem = emem = Memory(shape=unsigned(F.EXP_FRAC + 1), depth=N, init=[])
        xw, xr = xmem.write_port(), xmem.read_port(domain="sync")
        ew, er = emem.write_port(), emem.read_port(domain="sync")

        idx = Signal(AW + 1)
        count = Signal(AW + 1)
        mx = Signal(signed(W))
        any_kept = Signal()
        total = Signal(F.SOFTMAX_SUM_BITS)
        # exp phase registers
        keep_r = Signal()
        z = Signal(unsigned(23))
        e_lin = Signal(unsigned(F.EXP_FRAC + 1))
        q = Signal(unsigned(5))           # integer part of z, clamped to 17 (= "zero")
        # divide and normalize
        recip = Signal(F.RECIP_BITS + 1)
        rem = Signal(F.SOFTMAX_SUM_BITS + 2)
        step = Signal(range(F.RECIP_BITS + 1))
        prod = Signal(unsigned(F.EXP_FRAC + 1 + 33))
        p_out = Signal(signed(W))
        last_out = Signal()
        o_valid = Signal()

        m.d.comb += [
            xr.addr.eq(idx), er.addr.eq(idx),
            xw.addr.eq(idx), ew.addr.eq(idx),
            self.o.valid.eq(o_valid),
            self.o.payload.p.eq(p_out), self.o.payload.last.eq(last_out),
        ]
        # 2**(-r) knots and slopes, read asynchronously (a continuous assignment, so no
        # initial X under Icarus).
        m.submodules.exp_rom = exp_rom = Memory(
            shape=unsigned(_EXP_BASE_BITS + _EXP_DELTA_BITS), depth=F.EXP_SEGMENTS,
            init=exp_rom_words())
        tr = exp_rom.read_port(domain="comb")
        # Addressed from z in every state (only EXP_LUT uses the data): the table read then
        # starts at the z register, not at the state decode (a shorter path on the FPGA).
        m.d.comb += tr.addr.eq(z[lo_bits:F.Z_FRAC])

        with m.FSM(name="phase") as fsm:
            with m.State("LOAD"):
                x, keep = self.i.payload.x, self.i.payload.keep
                with m.If(self.i.valid):
                    m.d.comb += [xw.data.eq(Cat(x, keep)), xw.en.eq(1)]
                    with m.If(keep & (~any_kept | (x > mx))):
                        m.d.sync += mx.eq(x)
                    m.d.sync += any_kept.eq(any_kept | keep)
                    with m.If(self.i.payload.last | (idx == N - 1)):
                        m.d.sync += [count.eq(idx + 1), idx.eq(0), total.eq(0)]
                        m.next = "EXP_READ"
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
            with m.State("EXP_READ"):
                m.next = "EXP_Z"
            with m.State("EXP_Z"):
                xv = xr.data[:W].as_signed()
                a = Signal(signed(W + 2))
                m.d.comb += a.eq(mx - xv)
                m.d.sync += [
                    keep_r.eq(xr.data[W]),
                    z.eq((a * F.LOG2E_Q + (1 << (F.ACT_FRAC + F.LOG2E_FRAC - F.Z_FRAC - 1)))
                         >> (F.ACT_FRAC + F.LOG2E_FRAC - F.Z_FRAC)),
                ]
                m.next = "EXP_LUT"
            with m.State("EXP_LUT"):
                r = z[:F.Z_FRAC]
                base, delta = tr.data[:_EXP_BASE_BITS], tr.data[_EXP_BASE_BITS:]
                m.d.sync += [
                    e_lin.eq(base - ((delta * r[:lo_bits] + (1 << (lo_bits - 1))) >> lo_bits)),
                    q.eq(Mux(z[F.Z_FRAC:] >= 17, 17, z[F.Z_FRAC:])),
                ]
                m.next = "EXP_SHIFT"
            with m.State("EXP_SHIFT"):
                # (e + 2**(q-1)) >> q for q >= 1, e for q = 0, as ((2 e + 2**q) >> (q + 1)).
                e = Signal(unsigned(F.EXP_FRAC + 1))
                shifted = ((Cat(Const(0, 1), e_lin) + (Const(1, 18) << q)) >> (q + 1))
                m.d.comb += e.eq(Mux(keep_r & (q < 17), shifted, 0))
                m.d.comb += [ew.data.eq(e), ew.en.eq(1)]
                m.d.sync += total.eq(total + e)
                with m.If(idx + 1 == count):
                    m.d.sync += idx.eq(0)
                    m.next = "DIV_INIT"
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
                    m.next = "EXP_READ"
            with m.State("DIV_INIT"):
                m.d.sync += [recip.eq(0), rem.eq(0), step.eq(F.RECIP_BITS)]
                with m.If(total == 0):
                    m.next = "NORM_READ"
                with m.Else():
                    m.next = "DIV"
            with m.State("DIV"):
                # Restoring division of 2**47 by total: bring down one dividend bit a cycle.
                nrem = Signal(F.SOFTMAX_SUM_BITS + 2)
                m.d.comb += nrem.eq(Cat(step == F.RECIP_BITS, rem))
                with m.If(nrem >= total):
                    m.d.sync += [rem.eq(nrem - total), recip.eq(Cat(Const(1, 1), recip))]
                with m.Else():
                    m.d.sync += [rem.eq(nrem), recip.eq(Cat(Const(0, 1), recip))]
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.next = "NORM_READ"
            with m.State("NORM_READ"):
                m.next = "NORM_MUL"
            with m.State("NORM_MUL"):
                m.d.sync += prod.eq(er.data * recip[:33])
                m.next = "NORM_ROUND"
            with m.State("NORM_ROUND"):
                pr = (prod + (1 << (F.RECIP_SHIFT - 1))) >> F.RECIP_SHIFT
                m.d.sync += [
                    p_out.eq(Mux(pr > F.PROB_MAX, F.PROB_MAX, pr)),
                    last_out.eq(idx + 1 == count),
                    o_valid.eq(1),
                ]
                m.next = "NORM_OUT"
            with m.State("NORM_OUT"):
                with m.If(self.o.ready):
                    m.d.sync += o_valid.eq(0)
                    with m.If(last_out):
                        m.d.sync += [idx.eq(0), any_kept.eq(0), mx.eq(0)]
                        m.next = "LOAD"
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
                        m.next = "NORM_READ"
        # Outside the FSM's case statement: continuous assignments (a comb process that only
        # depends on the never-changing state would start as X under Icarus).
        loading = fsm.ongoing("LOAD")
        m.d.comb += [self.i.ready.eq(loading), self.busy.eq(~loading | (idx != 0))]
        return m


class CfseLayerNorm(wiring.Component):
    """Row LayerNorm with adaLN modulation (:func:`golden.cfse.layernorm_adaln`), bit for bit.

    Sequential, one row at a time: **load** (one channel a cycle into a row buffer with its
    scale and shift; ``s1 += x``, ``s2 += x*x`` through a registered square), **statistics**
    (``C*s2``, ``s1**2`` and ``C**2`` in registered multipliers, then ``D``, its bit length,
    the even normalization to 47 or 48 bits), **square root** (digit by digit, 24 cycles),
    **divide** (``floor(2**47 / s)``, restoring, 48 cycles), **output** (per channel
    ``u = C*x - s1``, ``n = u*r`` rounded by ``31 - j`` bits, ``y = sat16(((n*g + 2**15) >> 16)
    + shift)``, 6 cycles plus the handshake). A row of ``C`` channels costs ``8 C + 77``
    cycles (:func:`golden.cycle_model.cfse_layernorm_cycles`, held equal in the bench).

    Parameters
    ----------
    max_dim : int
        Row buffer depth (1 to ``MAX_LN_DIM``); a longer row is cut at ``max_dim`` channels.

    Members
    -------
    i : In(stream.Signature(StructLayout({"x": signed(16), "scale": signed(16),
                                          "shift": signed(16), "last": 1})))
        One channel per beat (all Q5.10), ``last`` on the row's last channel.
    o : Out(stream.Signature(StructLayout({"y": signed(16), "last": 1})))
        The normalized, modulated row (Q5.10) in channel order.
    busy : Out(1)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, max_dim: int = 64):
        if not isinstance(max_dim, int) or not 1 <= max_dim <= F.MAX_LN_DIM:
            raise ValueError(f"max_dim = {max_dim!r} must be an integer in [1, {F.MAX_LN_DIM}]")
        self.max_dim = max_dim
        W = F.ACT_BITS
        super().__init__({
            "i": In(stream.Signature(data.StructLayout(
                {"x": signed(W), "scale": signed(W), "shift": signed(W), "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"y": signed(W), "last": 1}))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        from amaranth.hdl import Cat, Const

        m = Module()
        N, W = self.max_dim, F.ACT_BITS
        AW = max(1, (N - 1).bit_length())
        RB = F.RSQRT_BITS                      # 48: radicand bits after normalization
        m.submodules.buf = buf = Memory(shape=unsigned(3 * W), depth=N, init=[])
        bw, br = buf.write_port(), buf.read_port(domain="sync")

        idx = Signal(AW + 1)
        count = Signal(14)
        s1 = Signal(signed(32))
        s2 = Signal(unsigned(44))
        sq = Signal(unsigned(2 * W))
        sq_valid = Signal()
        t1 = Signal(unsigned(58))
        t2 = Signal(unsigned(58))
        s1_hi, s1_lo = s1[16:].as_signed(), s1[:16]
        s1_hh, s1_hl, s1_ll = Signal(signed(32)), Signal(signed(33)), Signal(unsigned(32))
        t3 = Signal(unsigned(28))
        dd = Signal(unsigned(58))
        blen = Signal(range(59))
        j = Signal(signed(7))
        rad = Signal(unsigned(RB))
        root = Signal(unsigned(RB // 2))
        srem = Signal(unsigned(RB // 2 + 3))
        step = Signal(range(F.LN_RECIP_BITS + 2))
        recip = Signal(unsigned(F.LN_RECIP_BITS + 1))
        drem = Signal(unsigned(RB // 2 + 3))
        u = Signal(signed(32))
        ur = Signal(signed(60))
        n = Signal(signed(34))
        ng = Signal(signed(54))
        shift_r = Signal(signed(W))
        scale_r = Signal(signed(W))
        y_out = Signal(signed(W))
        last_out = Signal()
        o_valid = Signal()

        m.d.comb += [
            bw.addr.eq(idx), br.addr.eq(idx),
            self.o.valid.eq(o_valid),
            self.o.payload.y.eq(y_out), self.o.payload.last.eq(last_out),
        ]
        # The square of the previous beat joins s2 one cycle late (register after the multiply).
        with m.If(sq_valid):
            m.d.sync += [s2.eq(s2 + sq), sq_valid.eq(0)]

        with m.FSM(name="phase") as fsm:
            with m.State("LOAD"):
                p = self.i.payload
                with m.If(self.i.valid):
                    m.d.comb += [bw.data.eq(Cat(p.x, p.scale, p.shift)), bw.en.eq(1)]
                    m.d.sync += [s1.eq(s1 + p.x), sq.eq(p.x * p.x), sq_valid.eq(1)]
                    with m.If(p.last | (idx == N - 1)):
                        m.d.sync += [count.eq(idx + 1), idx.eq(0)]
                        m.next = "FLUSH"
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
            with m.State("FLUSH"):              # the last square enters s2 this cycle
                # s1 is final: its square's three 16-bit partial products now, their sum in
                # STATS (one 32 x 32 multiply and its sum in a cycle is too long for the FPGA)
                m.d.sync += [s1_hh.eq(s1_hi * s1_hi), s1_hl.eq(s1_hi * s1_lo),
                             s1_ll.eq(s1_lo * s1_lo)]
                m.next = "STATS"
            with m.State("STATS"):
                # s1 = hi * 2**16 + lo: s1**2 = hi**2 * 2**32 + hi*lo * 2**17 + lo**2
                m.d.sync += [t1.eq(count * s2),
                             t2.eq(((s1_hh << 32) + (s1_hl << 17) + s1_ll)[:58]),
                             t3.eq(count * count * F.EPS_Q)]
                m.next = "RADICAND"
            with m.State("RADICAND"):
                m.d.sync += dd.eq(t1 - t2 + t3)
                m.next = "BITLEN"
            with m.State("BITLEN"):
                # Priority encoder: the highest set bit's assignment is the last, so it wins.
                m.d.sync += blen.eq(0)
                for b in range(58):
                    with m.If(dd[b]):
                        m.d.sync += blen.eq(b + 1)
                m.next = "NORMALIZE"
            with m.State("NORMALIZE"):
                jj = Signal(signed(8))
                m.d.comb += jj.eq((Const(RB, signed(8)) - blen) >> 1)   # floor division by 2
                m.d.sync += j.eq(jj)
                with m.If(jj >= 0):
                    m.d.sync += rad.eq(dd << (jj.as_unsigned()[:5] << 1))
                with m.Else():
                    m.d.sync += rad.eq(dd >> ((-jj).as_unsigned()[:3] << 1))
                m.d.sync += [root.eq(0), srem.eq(0), step.eq(RB // 2 - 1)]
                m.next = "SQRT"
            with m.State("SQRT"):
                # Digit by digit: bring down two radicand bits, try (root << 2) | 1.
                pair = Signal(2)
                m.d.comb += pair.eq(rad[RB - 2:])
                nrem = Signal(unsigned(RB // 2 + 3))
                trial = Signal(unsigned(RB // 2 + 3))
                m.d.comb += [nrem.eq(Cat(pair, srem)), trial.eq(Cat(Const(1, 2), root))]
                m.d.sync += rad.eq(rad << 2)
                with m.If(nrem >= trial):
                    m.d.sync += [srem.eq(nrem - trial), root.eq(Cat(Const(1, 1), root))]
                with m.Else():
                    m.d.sync += [srem.eq(nrem), root.eq(Cat(Const(0, 1), root))]
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.d.sync += [recip.eq(0), drem.eq(0), step.eq(F.LN_RECIP_BITS)]
                    m.next = "DIV"
            with m.State("DIV"):
                nrem = Signal(unsigned(RB // 2 + 3))
                m.d.comb += nrem.eq(Cat(step == F.LN_RECIP_BITS, drem))
                with m.If(nrem >= root):
                    m.d.sync += [drem.eq(nrem - root), recip.eq(Cat(Const(1, 1), recip))]
                with m.Else():
                    m.d.sync += [drem.eq(nrem), recip.eq(Cat(Const(0, 1), recip))]
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.next = "OUT_READ"
            with m.State("OUT_READ"):
                m.next = "OUT_U"
            with m.State("OUT_U"):
                xv = br.data[:W].as_signed()
                m.d.sync += [u.eq(count * xv - s1),
                             scale_r.eq(br.data[W:2 * W].as_signed()),
                             shift_r.eq(br.data[2 * W:].as_signed())]
                m.next = "OUT_MUL1"
            with m.State("OUT_MUL1"):
                m.d.sync += ur.eq(u * recip[:25])
                m.next = "OUT_SHIFT"
            with m.State("OUT_SHIFT"):
                # (ur + 2**(k-1)) >> k with k = 31 - j, as ((2 ur + 2**k) >> (k + 1)).
                k = Signal(range(64))
                m.d.comb += k.eq(31 - j)
                m.d.sync += n.eq(((ur << 1) + (Const(1, 40) << k)) >> (k + 1))
                m.next = "OUT_MUL2"
            with m.State("OUT_MUL2"):
                m.d.sync += ng.eq(n * ((1 << F.ACT_FRAC) + scale_r))
                m.next = "OUT_ROUND"
            with m.State("OUT_ROUND"):
                yv = Signal(signed(40))
                m.d.comb += yv.eq(((ng + (1 << (F.NORM_FRAC - 1))) >> F.NORM_FRAC) + shift_r)
                m.d.sync += [
                    y_out.eq(Mux(yv > F.ACT_MAX, F.ACT_MAX, Mux(yv < F.ACT_MIN, F.ACT_MIN, yv))),
                    last_out.eq(idx + 1 == count),
                    o_valid.eq(1),
                ]
                m.next = "OUT_WAIT"
            with m.State("OUT_WAIT"):
                with m.If(self.o.ready):
                    m.d.sync += o_valid.eq(0)
                    with m.If(last_out):
                        m.d.sync += [idx.eq(0), s1.eq(0), s2.eq(0)]
                        m.next = "LOAD"
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
                        m.next = "OUT_READ"
        loading = fsm.ongoing("LOAD")
        m.d.comb += [self.i.ready.eq(loading), self.busy.eq(~loading | (idx != 0))]
        return m


class CfseResidual(wiring.Component):
    """Streaming residual add with an adaLN-Zero gate, ``lanes`` elements per beat:
    ``y = sat16(x + ((gate * f + 2**9) >> 10))`` (:func:`golden.cfse.residual_add`); a gate
    of 1024 (1.0) gives the plain ``sat16(x + f)``.

    Two stages, stalling as a whole: the 16 x 16-bit product ``gate * f``, then round, add and
    saturate. One beat per cycle, latency ``RESIDUAL_LATENCY = F.RESIDUAL_LATENCY``.

    Parameters
    ----------
    lanes : int
        Elements per beat (1 to 64).

    Members
    -------
    i : In(stream.Signature(ArrayLayout(StructLayout({"x": signed(16), "f": signed(16),
                                                      "gate": signed(16)}), lanes)))
    o : Out(stream.Signature(ArrayLayout(signed(16), lanes)))
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, lanes: int = 1):
        if not isinstance(lanes, int) or not 1 <= lanes <= 64:
            raise ValueError(f"lanes = {lanes!r} must be an integer in [1, 64]")
        self.lanes = lanes
        W = F.ACT_BITS
        elem = data.StructLayout({"x": signed(W), "f": signed(W), "gate": signed(W)})
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(W), lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        W = F.ACT_BITS
        v1, v2 = Signal(), Signal()
        advance = Signal()
        m.d.comb += [advance.eq(~v2 | self.o.ready), self.i.ready.eq(advance),
                     self.o.valid.eq(v2)]
        with m.If(advance):
            m.d.sync += [v1.eq(self.i.valid), v2.eq(v1)]
        for lane in range(self.lanes):
            e = self.i.payload[lane]
            x1 = Signal(signed(W), name=f"x1_{lane}")
            gf1 = Signal(signed(2 * W), name=f"gf1_{lane}")
            y2 = Signal(signed(W), name=f"y2_{lane}")
            s = Signal(signed(2 * W), name=f"sum{lane}")
            m.d.comb += s.eq(x1 + ((gf1 + (1 << (F.ACT_FRAC - 1))) >> F.ACT_FRAC))
            with m.If(advance):
                m.d.sync += [
                    x1.eq(e.x), gf1.eq(e.gate * e.f),
                    y2.eq(Mux(s > F.ACT_MAX, F.ACT_MAX, Mux(s < F.ACT_MIN, F.ACT_MIN, s))),
                ]
            m.d.comb += self.o.payload[lane].eq(y2)
        return m


#: Cycles from accepting a beat to presenting its result in CfseResidual.
RESIDUAL_LATENCY = F.RESIDUAL_LATENCY
