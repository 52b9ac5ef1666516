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
* The mask channels (``GELU``'s keep-mask, ``SOFTMAX``'s ``key_mask``) are those of the part
  the command's ``mhalf`` field names (``exion.regmap.mask_half``: 0 and 1 from word 0, 2 from
  word ``mask_words // 2``); ``mask_writes`` names the halves a running ``GELU`` with
  ``ffn_mask`` writes (bit 0 lower, bit 1 upper; both for ``mhalf`` 0), for the dispatcher.
* ``SOFTMAX`` / ``LAYERNORM``: every row at once through the row units of
  ``hw/cfse_rows.py``, which ask for channels (keys) of every row: :class:`~hw.cfse_rows.
  CfseSoftmaxRows` (keep bits from the mask memory with ``key_mask``) or
  :class:`~hw.cfse_rows.CfseLayerNormRows` (``x``; ``scale`` and ``shift`` from buffer
  ``mbuf``, bank 0, addresses ``sc_base + c`` / ``sh_base + c``).
* The memory-to-stream side of ``GELU`` and ``RESIDUAL`` is the shared sequencer
  (``hw/sequencer.py``); its first word is fetched the cycle after the command is taken, as
  the row units' first read. ``done`` and ``cycles_we`` pulse with the last write; ``cycles`` counts from the take
  to that write, both included (``golden.cycle_model.cfse_command_cycles``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exion import cfse_format as F
from exion.config import ExionConfig
from exion.limits import CAU_BEAT, MAX_KEYS
from exion.regmap import OPCODES

from .cfse import CfseGelu, CfseResidual
from .cfse_rows import SCALE as LN_SCALE
from .cfse_rows import X as LN_X
from .cfse_rows import CfseLayerNormRows, CfseSoftmaxRows
from .core_cmd import command_fields, command_stream
from .sequencer import Sequencer

__all__ = ["CfseEngine"]


def code_to_act(q, s):
    """``sat16(q << s)`` of a signed code ``q`` (``s`` 0 .. 15)."""
    v = q.as_signed() << s
    return _sat(v, F.ACT_BITS)


def act_to_code(v, s, width):
    """Round ``v`` half up by ``s`` bits (none at 0) and saturate to signed ``width`` bits."""
    half = Mux(s == 0, 0, Const(1, 16) << (s - 1)[:4])
    r = (v.as_signed() + half.as_signed()) >> s
    return _sat(r, width)


def _sat(v, width):
    """Signed ``v`` saturated to signed ``width`` bits. It fits iff its bits from ``width - 1``
    up all equal its sign: a test of those bits, not two comparisons through carry chains
    (the FPGA build's timing)."""
    top = v[width - 1:]
    fits = ~top.any() | top.all()
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(fits, v[:width], Mux(v[-1], lo, hi))[:width]


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
    omem_addr : Out(range(omem_buffers * omem_words)) ; omem_ren : Out(1) ;
    omem_data : In(rows * data_width)
        OMEM read, every bank at one address, bank 0 at the LSB (data one cycle later; it
        holds while ``omem_ren`` is low: ``GELU`` and ``RESIDUAL`` present the sequencer's
        next address, ``f_addr``, so that it does not wait for the GELU unit's ready).
    omem_addr1 : Out(range(omem_buffers * omem_words))
        ``omem_addr + 1`` (modulo its width), for the OMEM banks' pair read (hw/mem.py), from
        bases + 1 registered beside the bases.
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
    mask_writes : Out(2)
        Mask-memory halves a running ``GELU`` with ``ffn_mask`` writes.
    busy, done : Out(1) ; cycles : Out(32) ; cycles_we : Out(1)

    Timing (the FPGA build, docs/fpga.md): the result's IMEM word address, the ``last`` flag,
    the mask address and lane enable, the rows' write enables and the opcode's decode are
    registers, loaded at the take and with each result (no adder or comparison from the
    channel counter to the IMEM and mask memory ports); ``|h| > ffn_th`` is two comparisons
    against registers (``h > ffn_th``, ``h < -ffn_th``), no negation first. Cycle for cycle
    the same as computing them from the channel counter. The result data path (unit output,
    rounding shift and saturation to the IMEM code, lane placement) stays in one cycle.
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
            "omem_addr1": Out(range(cfg.omem_buffers * cfg.words("omem"))),
            "omem_ren": Out(1), "omem_data": In(R * W),
            "imem_raddr": Out(ia), "imem_rdata": In(R * L * W),
            "imem_waddr": Out(ia), "imem_wdata": Out(R * L * W), "imem_we": Out(R),
            "mask_raddr": Out(range(mask_words)), "mask_rdata": In(CAU_BEAT * R),
            "mask_we": Out(1), "mask_addr": Out(range(mask_words)),
            "mask_data": Out(CAU_BEAT * R), "mask_en": Out(CAU_BEAT), "mask_writes": Out(2),
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
        m.submodules.softmax = sm = CfseSoftmaxRows(rows=R, max_keys=MAX_KEYS)
        m.submodules.layernorm = ln = CfseLayerNormRows(rows=R, max_dim=min(F.MAX_LN_DIM, Do))
        m.submodules.seq = seq = Sequencer(addr_width=16, count_width=17)

        # -- the command, held while it runs ---------------------------------------------------
        f = command_fields(self.cmd.payload)
        active, take = Signal(), Signal()
        keep = ("ibuf", "obuf", "xbuf", "base", "ch_base", "n_ch", "n_rows", "in_shift",
                "out_shift", "ffn_mask", "key_mask", "ffn_th", "gate", "sc_base", "sh_base",
                "mhalf")
        c = {n: Signal.like(f[n], name=f"c_{n}") for n in keep}
        m.d.comb += [take.eq(self.cmd.valid & ~active), self.cmd.ready.eq(~active),
                     self.busy.eq(active)]
        new_op = self.cmd.payload.op
        # the running command's opcode as one flag per op, decoded at the take (the flags select
        # the result path: no opcode comparison in front of it, the FPGA build's timing); each
        # resets to what the 8-bit opcode register's reset value 0 decoded to
        is_op = {n: Signal(name=f"is_{n.lower()}", init=int(OPCODES[n] == 0))
                 for n in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX")}
        with m.If(take):
            m.d.sync += active.eq(1)
            m.d.sync += [is_op[n].eq(new_op == OPCODES[n]) for n in is_op]
            m.d.sync += [c[n].eq(f[n]) for n in keep]
        count = Signal(32)
        m.d.sync += count.eq(Mux(take, 1, count + 1))

        # -- OMEM through the sequencer (GELU, RESIDUAL) ----------------------------------------
        row_op = (new_op == OPCODES["LAYERNORM"]) | (new_op == OPCODES["SOFTMAX"])
        m.d.comb += [seq.start.eq(take & ~row_op),
                     seq.base.eq(Mux(take, f["ch_base"], c["ch_base"])),
                     seq.count.eq(Mux(take, f["n_ch"], c["n_ch"]))]
        q = [self.omem_data[r * W:(r + 1) * W] for r in range(R)]
        act = [code_to_act(q[r], c["in_shift"]) for r in range(R)]
        idx = Signal(16)                # channel of the presented word
        m.d.comb += idx.eq(seq.o_addr - c["ch_base"])
        # RESIDUAL: x of the fetched channel from its IMEM word. The read address is registered
        # (it fed the IMEM banks and the predictor's input register through two carry chains
        # in one cycle: the FPGA build's critical path, docs/fpga.md), so the OMEM word waits
        # a cycle for x: RESIDUAL_X_WAIT in golden.cycle_model.
        lane_bits = (L - 1).bit_length()
        m.d.sync += self.imem_raddr.eq(c["xbuf"] * Di + c["base"]
                                       + ((seq.r_addr - c["ch_base"])[:16] >> lane_bits))
        # f_d: the OMEM word's activations (in_shift is the running command's whenever res_v
        # is set), so the residual unit's multiplier starts from a register, not after the shift
        f_d, idx_d, res_v = Signal(R * F.ACT_BITS), Signal(16), Signal()
        m.d.sync += [f_d.eq(Cat(*act)), idx_d.eq(idx),
                     res_v.eq(seq.o_valid & active & is_op["RESIDUAL"])]
        x_res = [self.imem_rdata[r * L * W:(r + 1) * L * W].word_select(idx_d[:lane_bits], W)
                 if L > 1 else self.imem_rdata[r * W:(r + 1) * W] for r in range(R)]
        m.d.comb += [
            gelu.i.valid.eq(seq.o_valid & active & is_op["GELU"]),
            res.i.valid.eq(res_v),
            # the residual unit never stalls here (its output is always taken): the delayed
            # word needs no back-pressure
            seq.o_ready.eq(Mux(is_op["GELU"], gelu.i.ready, 1)),
        ]
        for r in range(R):
            m.d.comb += [gelu.i.payload[r].eq(act[r]),
                         res.i.payload[r].x.eq(code_to_act(x_res[r], c["in_shift"])),
                         res.i.payload[r].f.eq(f_d[r * F.ACT_BITS:(r + 1) * F.ACT_BITS]),
                         res.i.payload[r].gate.eq(c["gate"])]

        # -- LAYERNORM, SOFTMAX: the row units ask for channels of every row ---------------------
        m.d.comb += [ln.start.eq(take & (new_op == OPCODES["LAYERNORM"])),
                     sm.start.eq(take & (new_op == OPCODES["SOFTMAX"])),
                     ln.n.eq(f["n_ch"]), sm.n.eq(f["n_ch"]),
                     ln.rd_m.eq(act[0])]
        for r in range(R):
            m.d.comb += [ln.rd_x[r].eq(act[r]), sm.rd_x[r].eq(act[r])]
        # OMEM read address: a base registered at the take (buffer * words + the operand's
        # first channel, in the address's width: the sum's low bits are the same) plus the
        # channel, so one carry chain comes before the banks (the FPGA build's timing,
        # docs/fpga.md); the same bases + 1 give omem_addr1 (the banks' pair read takes
        # omem_addr + 1 from the reader, hw/mem.py), in a carry chain of its own beside it
        aw = len(self.omem_addr)
        bases = {}
        for k in (0, 1):
            b_x, b_sc, b_sh, b_o = (Signal(aw, name=n + ("1" if k else ""), init=k % (1 << aw))
                                    for n in ("b_x", "b_sc", "b_sh", "b_o"))
            with m.If(take):    # (LAYERNORM's mbuf is the xbuf field's bits, exion/fields.py)
                m.d.sync += [b_x.eq(f["obuf"] * Do + (f["ch_base"] + k)),
                             b_sc.eq(f["xbuf"] * Do + (f["sc_base"] + k)),
                             b_sh.eq(f["xbuf"] * Do + (f["sh_base"] + k)),
                             b_o.eq(f["obuf"] * Do + k)]
            ln_base = Mux(ln.rd_sel == LN_X, b_x, Mux(ln.rd_sel == LN_SCALE, b_sc, b_sh))
            bases[k] = Mux(is_op["LAYERNORM"], ln_base, Mux(is_op["SOFTMAX"], b_x, b_o))
        ch = Signal(16)
        m.d.comb += ch.eq(Mux(is_op["LAYERNORM"], ln.rd_ch, Mux(is_op["SOFTMAX"], sm.rd_ch,
                                                                seq.f_addr)))
        m.d.comb += [self.omem_addr.eq(bases[0] + ch), self.omem_addr1.eq(bases[1] + ch)]
        m.d.comb += self.omem_ren.eq(~(is_op["GELU"] | is_op["RESIDUAL"]) | seq.r_en)
        # SOFTMAX: keep bits of every row from the mask word of the key (data a cycle later)
        kch, kch_d = Signal(16), Signal(16)
        # the mhalf part's first word: channel ch_base + c of the part (exion.regmap.mask_half)
        moff = Signal(range(self._mw))
        with m.If(take):
            m.d.sync += moff.eq(Mux(f["mhalf"] == 2, self._mw // 2, 0))
        m.d.comb += [kch.eq(c["ch_base"] + sm.rd_ch),
                     self.mask_raddr.eq(kch // CAU_BEAT + moff)]
        m.d.sync += kch_d.eq(kch)
        m.d.comb += sm.rd_keep.eq(~c["key_mask"].replicate(R)
                                  | self.mask_rdata.word_select(kch_d % CAU_BEAT, R))

        # -- results: codes into IMEM words, a word per lanes channels ---------------------------
        out_valid = Signal()
        out_act = [Signal(F.ACT_BITS, name=f"out_act{r}") for r in range(R)]
        m.d.comb += [gelu.o.ready.eq(1), res.o.ready.eq(1)]
        with m.If(is_op["GELU"]):
            m.d.comb += [out_valid.eq(gelu.o.valid)] + [out_act[r].eq(gelu.o.payload[r])
                                                         for r in range(R)]
        with m.Elif(is_op["RESIDUAL"]):
            m.d.comb += [out_valid.eq(res.o.valid)] + [out_act[r].eq(res.o.payload[r])
                                                        for r in range(R)]
        with m.Elif(is_op["SOFTMAX"]):
            m.d.comb += [out_valid.eq(sm.o_valid)] + [out_act[r].eq(sm.o_p[r])
                                                       for r in range(R)]
        with m.Else():
            m.d.comb += [out_valid.eq(ln.o_valid)] + [out_act[r].eq(ln.o_y[r])
                                                       for r in range(R)]
        code = [act_to_code(out_act[r], c["out_shift"], W) for r in range(R)]
        # The result's place: the channel j, the flag last = (j + 1 == n_ch), the IMEM word
        # base + j // lanes of ibuf and the mask channel ch_base + j, all registers, each
        # loaded with its value for the next j (0 at the take, 0 after the last result, j + 1
        # after another; arithmetic modulo the widths the sums had): no adder or comparison
        # from j to the IMEM and mask memory write ports (the FPGA build's timing).
        j = Signal(16)                  # channel of the result
        k = j[:lane_bits] if L > 1 else Const(0, 1)
        last = Signal()
        wa_w = len(self.imem_waddr)
        wbase = Signal(wa_w)            # ibuf * Di + base
        waddr = Signal(wa_w)            # ibuf * Di + base + j // lanes
        mch = Signal(16)                # ch_base + j
        mch_n = Signal(16)              # mch of the next channel
        m.d.comb += mch_n.eq(Mux(last, c["ch_base"], mch + 1))
        j_inc = (j + 1)[:16]
        held = [[Signal(W, name=f"held{r}_{i}") for i in range(L - 1)] for r in range(R)]
        word_done = out_valid & ((k == L - 1) | last)
        for r in range(R):
            lanes = [Mux(k == i, code[r], Mux(k > i, held[r][i], 0)) for i in range(L - 1)]
            lanes.append(Mux(k == L - 1, code[r], 0))
            m.d.comb += self.imem_wdata[r * L * W:(r + 1) * L * W].eq(Cat(*lanes))
            for i in range(L - 1):      # the last lane is never held: its beat writes
                with m.If(out_valid & (k == i)):
                    m.d.sync += held[r][i].eq(code[r])
        # rows < n_rows, decoded at the take (reset: n_rows 0, no row)
        row_en = Signal(R)
        m.d.comb += [self.imem_waddr.eq(waddr),
                     self.imem_we.eq(Mux(word_done, row_en, 0))]
        mask_addr, mask_en = Signal(range(self._mw)), Signal(CAU_BEAT, init=1)
        # (|h| > ffn_th as h > ffn_th or h < -ffn_th: -ffn_th a register, no negation of h)
        neg_th = Signal(signed(17))
        with m.If(take):
            m.d.sync += [
                j.eq(0), last.eq(f["n_ch"] == 1),
                wbase.eq(f["ibuf"] * Di + f["base"]), waddr.eq(f["ibuf"] * Di + f["base"]),
                mch.eq(f["ch_base"]),
                mask_addr.eq(f["ch_base"] // CAU_BEAT + Mux(f["mhalf"] == 2, self._mw // 2, 0)),
                mask_en.eq(Const(1, CAU_BEAT) << (f["ch_base"] % CAU_BEAT)),
                row_en.eq(Cat(*((Const(r, 8) < f["n_rows"]) for r in range(R)))),
                neg_th.eq(-f["ffn_th"]),
            ]
        with m.Elif(out_valid):
            m.d.sync += [
                j.eq(Mux(last, 0, j_inc)),
                last.eq(Mux(last, c["n_ch"] == 1, j_inc + 1 == c["n_ch"])),
                waddr.eq(wbase + Mux(last, 0, j_inc >> lane_bits)),
                mch.eq(mch_n),
                mask_addr.eq(mch_n // CAU_BEAT + moff),
                mask_en.eq(Const(1, CAU_BEAT) << (mch_n % CAU_BEAT)),
            ]
        # GELU with ffn_mask: |h| > ffn_th per row, rows >= n_rows not kept
        kept = Cat(*(((out_act[r].as_signed() > c["ffn_th"])
                      | (out_act[r].as_signed() < neg_th)) & row_en[r] for r in range(R)))
        m.d.comb += [self.mask_we.eq(out_valid & is_op["GELU"] & c["ffn_mask"]),
                     self.mask_addr.eq(mask_addr),
                     self.mask_data.eq(kept.replicate(CAU_BEAT)),
                     self.mask_en.eq(mask_en),
                     self.mask_writes.eq(Mux(active & is_op["GELU"] & c["ffn_mask"],
                                             Mux(c["mhalf"] == 0, 3, c["mhalf"]), 0))]
        # the end: the last channel (of every row at once)
        fin = Signal()
        m.d.comb += fin.eq(out_valid & last)
        m.d.comb += [self.done.eq(active & fin), self.cycles_we.eq(active & fin),
                     self.cycles.eq(count + 1)]
        with m.If(active & fin):
            m.d.sync += active.eq(0)
        return m
