"""The CFSE's row units of the core: LayerNorm + adaLN and softmax of every row of a command at
once, one channel (key) of every row per cycle, in pipelined passes over the channels.

The core keeps row ``r`` of a command in OMEM bank ``r`` (docs/cfse.md, "Core commands"), so
one OMEM address gives channel ``c`` of every row: the units read channel after channel and
run one datapath per row. They own their schedule and ask for the data: ``rd_en`` with a
channel (``rd_ch``) and, for the LayerNorm, which operand (``rd_sel``: x, scale, shift); the
memory's data comes back the next cycle (``rd_x``: every row, ``rd_m``: bank 0,
``rd_keep``: every row's keep bit) and is registered before any arithmetic (the memory's
output and the core's code conversion take that cycle). Results come out one channel of
every row per cycle
(``o_valid``, no back-pressure: the IMEM write port takes a word each cycle).

Bit for bit :func:`golden.cfse.layernorm_adaln` and :func:`golden.cfse.softmax` (the same
integer steps as the sequential units of ``hw/cfse.py``); cycles
:func:`golden.cycle_model.cfse_layernorm_rows_cycles` and
:func:`golden.cycle_model.cfse_softmax_rows_cycles`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion import cfse_format as F
from exion.config import ExionConfig
from exion.limits import MAX_KEYS

from .cfse import exp_rom_words

__all__ = ["CfseLayerNormRows", "CfseSoftmaxRows", "CfseRowUnits", "X", "SCALE", "SHIFT"]

#: ``rd_sel`` of the LayerNorm: the operand asked for.
X, SCALE, SHIFT = 0, 1, 2

_EXP_BASE_BITS = F.EXP_FRAC + 1


def _check(rows, depth, limit, what):
    if not isinstance(rows, int) or not 1 <= rows <= 64:
        raise ValueError(f"rows = {rows!r} must be an integer in [1, 64]")
    if not isinstance(depth, int) or not 1 <= depth <= limit:
        raise ValueError(f"{what} = {depth!r} must be an integer in [1, {limit}]")


def _sat16(v):
    return Mux(v > F.ACT_MAX, F.ACT_MAX, Mux(v < F.ACT_MIN, F.ACT_MIN, v))


class CfseLayerNormRows(wiring.Component):
    """LayerNorm + adaLN of ``rows`` rows of ``n`` channels at once.

    Passes: **sums** (``n`` x reads; ``s1 += x``, ``s2 += x*x`` per row through a registered
    square), **modulation** (``2 n`` reads of the shared scale and shift into a channel
    buffer) while the **statistics** of every row run (``C*s2 - s1**2 + C**2 EPS_Q``, bit
    length, even normalization, 24-step square root, 48-step division), **output** (``n``
    x reads through a 5-register pipeline per row: ``u = C*x - s1``, ``u*r``, the rounding
    shift by ``31 - j``, the product with ``1 + scale``, round, add the shift, saturate), each
    read's data registered first.

    Timing (the FPGA build, docs/fpga.md): no multiplier feeds more than one carry chain in a
    cycle. ``s1**2`` is three 16-bit products registered in FLUSH (``s1`` is final there) and
    summed in STATS; ``C*s2`` and ``u*r`` are products of 17-bit slices, the outer ones side by
    side, so one addition follows the multipliers; ``u*r`` is registered as its three addends in
    carry-save form, added in the rounding shift's stage with the rounding bit (a register set
    with ``j``); the gain ``1 + scale`` is registered a stage ahead of its product. Every cycle
    as before.

    Parameters
    ----------
    rows : int
        Rows (datapaths), 1 to 64.
    max_dim : int
        Channel buffer depth: the longest row (1 to ``MAX_LN_DIM``).

    Members
    -------
    start : In(1) ; n : In(range(max_dim + 1))
        Begin a command of ``n`` (>= 1) channels; taken while idle.
    rd_en : Out(1) ; rd_sel : Out(2) ; rd_ch : Out(range(max_dim))
        A read of channel ``rd_ch``'s x (every row), scale or shift (:data:`X`,
        :data:`SCALE`, :data:`SHIFT`).
    rd_x : In(ArrayLayout(signed(16), rows)) ; rd_m : In(signed(16))
        The read's data, the cycle after: x of every row (Q5.10), the scale or shift.
    o_valid : Out(1) ; o_y : Out(ArrayLayout(signed(16), rows)) ; o_last : Out(1)
        One channel of every row per cycle, in channel order, ``o_last`` on channel ``n - 1``.
    busy : Out(1)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, *, rows: int, max_dim: int):
        _check(rows, max_dim, F.MAX_LN_DIM, "max_dim")
        self._rows, self._max_dim = rows, max_dim
        W = F.ACT_BITS
        super().__init__({
            "start": In(1), "n": In(range(max_dim + 1)),
            "rd_en": Out(1), "rd_sel": Out(2), "rd_ch": Out(range(max_dim)),
            "rd_x": In(data.ArrayLayout(signed(W), rows)), "rd_m": In(signed(W)),
            "o_valid": Out(1), "o_y": Out(data.ArrayLayout(signed(W), rows)), "o_last": Out(1),
            "busy": Out(1),
        })

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def max_dim(self) -> int:
        return self._max_dim

    def elaborate(self, platform):
        m = Module()
        R, N, W = self._rows, self._max_dim, F.ACT_BITS
        RB = F.RSQRT_BITS
        m.submodules.buf = buf = Memory(shape=unsigned(2 * W), depth=N, init=[])
        bw, br = buf.write_port(), buf.read_port(domain="sync")

        count = Signal(14)
        ch = Signal(range(N + 1))
        sub = Signal()
        last = Signal()
        m.d.comb += last.eq(ch + 1 == count)
        # a read (cycle t), its data presented (t + 1) and registered (t + 2: the d_ signals)
        q_en, q_sel, q_ch, q_last = Signal(), Signal(2), Signal(range(N)), Signal()
        d_en, d_sel, d_ch, d_last = Signal(), Signal(2), Signal(range(N)), Signal()
        m.d.sync += [q_en.eq(self.rd_en), q_sel.eq(self.rd_sel), q_ch.eq(self.rd_ch),
                     q_last.eq(last), d_en.eq(q_en), d_sel.eq(q_sel), d_ch.eq(q_ch),
                     d_last.eq(q_last)]
        xin = [Signal(signed(W), name=f"xin{r}") for r in range(R)]
        m_in = Signal(signed(W))
        m.d.sync += [xin[r].eq(self.rd_x[r]) for r in range(R)]
        m.d.sync += m_in.eq(self.rd_m)

        stats_ready = Signal()
        with m.FSM(name="ln_pass") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [count.eq(self.n), ch.eq(0), sub.eq(0)]
                    m.next = "SUMS"
            with m.State("SUMS"):
                m.d.comb += [self.rd_en.eq(1), self.rd_sel.eq(X)]
                m.d.sync += ch.eq(Mux(last, 0, ch + 1))
                with m.If(last):
                    m.next = "MOD"
            with m.State("MOD"):
                m.d.comb += [self.rd_en.eq(1), self.rd_sel.eq(Mux(sub, SHIFT, SCALE))]
                m.d.sync += sub.eq(~sub)
                with m.If(sub):
                    m.d.sync += ch.eq(Mux(last, 0, ch + 1))
                    with m.If(last):
                        m.next = "WAIT"
                        with m.If(stats_ready):
                            m.next = "OUT"
            with m.State("WAIT"):
                with m.If(stats_ready):
                    m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [self.rd_en.eq(1), self.rd_sel.eq(X)]
                m.d.sync += ch.eq(Mux(last, 0, ch + 1))
                with m.If(last):
                    m.next = "IDLE"
        # the buffer is read a cycle after the OMEM so that scale and shift come with x
        m.d.comb += [self.rd_ch.eq(ch), br.addr.eq(q_ch),
                     self.busy.eq(~fsm.ongoing("IDLE"))]
        out_q, out_rd = Signal(), Signal()
        m.d.sync += [out_q.eq(fsm.ongoing("OUT")), out_rd.eq(out_q)]

        # the modulation buffer: scale held until its shift arrives, then one word a channel
        sc_hold = Signal(signed(W))
        with m.If(d_en & (d_sel == SCALE)):
            m.d.sync += sc_hold.eq(m_in)
        m.d.comb += [bw.addr.eq(d_ch), bw.data.eq(Cat(sc_hold, m_in)),
                     bw.en.eq(d_en & (d_sel == SHIFT))]

        # statistics control, shared by the rows
        step = Signal(range(F.LN_RECIP_BITS + 2))
        t3 = Signal(unsigned(28))
        with m.FSM(name="ln_stats") as sfsm:
            with m.State("IDLE"):
                with m.If(d_en & (d_sel == X) & d_last & ~out_rd):
                    m.next = "FLUSH"
            with m.State("FLUSH"):              # the last square enters s2
                m.next = "STATS"
            with m.State("STATS"):
                m.d.sync += t3.eq(count * count * F.EPS_Q)
                m.next = "RADICAND"
            with m.State("RADICAND"):
                m.next = "BITLEN"
            with m.State("BITLEN"):
                m.next = "NORMALIZE"
            with m.State("NORMALIZE"):
                m.d.sync += step.eq(RB // 2 - 1)
                m.next = "SQRT"
            with m.State("SQRT"):
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.d.sync += step.eq(F.LN_RECIP_BITS)
                    m.next = "DIV"
            with m.State("DIV"):
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.next = "DONE"
            with m.State("DONE"):
                with m.If(fsm.ongoing("OUT")):
                    m.next = "IDLE"
        # the first output read may go out with the division's last step: u needs no r
        m.d.comb += stats_ready.eq(sfsm.ongoing("DONE") | (sfsm.ongoing("DIV") & (step == 0)))
        in_sqrt, in_div = sfsm.ongoing("SQRT"), sfsm.ongoing("DIV")
        first_step = step == F.LN_RECIP_BITS

        # output pipeline valid and last bits (read + 5 registers)
        v = [Signal(name=f"v{k}") for k in range(6)]
        lst = [Signal(name=f"l{k}") for k in range(6)]
        m.d.comb += [v[0].eq(out_rd & d_en), lst[0].eq(d_last)]
        m.d.sync += [v[k].eq(v[k - 1]) for k in range(1, 6)]
        m.d.sync += [lst[k].eq(lst[k - 1]) for k in range(1, 6)]
        m.d.comb += [self.o_valid.eq(v[5]), self.o_last.eq(lst[5])]
        # scale and shift travel with the channel: scale to the n*g stage, shift to the last
        # (the third register holds the gain 1 + scale, so the n*g product starts from a register)
        sc = [Signal(signed(W), name=f"sc{k}") for k in range(1, 3)]
        gain = Signal(signed(W + 1), name="gain3")
        sh = [Signal(signed(W), name=f"sh{k}") for k in range(1, 5)]
        m.d.sync += [sc[0].eq(br.data[:W].as_signed()), sh[0].eq(br.data[W:].as_signed())]
        m.d.sync += [sc[1].eq(sc[0]), gain.eq((1 << F.ACT_FRAC) + sc[1])]
        m.d.sync += [sh[k].eq(sh[k - 1]) for k in range(1, 4)]

        start = fsm.ongoing("IDLE") & self.start
        for r in range(R):
            x = xin[r]
            s1 = Signal(signed(32), name=f"s1_{r}")
            s2 = Signal(unsigned(44), name=f"s2_{r}")
            sq = Signal(unsigned(2 * W), name=f"sq_{r}")
            sq_v = Signal(name=f"sqv_{r}")
            with m.If(start):
                m.d.sync += [s1.eq(0), s2.eq(0), sq_v.eq(0)]
            with m.Elif(d_en & (d_sel == X) & ~out_rd):
                m.d.sync += [s1.eq(s1 + x), sq.eq(x * x), sq_v.eq(1)]
            with m.Elif(sq_v):
                m.d.sync += sq_v.eq(0)
            with m.If(sq_v & ~start):
                m.d.sync += s2.eq(s2 + sq)
            t1 = Signal(unsigned(58), name=f"t1_{r}")
            t2 = Signal(unsigned(58), name=f"t2_{r}")
            dd = Signal(unsigned(58), name=f"dd_{r}")
            blen = Signal(range(59), name=f"blen_{r}")
            j = Signal(signed(7), name=f"j_{r}")
            kb = Signal(40, name=f"kb_{r}", init=1 << 31)     # 2**(31 - j), set with j
            rad = Signal(unsigned(RB), name=f"rad_{r}")
            root = Signal(unsigned(RB // 2), name=f"root_{r}")
            srem = Signal(unsigned(RB // 2 + 3), name=f"srem_{r}")
            recip = Signal(unsigned(F.LN_RECIP_BITS + 1), name=f"recip_{r}")
            drem = Signal(unsigned(RB // 2 + 3), name=f"drem_{r}")
            # s1**2 = hh 2**32 + hl 2**17 + ll (s1 = hi 2**16 + lo): the three 16-bit products
            # registered in FLUSH (s1 is final there; hh and ll side by side in t2), their sum
            # in STATS: a multiplier and its sums in one cycle are too long for the FPGA build
            s1_hi, s1_lo = s1[16:].as_signed(), s1[:16]
            s1_hl = Signal(signed(33), name=f"s1hl_{r}")
            with m.If(sfsm.ongoing("FLUSH")):
                m.d.sync += [t2.eq(Cat((s1_lo * s1_lo)[:32], (s1_hi * s1_hi)[:26])),
                             s1_hl.eq(s1_hi * s1_lo)]
            # count * s2 from three 17-bit slices of s2: the outer products side by side, the
            # middle one added (one carry chain after the multipliers)
            p0, p1, p2 = count * s2[:17], count * s2[17:34], count * s2[34:]
            with m.If(sfsm.ongoing("STATS")):
                m.d.sync += [t1.eq(Cat(p0[:17], (Cat(p0[17:31], Const(0, 3), p2[:24])
                                                 + p1[:31])[:41])),
                             t2.eq(Cat(t2[:17], (t2[17:] + s1_hl)[:41]))]
            with m.If(sfsm.ongoing("RADICAND")):
                m.d.sync += dd.eq(t1 - t2 + t3)
            with m.If(sfsm.ongoing("BITLEN")):
                # priority encoder: the highest set bit's assignment is the last, so it wins
                m.d.sync += blen.eq(0)
                for b in range(58):
                    with m.If(dd[b]):
                        m.d.sync += blen.eq(b + 1)
            with m.If(sfsm.ongoing("NORMALIZE")):
                jj = Signal(signed(8), name=f"jj_{r}")
                m.d.comb += jj.eq((Const(RB, signed(8)) - blen) >> 1)   # floor division by 2
                m.d.sync += [j.eq(jj), kb.eq(Const(1, 40) << (31 - jj).as_unsigned()[:6]),
                             root.eq(0), srem.eq(0)]
                with m.If(jj >= 0):
                    m.d.sync += rad.eq(dd << (jj.as_unsigned()[:5] << 1))
                with m.Else():
                    m.d.sync += rad.eq(dd >> ((-jj).as_unsigned()[:3] << 1))
            with m.If(in_sqrt):
                # digit by digit: bring down two radicand bits, try (root << 2) | 1
                nrem = Signal(unsigned(RB // 2 + 3), name=f"snrem_{r}")
                trial = Signal(unsigned(RB // 2 + 3), name=f"trial_{r}")
                m.d.comb += [nrem.eq(Cat(rad[RB - 2:], srem)), trial.eq(Cat(Const(1, 2), root))]
                m.d.sync += [rad.eq(rad << 2), recip.eq(0), drem.eq(0)]
                with m.If(nrem >= trial):
                    m.d.sync += [srem.eq(nrem - trial), root.eq(Cat(Const(1, 1), root))]
                with m.Else():
                    m.d.sync += [srem.eq(nrem), root.eq(Cat(Const(0, 1), root))]
            with m.If(in_div):
                dn = Signal(unsigned(RB // 2 + 3), name=f"dnrem_{r}")
                m.d.comb += dn.eq(Cat(first_step, drem))
                with m.If(dn >= root):
                    m.d.sync += [drem.eq(dn - root), recip.eq(Cat(Const(1, 1), recip))]
                with m.Else():
                    m.d.sync += [drem.eq(dn), recip.eq(Cat(Const(0, 1), recip))]
            # output pipeline
            u = Signal(signed(32), name=f"u_{r}")
            urs = Signal(60, name=f"urs_{r}")      # u * r = urs + (urc << 17) (mod 2**60)
            urc = Signal(43, name=f"urc_{r}")
            nn = Signal(signed(34), name=f"n_{r}")
            ng = Signal(signed(54), name=f"ng_{r}")
            y = Signal(signed(W), name=f"y_{r}")
            k = Signal(range(64), name=f"k_{r}")
            yv = Signal(signed(40), name=f"yv_{r}")
            m.d.comb += [k.eq(31 - j),
                         yv.eq(((ng + (1 << (F.NORM_FRAC - 1))) >> F.NORM_FRAC) + sh[3])]
            # u * r from four products of 17-bit slices (u = uh 2**17 + ul, r = rh 2**17 + rl):
            # ll and hh side by side, the two middle ones at 2**17, the three registered in
            # carry-save form (one LUT level, no carry chain after the multipliers: the FPGA
            # build's timing); the next stage adds them with the rounding bit 2**k (a register)
            u_lo, u_hi = u[:17], u[17:].as_signed()
            r_lo, r_hi = recip[:17], recip[17:25]
            pll = Signal(unsigned(34), name=f"pll_{r}")
            phh = Signal(signed(26), name=f"phh_{r}")
            phl = Signal(signed(43), name=f"phl_{r}")
            plh = Signal(unsigned(43), name=f"plh_{r}")
            m.d.comb += [pll.eq(u_lo * r_lo), phh.eq(u_hi * r_hi),
                         phl.eq(u_hi * r_lo), plh.eq(u_lo * r_hi)]
            ca, cb, cc = Cat(pll[17:], phh), phl.as_unsigned(), plh
            # (ur + 2**(k-1)) >> k, k = 31 - j, as (2 ur + 2**k) >> (k + 1), 2 ur + 2**k from
            # its three addends in carry-save form and one carry chain (mod 2**61: it fits)
            na, nb, nc = Cat(Const(0, 1), urs), Cat(Const(0, 18), urc), Cat(kb, Const(0, 21))
            nsum = Signal(signed(61), name=f"nsum_{r}")
            m.d.comb += nsum.eq((na ^ nb ^ nc)
                                + Cat(Const(0, 1), (na & nb) | (na & nc) | (nb & nc))[:61])
            m.d.sync += [u.eq(count * x - s1),
                         urs.eq(Cat(pll[:17], ca ^ cb ^ cc)),
                         urc.eq(Cat(Const(0, 1), (ca & cb) | (ca & cc) | (cb & cc))[:43]),
                         nn.eq(nsum >> (k + 1)),
                         ng.eq(nn * gain),
                         y.eq(_sat16(yv))]
            m.d.comb += self.o_y[r].eq(y)
        return m


class CfseSoftmaxRows(wiring.Component):
    """Softmax over the kept keys of ``rows`` rows of ``n`` keys at once.

    Passes: **maximum** (``n`` reads; per row the running maximum over kept keys), **exp**
    (``n`` reads through a 4-register pipeline per row: the read's data, ``z`` from ``m - x``,
    the 2**(-r) table and interpolation, the shift by ``q``; the numerator into the 32-bit row
    sum),
    **divide** (``floor(2**47 / S)`` of every row, restoring, 48 steps), **normalize** (``n``
    reads through the same exp pipeline, then ``min((e * R + 2**31) >> 32, 32767)``): the
    numerators are computed again instead of buffered.

    Parameters
    ----------
    rows : int
        Rows (datapaths), 1 to 64.
    max_keys : int
        The longest row (1 to ``MAX_SOFTMAX_KEYS``).

    Members
    -------
    start : In(1) ; n : In(range(max_keys + 1))
        Begin a command of ``n`` (>= 1) keys; taken while idle.
    rd_en : Out(1) ; rd_ch : Out(range(max_keys))
        A read of key ``rd_ch`` of every row.
    rd_x : In(ArrayLayout(signed(16), rows)) ; rd_keep : In(rows)
        The read's data, the cycle after: every row's score (Q5.10) and keep bit.
    o_valid : Out(1) ; o_p : Out(ArrayLayout(signed(16), rows)) ; o_last : Out(1)
        One key of every row per cycle (Q1.15), ``o_last`` on key ``n - 1``.
    busy : Out(1)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, *, rows: int, max_keys: int):
        _check(rows, max_keys, F.MAX_SOFTMAX_KEYS, "max_keys")
        self._rows, self._max_keys = rows, max_keys
        W = F.ACT_BITS
        super().__init__({
            "start": In(1), "n": In(range(max_keys + 1)),
            "rd_en": Out(1), "rd_ch": Out(range(max_keys)),
            "rd_x": In(data.ArrayLayout(signed(W), rows)), "rd_keep": In(rows),
            "o_valid": Out(1), "o_p": Out(data.ArrayLayout(signed(W), rows)), "o_last": Out(1),
            "busy": Out(1),
        })

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def max_keys(self) -> int:
        return self._max_keys

    def elaborate(self, platform):
        m = Module()
        R, N, W = self._rows, self._max_keys, F.ACT_BITS
        lo_bits = F.Z_FRAC - F.EXP_SEG_BITS
        zs = F.ACT_FRAC + F.LOG2E_FRAC - F.Z_FRAC
        m.submodules.exp_rom = rom = Memory(
            shape=unsigned(_EXP_BASE_BITS + 9), depth=F.EXP_SEGMENTS, init=exp_rom_words())

        count = Signal(range(N + 1))
        ch = Signal(range(N + 1))
        step = Signal(range(F.RECIP_BITS + 1))
        last = Signal()
        m.d.comb += last.eq(ch + 1 == count)
        with m.FSM(name="sm_pass") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [count.eq(self.n), ch.eq(0)]
                    m.next = "MAX"
            for name, nxt in (("MAX", "EXP"), ("EXP", "SUM"), ("NORM", "IDLE")):
                with m.State(name):
                    m.d.comb += self.rd_en.eq(1)
                    m.d.sync += ch.eq(Mux(last, 0, ch + 1))
                    with m.If(last):
                        m.d.sync += step.eq(4)
                        m.next = nxt
            with m.State("SUM"):                # the last numerators enter the sums
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.d.sync += step.eq(F.RECIP_BITS)
                    m.next = "DIV"
            with m.State("DIV"):
                m.d.sync += step.eq(step - 1)
                with m.If(step == 0):
                    m.next = "NORM"
        m.d.comb += [self.rd_ch.eq(ch), self.busy.eq(~fsm.ongoing("IDLE"))]
        start = fsm.ongoing("IDLE") & self.start
        in_div = fsm.ongoing("DIV")
        first_step = step == F.RECIP_BITS

        # a read (cycle t), its data presented (t + 1), registered (t + 2: d_), z (t + 3),
        # the interpolated 2**(-r) (t + 4), the numerator e (t + 5: into the sum, or e * R at
        # t + 6 and the probability at t + 7)
        q_pass, d_pass = Signal(3), Signal(3)       # MAX, EXP, NORM bits
        q_last = Signal()
        m.d.sync += [q_pass.eq(Cat(fsm.ongoing("MAX"), fsm.ongoing("EXP"), fsm.ongoing("NORM"))),
                     d_pass.eq(q_pass), q_last.eq(last)]
        d_max = d_pass[0]
        ex = [Signal(name=f"ex{k}") for k in range(3, 6)]          # t + 3 .. t + 5
        nv = [Signal(name=f"nv{k}") for k in range(3, 8)]          # t + 3 .. t + 7
        lv = [Signal(name=f"lv{k}") for k in range(2, 8)]          # t + 2 .. t + 7
        m.d.sync += [ex[0].eq(d_pass[1]), nv[0].eq(d_pass[2]), lv[0].eq(q_last)]
        m.d.sync += [ex[k].eq(ex[k - 1]) for k in range(1, 3)]
        m.d.sync += [nv[k].eq(nv[k - 1]) for k in range(1, 5)]
        m.d.sync += [lv[k].eq(lv[k - 1]) for k in range(1, 6)]
        m.d.comb += [self.o_valid.eq(nv[4]), self.o_last.eq(lv[5])]

        for r in range(R):
            x, keep = Signal(signed(W), name=f"xin{r}"), Signal(name=f"kin{r}")
            m.d.sync += [x.eq(self.rd_x[r]), keep.eq(self.rd_keep[r])]
            mx = Signal(signed(W), name=f"mx_{r}")
            any_kept = Signal(name=f"kept_{r}")
            with m.If(start):
                m.d.sync += any_kept.eq(0)
            with m.Elif(d_max):
                with m.If(keep & (~any_kept | (x > mx))):
                    m.d.sync += mx.eq(x)
                m.d.sync += any_kept.eq(any_kept | keep)
            # exp: z, then the table and interpolation, then the shift by q
            a = Signal(signed(W + 2), name=f"a_{r}")
            z = Signal(unsigned(23), name=f"z_{r}")
            k1, k2 = Signal(name=f"k1_{r}"), Signal(name=f"k2_{r}")
            e_lin = Signal(unsigned(F.EXP_FRAC + 1), name=f"elin_{r}")
            q = Signal(unsigned(5), name=f"q_{r}")
            m.d.comb += a.eq(mx - x)
            tr = rom.read_port(domain="comb")
            m.d.comb += tr.addr.eq(z[lo_bits:F.Z_FRAC])
            base, delta = tr.data[:_EXP_BASE_BITS], tr.data[_EXP_BASE_BITS:]
            m.d.sync += [
                z.eq((a * F.LOG2E_Q + (1 << (zs - 1))) >> zs), k1.eq(keep),
                # base - ((delta * zl + 2**(lo-1)) >> lo) as (base * 2**lo + 2**(lo-1) - 1 -
                # delta * zl) >> lo (-floor(n / d) = floor((d - 1 - n) / d)): the rounding
                # constant rides in the low bits, one carry chain after the product instead of
                # two (the FPGA build's timing, docs/fpga.md); the same value
                e_lin.eq((Cat(Const((1 << (lo_bits - 1)) - 1, lo_bits), base)
                          - delta * z[:lo_bits])[lo_bits:lo_bits + F.EXP_FRAC + 1]),
                q.eq(Mux(z[F.Z_FRAC:] >= 17, 17, z[F.Z_FRAC:])), k2.eq(k1),
            ]
            # (e + 2**(q-1)) >> q for q >= 1, e for q = 0, as ((2 e + 2**q) >> (q + 1))
            e = Signal(unsigned(F.EXP_FRAC + 1), name=f"e_{r}")
            shifted = (Cat(Const(0, 1), e_lin) + (Const(1, 18) << q)) >> (q + 1)
            m.d.sync += e.eq(Mux(k2 & (q < 17), shifted, 0))
            total = Signal(F.SOFTMAX_SUM_BITS, name=f"total_{r}")
            with m.If(start):
                m.d.sync += total.eq(0)
            with m.Elif(ex[2]):
                m.d.sync += total.eq(total + e)
            # restoring division of 2**47 by the sum, one quotient bit a cycle
            recip = Signal(F.RECIP_BITS + 1, name=f"recip_{r}")
            rem = Signal(F.SOFTMAX_SUM_BITS + 2, name=f"rem_{r}")
            dn = Signal(F.SOFTMAX_SUM_BITS + 2, name=f"dn_{r}")
            m.d.comb += dn.eq(Cat(first_step, Mux(first_step, 0, rem)))
            with m.If(in_div):
                with m.If(dn >= total):
                    m.d.sync += [rem.eq(dn - total), recip.eq(Cat(Const(1, 1), recip))]
                with m.Else():
                    m.d.sync += [rem.eq(dn), recip.eq(Cat(Const(0, 1), recip))]
            # normalize
            # e * recip as two registered products of recip's 17-bit slices (no carry chain
            # after the multipliers: the FPGA build's timing, docs/fpga.md), added with the
            # rounding in the next stage: the same value as the one product, a cycle apart
            prod_h = Signal(unsigned(F.EXP_FRAC + 1 + 16), name=f"prod_h_{r}")
            prod_l = Signal(unsigned(F.EXP_FRAC + 1 + 17), name=f"prod_l_{r}")
            p = Signal(signed(W), name=f"p_{r}")
            pr = ((prod_h << 17) + prod_l + (1 << (F.RECIP_SHIFT - 1))) >> F.RECIP_SHIFT
            m.d.sync += [prod_h.eq(e * recip[17:33]), prod_l.eq(e * recip[:17]),
                         p.eq(Mux(pr > F.PROB_MAX, F.PROB_MAX, pr))]
            m.d.comb += self.o_p[r].eq(p)
        return m


class CfseRowUnits(wiring.Component):
    """The two row units side by side, unconnected (top ``cfse_rows``, for their bench):
    :class:`CfseLayerNormRows` (``MAX_LN_DIM`` channels) and :class:`CfseSoftmaxRows`
    (``exion.limits.MAX_KEYS`` keys), ``rows`` datapaths each, ports prefixed ``layernorm__``
    and ``softmax__``.

    Parameters
    ----------
    cfg : ExionConfig
        Supplies ``rows``.

    Members
    -------
    layernorm, softmax : Out(the unit's signature)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._parts = {"layernorm": CfseLayerNormRows(rows=cfg.rows, max_dim=F.MAX_LN_DIM),
                       "softmax": CfseSoftmaxRows(rows=cfg.rows, max_keys=MAX_KEYS)}
        super().__init__({n: Out(c.signature) for n, c in self._parts.items()})

    def elaborate(self, platform):
        m = Module()
        for name, part in self._parts.items():
            m.submodules[name] = part
            wiring.connect(m, wiring.flipped(getattr(self, name)), part)
        return m
