"""The special-function engine: ``GELU``, ``RESIDUAL``, ``LAYERNORM`` and ``SOFTMAX``, OMEM
rows through the CFSE units (``hw/cfse.py``) into IMEM.

Contract (the command-level spec is :mod:`golden.core_cfse`; docs/cfse.md, "Core commands"):

* A command (:mod:`hw.core_cmd`) is taken when ``cmd.ready`` (the engine is idle). The
  dispatcher gives it one only while no other engine but the WMEM loader is busy, and holds
  the others back while ``busy``: the engine uses the OMEM and IMEM read ports, the IMEM write
  ports and the mask memory on its own.
* Row ``r`` of a command is OMEM bank ``r``, channel ``c`` its address ``ch_base + c`` in
  buffer ``obuf``; codes become Q5.10 as ``sat16(q << in_shift)``, results IMEM codes as
  ``sat_W((v + 2^(out_shift-1)) >> out_shift)`` (``golden.cfse.code_to_act`` /
  ``act_to_code``). Results go to IMEM buffer ``ibuf``, bank ``r``, word ``base + c // lanes``,
  lane ``c % lanes``, a whole word per write (the lanes past ``n_ch`` 0); rows ``>= n_rows``
  are not written.
* ``GELU`` / ``RESIDUAL``: one OMEM address of every bank per beat through a ``rows``-lane
  :class:`~hw.cfse.CfseGelu` / :class:`~hw.cfse.CfseResidual` (``RESIDUAL``'s ``x`` from IMEM
  buffer ``xbuf``, read at the word of the channel in flight, its gate a scalar); with
  ``ffn_mask``, ``GELU`` writes mask channel ``ch_base + c`` with ``|h| > ffn_th`` per row.
* ``SOFTMAX`` / ``LAYERNORM``: row after row through :class:`~hw.cfse.CfseSoftmax` (keep bits
  from the mask memory with ``key_mask``) or :class:`~hw.cfse.CfseLayerNorm` (per channel three
  OMEM reads: ``x``, then ``scale`` and ``shift`` from buffer ``mbuf``, bank 0, addresses
  ``sc_base + c`` / ``sh_base + c``).
* The memory-to-stream side of ``GELU``, ``RESIDUAL`` and ``SOFTMAX`` is the shared
  sequencer (``hw/sequencer.py``); its first word is fetched the cycle after the command is
  taken. ``done`` and ``cycles_we`` pulse with the last write; ``cycles`` counts from the take
  to that write, both included (``golden.cycle_model.cfse_command_cycles``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exion import cfse_format as F
from exion.config import ExionConfig
from exion.limits import CAU_BEAT, MAX_KEYS
from exion.regmap import OPCODES

from .cfse import CfseGelu, CfseLayerNorm, CfseResidual, CfseSoftmax
from .core_cmd import command_fields, command_stream
from .sequencer import Sequencer

__all__ = ["CfseEngine"]


def code_to_act(q, s):
    """``sat16(q << s)`` of a signed code ``q`` (``s`` 0 .. 15)."""
    v = q.as_signed() << s
    return Mux(v > F.ACT_MAX, F.ACT_MAX, Mux(v < F.ACT_MIN, F.ACT_MIN, v))[:F.ACT_BITS]


def act_to_code(v, s, width):
    """Round ``v`` half up by ``s`` bits (none at 0) and saturate to signed ``width`` bits."""
    half = Mux(s == 0, 0, Const(1, 16) << (s - 1)[:4])
    r = (v.as_signed() + half.as_signed()) >> s
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(r > hi, hi, Mux(r < lo, lo, r))[:width]


class CfseEngine(wiring.Component):
    """The CFSE commands of the core.

    Parameters
    ----------
    cfg : ExionConfig
    mask_words : int
        Words of the mask memory (``CAU_BEAT`` channels each).

    Members
    -------
    cmd : In(command_stream())
    omem_addr : Out(range(omem_buffers * omem_words)) ; omem_data : In(rows * data_width)
        OMEM read, every bank at one address, bank 0 at the LSB (data one cycle later).
    imem_raddr : Out(range(imem_buffers * imem_words)) ; imem_rdata : In(rows * lanes * data_width)
        IMEM read (``RESIDUAL``'s ``x``).
    imem_waddr : Out(range(imem_buffers * imem_words)) ;
    imem_wdata : Out(rows * lanes * data_width) ; imem_we : Out(rows)
        IMEM write, bank ``r``'s word at bits ``r * lanes * data_width``.
    mask_raddr : Out(range(mask_words)) ; mask_rdata : In(CAU_BEAT * rows)
        Mask memory read (``SOFTMAX`` with ``key_mask``).
    mask_we : Out(1) ; mask_addr : Out(range(mask_words)) ; mask_data : Out(CAU_BEAT * rows) ;
    mask_en : Out(CAU_BEAT)
        Keep-mask writes (``GELU`` with ``ffn_mask``), one channel a write.
    busy, done : Out(1) ; cycles : Out(32) ; cycles_we : Out(1)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, cfg: ExionConfig, *, mask_words: int):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        if not isinstance(mask_words, int) or mask_words < 1:
            raise ValueError(f"mask_words = {mask_words!r} must be an integer >= 1")
        self._cfg, self._mw = cfg, mask_words
        R, L, W = cfg.rows, cfg.lanes, cfg.data_width
        ia = range(cfg.imem_buffers * cfg.words("imem"))
        super().__init__({
            "cmd": In(command_stream()),
            "omem_addr": Out(range(cfg.omem_buffers * cfg.words("omem"))),
            "omem_data": In(R * W),
            "imem_raddr": Out(ia), "imem_rdata": In(R * L * W),
            "imem_waddr": Out(ia), "imem_wdata": Out(R * L * W), "imem_we": Out(R),
            "mask_raddr": Out(range(mask_words)), "mask_rdata": In(CAU_BEAT * R),
            "mask_we": Out(1), "mask_addr": Out(range(mask_words)),
            "mask_data": Out(CAU_BEAT * R), "mask_en": Out(CAU_BEAT),
            "busy": Out(1), "done": Out(1), "cycles": Out(32), "cycles_we": Out(1),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        R, L, W = cfg.rows, cfg.lanes, cfg.data_width
        Di, Do = cfg.words("imem"), cfg.words("omem")
        m = Module()
        m.submodules.gelu = gelu = CfseGelu(lanes=R)
        m.submodules.res = res = CfseResidual(lanes=R)
        m.submodules.softmax = sm = CfseSoftmax(max_keys=MAX_KEYS)
        m.submodules.layernorm = ln = CfseLayerNorm(max_dim=min(F.MAX_LN_DIM, Do))
        m.submodules.seq = seq = Sequencer(addr_width=16, count_width=17)

        # -- the command, held while it runs ---------------------------------------------------
        f = command_fields(self.cmd.payload)
        active, take = Signal(), Signal()
        op = Signal(8)
        keep = ("ibuf", "obuf", "xbuf", "base", "ch_base", "n_ch", "n_rows", "in_shift",
                "out_shift", "ffn_mask", "key_mask", "ffn_th", "gate", "sc_base", "sh_base")
        c = {n: Signal.like(f[n], name=f"c_{n}") for n in keep}
        mbuf = c["xbuf"]                    # the same bits (exion/fields.py)
        m.d.comb += [take.eq(self.cmd.valid & ~active), self.cmd.ready.eq(~active),
                     self.busy.eq(active)]
        with m.If(take):
            m.d.sync += [active.eq(1), op.eq(self.cmd.payload.op)]
            m.d.sync += [c[n].eq(f[n]) for n in keep]
        is_op = {n: op == OPCODES[n] for n in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX")}
        vector = is_op["GELU"] | is_op["RESIDUAL"]
        new_op = self.cmd.payload.op
        count = Signal(32)
        m.d.sync += count.eq(Mux(take, 1, count + 1))

        # rows: the one being fed (SOFTMAX, LAYERNORM) and the one being written
        row_in, row_out = Signal(8), Signal(8)
        with m.If(take):
            m.d.sync += [row_in.eq(0), row_out.eq(0)]

        # -- OMEM through the sequencer (GELU, RESIDUAL, SOFTMAX) --------------------------------
        seq_more = Signal()             # SOFTMAX: the last key of a row taken, rows remain
        m.d.comb += [seq.start.eq((take & (new_op != OPCODES["LAYERNORM"])) | seq_more),
                     seq.base.eq(Mux(take, f["ch_base"], c["ch_base"])),
                     seq.count.eq(Mux(take, f["n_ch"], c["n_ch"]))]
        q = [self.omem_data[r * W:(r + 1) * W] for r in range(R)]
        act = [code_to_act(q[r], c["in_shift"]) for r in range(R)]
        q_row = Signal(W)
        m.d.comb += q_row.eq(Cat(*q).word_select(row_in, W))
        idx = Signal(16)                # channel of the presented word
        m.d.comb += idx.eq(seq.o_addr - c["ch_base"])
        # RESIDUAL: x of the fetched channel (its IMEM word read with the OMEM word)
        lane_bits = (L - 1).bit_length()
        m.d.comb += self.imem_raddr.eq(c["xbuf"] * Di + c["base"]
                                       + ((seq.r_addr - c["ch_base"])[:16] >> lane_bits))
        x_res = [self.imem_rdata[r * L * W:(r + 1) * L * W].word_select(idx[:lane_bits], W)
                 if L > 1 else self.imem_rdata[r * W:(r + 1) * W] for r in range(R)]
        # SOFTMAX: the mask memory word of the fetched channel
        m.d.comb += self.mask_raddr.eq(seq.r_addr // CAU_BEAT)
        kbit = (self.mask_rdata.word_select(seq.o_addr % CAU_BEAT, R)).bit_select(row_in, 1)
        m.d.comb += [
            gelu.i.valid.eq(seq.o_valid & active & is_op["GELU"]),
            res.i.valid.eq(seq.o_valid & active & is_op["RESIDUAL"]),
            sm.i.valid.eq(seq.o_valid & active & is_op["SOFTMAX"]),
            sm.i.payload.x.eq(code_to_act(q_row, c["in_shift"])),
            sm.i.payload.keep.eq(~c["key_mask"] | kbit),
            sm.i.payload.last.eq(seq.o_last),
            seq.o_ready.eq(Mux(is_op["GELU"], gelu.i.ready,
                               Mux(is_op["RESIDUAL"], res.i.ready, sm.i.ready))),
            seq_more.eq(is_op["SOFTMAX"] & sm.i.valid & sm.i.ready & seq.o_last
                        & (row_in + 1 < c["n_rows"])),
        ]
        for r in range(R):
            m.d.comb += [gelu.i.payload[r].eq(act[r]),
                         res.i.payload[r].x.eq(code_to_act(x_res[r], c["in_shift"])),
                         res.i.payload[r].f.eq(act[r]),
                         res.i.payload[r].gate.eq(c["gate"])]
        with m.If(seq_more):
            m.d.sync += row_in.eq(row_in + 1)

        # -- LAYERNORM: x, scale, shift of a channel in three OMEM reads --------------------------
        ph = Signal(range(4))           # 0 idle, 1 x read, 2 scale read, 3 shift read
        ch = Signal(16)
        pend = Signal()                 # the shift read's data is presented this cycle
        x_reg, sc_reg = Signal(F.ACT_BITS), Signal(F.ACT_BITS)
        ln_last = Signal()
        m.d.sync += pend.eq(0)
        with m.If(take & (new_op == OPCODES["LAYERNORM"])):
            m.d.sync += [ph.eq(1), ch.eq(0)]
        with m.Elif(ph == 1):
            m.d.sync += ph.eq(2)
        with m.Elif(ph == 2):
            m.d.sync += [ph.eq(3), x_reg.eq(code_to_act(q_row, c["in_shift"]))]
        with m.Elif(ph == 3):
            m.d.sync += [sc_reg.eq(act[0]), pend.eq(1), ln_last.eq(ch + 1 == c["n_ch"]),
                         ch.eq(ch + 1), ph.eq(Mux(ch + 1 == c["n_ch"], 0, 1))]
        with m.Elif(is_op["LAYERNORM"] & active & ~pend & (row_in < c["n_rows"])
                    & (ch == c["n_ch"]) & ln.i.ready & ~ln.busy):
            # the next row's reads start once the unit is ready again
            m.d.sync += [ph.eq(1), ch.eq(0)]
        with m.If(pend & ln_last & (row_in + 1 < c["n_rows"])):
            m.d.sync += row_in.eq(row_in + 1)
        with m.Elif(pend & ln_last):
            m.d.sync += row_in.eq(c["n_rows"])        # every row fed
        m.d.comb += [ln.i.valid.eq(pend), ln.i.payload.x.eq(x_reg),
                     ln.i.payload.scale.eq(sc_reg), ln.i.payload.shift.eq(act[0]),
                     ln.i.payload.last.eq(ln_last)]
        ln_addr = Mux(ph == 1, c["obuf"] * Do + c["ch_base"] + ch,
                      Mux(ph == 2, mbuf * Do + c["sc_base"] + ch, mbuf * Do + c["sh_base"] + ch))
        m.d.comb += self.omem_addr.eq(Mux(is_op["LAYERNORM"], ln_addr,
                                          c["obuf"] * Do + seq.r_addr))

        # -- results: codes into IMEM words, a word per lanes channels ---------------------------
        out_valid = Signal()
        out_act = [Signal(F.ACT_BITS, name=f"out_act{r}") for r in range(R)]
        m.d.comb += [gelu.o.ready.eq(1), res.o.ready.eq(1), sm.o.ready.eq(1), ln.o.ready.eq(1)]
        with m.If(is_op["GELU"]):
            m.d.comb += [out_valid.eq(gelu.o.valid)] + [out_act[r].eq(gelu.o.payload[r])
                                                         for r in range(R)]
        with m.Elif(is_op["RESIDUAL"]):
            m.d.comb += [out_valid.eq(res.o.valid)] + [out_act[r].eq(res.o.payload[r])
                                                        for r in range(R)]
        with m.Elif(is_op["SOFTMAX"]):
            m.d.comb += [out_valid.eq(sm.o.valid)] + [out_act[r].eq(sm.o.payload.p)
                                                       for r in range(R)]
        with m.Else():
            m.d.comb += [out_valid.eq(ln.o.valid)] + [out_act[r].eq(ln.o.payload.y)
                                                       for r in range(R)]
        code = [act_to_code(out_act[r], c["out_shift"], W) for r in range(R)]
        j = Signal(16)                  # channel of the result
        k = j[:lane_bits] if L > 1 else Const(0, 1)
        last = Signal()
        m.d.comb += last.eq(j + 1 == c["n_ch"])
        held = [[Signal(W, name=f"held{r}_{i}") for i in range(L - 1)] for r in range(R)]
        word_done = out_valid & ((k == L - 1) | last)
        for r in range(R):
            lanes = [Mux(k == i, code[r], Mux(k > i, held[r][i], 0)) for i in range(L - 1)]
            lanes.append(Mux(k == L - 1, code[r], 0))
            m.d.comb += self.imem_wdata[r * L * W:(r + 1) * L * W].eq(Cat(*lanes))
            for i in range(L - 1):      # the last lane is never held: its beat writes
                with m.If(out_valid & (k == i)):
                    m.d.sync += held[r][i].eq(code[r])
        row_en = Cat(*((Const(r, 8) < c["n_rows"]) for r in range(R)))
        one_row = Cat(*(row_out == r for r in range(R)))
        m.d.comb += [self.imem_waddr.eq(c["ibuf"] * Di + c["base"] + (j >> lane_bits)),
                     self.imem_we.eq(Mux(word_done, Mux(vector, row_en, one_row), 0))]
        with m.If(out_valid):
            m.d.sync += j.eq(Mux(last, 0, j + 1))
        with m.If(take):
            m.d.sync += j.eq(0)
        # GELU with ffn_mask: |h| > ffn_th per row, rows >= n_rows not kept
        mch = Signal(16)
        m.d.comb += mch.eq(c["ch_base"] + j)
        kept = Cat(*((abs(out_act[r].as_signed()) > c["ffn_th"]) & row_en[r] for r in range(R)))
        m.d.comb += [self.mask_we.eq(out_valid & is_op["GELU"] & c["ffn_mask"]),
                     self.mask_addr.eq(mch // CAU_BEAT),
                     self.mask_data.eq(kept.replicate(CAU_BEAT)),
                     self.mask_en.eq(Const(1, CAU_BEAT) << (mch % CAU_BEAT))]
        # the end: the last channel of every row (vector ops: of the one pass)
        fin = Signal()
        m.d.comb += fin.eq(out_valid & last & (vector | (row_out + 1 == c["n_rows"])))
        with m.If(out_valid & last):
            m.d.sync += row_out.eq(row_out + 1)
        m.d.comb += [self.done.eq(active & fin), self.cycles_we.eq(active & fin),
                     self.cycles.eq(count + 1)]
        with m.If(active & fin):
            m.d.sync += active.eq(0)
        return m
