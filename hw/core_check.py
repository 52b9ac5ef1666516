"""The core's command check at issue (hw/core_host.py): the cause code of a command word and
its arguments against this configuration, in ``golden.core_checks``' order (the first failing
check wins), and the master port's rules for ``MEM`` commands (``golden.dma.cause``).

Both are combinational from the ``ARG`` / ``REGION`` registers and the command word, except the
master port's region rules, whose products are registered in two stages ahead of the check
(:func:`mem_cause`); the host interface registers the result before it queues or refuses.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed

from exion.cfse_format import MAX_LN_DIM
from exion.config import ExionConfig, clog2
from exion.formats import block_words, shift_add_acc_width
from exion.limits import DMA_ADDR_WIDTH, DMA_ROWS_BITS, MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM
from exion.regmap import (CAUSES, FLAGS, OPCODES, RESIDENT_OPS, RegisterMap, mask_half,
                          smem_half)

from .core_dma import mem_descriptor, packed

__all__ = ["mem_op", "command_cause", "mem_cause"]


def mem_op(op):
    """An opcode that moves data through the master port with ``MEM``
    (``golden.core_checks.Command.mem``)."""
    return Cat(*(op == OPCODES[n] for n in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM", "LOAD_SMEM",
                                             "STORE_SMEM"))).any()


def command_cause(m, cfg: ExionConfig, op, flags, f, bad, w_over, d_over, r_over):
    """Comb ``bad`` = cause of the command (0 = good); the first failing check wins.
    ``w_over`` is the registered WMEM range rule of GEMM and PREDICT (see ``HostInterface.elaborate``),
    ``d_over`` the registered destination range rules of PREDICT_PROJ (Q', K')."""
    rm = RegisterMap(cfg)
    # the predictors' accumulator width: PREDICT_PROJ's shift must stay below it
    proj_aw = shift_add_acc_width(MAX_PROJ_DIM, cfg.data_width, cfg.lod_steps)
    D = cfg.merge_degree
    Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
    Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
    DP, L, R, CH = cfg.drain_ports, cfg.lanes, cfg.rows, rm.channels
    sparse = (flags & (FLAGS["SPARSE"] >> 8)) != 0
    ffn = (flags & (FLAGS["FFN_MASK"] >> 8)) != 0
    keys = (flags & (FLAGS["KEYS"] >> 8)) != 0
    resident = (flags & (FLAGS["RESIDENT"] >> 8)) != 0
    mem = (flags & (FLAGS["MEM"] >> 8)) != 0
    S = cfg.schedule_depth
    # channels of the mask-memory part mhalf names (exion.regmap.mask_half; 3 refused first)
    part = Mux(f["mhalf"] == 0, CH, mask_half(CH, 1)[1])

    def check(*rules):
        with m.If(rules[0][0]):
            m.d.comb += bad.eq(CAUSES[rules[0][1]])
        for cond, name in rules[1:]:
            with m.Elif(cond):
                m.d.comb += bad.eq(CAUSES[name])

    with m.Switch(op):
        with m.Case(OPCODES["LOAD_IMEM"]):
            check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                  (f["base"] + f["count"] > Di, "ADDR_RANGE"))
        with m.Case(OPCODES["LOAD_WMEM"]):
            check((f["wbuf"] >= Bw, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                  (f["streams"] > D, "BAD_FIELD"),
                  (f["base"] + f["count"] > Dw, "ADDR_RANGE"))
        with m.Case(OPCODES["READ_OMEM"]):
            check((f["obuf"] >= Bo, "BAD_BUFFER"), (f["count"] == 0, "BAD_FIELD"),
                  (f["base"] + f["count"] > Do, "ADDR_RANGE"))
        with m.Case(OPCODES["GEMM"]):
            check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                  (f["obuf"] >= Bo, "BAD_BUFFER"),
                  (f["kc"] == 0, "BAD_FIELD"), (f["shift"] >= cfg.acc_width, "BAD_FIELD"),
                  (sparse & ffn, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"),
                  (ffn & (f["mhalf"] == 3), "BAD_FIELD"),
                  (~sparse & (f["n_ch"] == 0), "BAD_FIELD"),
                  (ffn & (f["ch_base"] % DP != 0), "BAD_FIELD"),
                  (f["kc"] > Di, "TILE"), ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                  (f["ibase"] + f["kc"] > Di, "ADDR_RANGE"),
                  (~sparse & (f["ch_base"] + f["n_ch"] > Do), "ADDR_RANGE"),
                  (~sparse & w_over, "ADDR_RANGE"),
                  (ffn & (f["ch_base"] + f["n_ch"] > part), "ADDR_RANGE"),
                  (resident & ~sparse, "BAD_FIELD"),
                  (resident & (f["n_ch"] == 0), "BAD_FIELD"),
                  (resident & (f["n_ch"] > Do), "ADDR_RANGE"),
                  (resident & r_over, "ADDR_RANGE"))
        with m.Case(OPCODES["LOAD_SMEM"]):
            check((~mem, "BAD_FIELD"), (f["count"] == 0, "BAD_FIELD"),
                  (f["half"] == 3, "BAD_FIELD"),
                  (f["count"] > Mux(f["half"] == 0, S, smem_half(S, 1)[1]), "ADDR_RANGE"))
        with m.Case(OPCODES["STORE_SMEM"]):
            check((~mem, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"))
        with m.Case(OPCODES["SCHEDULE"]):
            check((f["n_ch"] == 0, "BAD_FIELD"), (f["half"] == 3, "BAD_FIELD"),
                  (f["mhalf"] == 3, "BAD_FIELD"), (f["n_ch"] > part, "ADDR_RANGE"))
        with m.Case(OPCODES["PREDICT"]):
            check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                  (f["kc"] == 0, "BAD_FIELD"),
                  ((f["topk"] == 0) | (f["topk"] > rm.max_topk), "BAD_FIELD"),
                  (f["mhalf"] == 3, "BAD_FIELD"),
                  (f["kc"] * L > MAX_HEAD_DIM, "TILE"), (f["kc"] > Di, "TILE"),
                  ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                  ((f["n_keys"] == 0) | (f["n_keys"] > min(MAX_KEYS, CH)), "TILE"),
                  (f["n_keys"] > part, "ADDR_RANGE"), (w_over, "ADDR_RANGE"))
        with m.Case(OPCODES["PREDICT_PROJ"]):
            kcp = (f["n_ch"] + (L - 1)) // L
            check((f["ibuf"] >= Bi, "BAD_BUFFER"), (f["wbuf"] >= Bw, "BAD_BUFFER"),
                  (f["dbuf"] >= Mux(keys, Bw, Bi), "BAD_BUFFER"),
                  (f["dbuf"] == Mux(keys, f["wbuf"], f["ibuf"]), "SAME_BUFFER"),
                  (f["kc"] == 0, "BAD_FIELD"), (f["n_ch"] == 0, "BAD_FIELD"),
                  (f["shift"] >= proj_aw, "BAD_FIELD"),
                  (f["kc"] * L > MAX_PROJ_DIM, "TILE"), (f["kc"] > Di, "TILE"),
                  ((f["n_rows"] == 0) | (f["n_rows"] > R), "TILE"),
                  (kcp * L > MAX_HEAD_DIM, "TILE"),
                  (w_over, "ADDR_RANGE"), (Mux(keys, d_over[1], d_over[0]), "ADDR_RANGE"))
        for name in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"):
            with m.Case(OPCODES[name]):
                _cfse_cause(check, cfg, name, f)
        with m.Default():
            m.d.comb += bad.eq(CAUSES["BAD_OPCODE"])
    # RESIDENT where it means nothing: the first row of those opcodes' checks (this later
    # assignment wins; exion.regmap.RESIDENT_OPS, and a LOAD_WMEM gather)
    both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
    others = Cat(*(op == v for n, v in OPCODES.items() if n not in RESIDENT_OPS)).any()
    gather = (op == OPCODES["LOAD_WMEM"]) & ((flags & both) == both)
    with m.If(resident & others & ~gather):
        m.d.comb += bad.eq(CAUSES["BAD_FIELD"])

def _cfse_cause(check, cfg: ExionConfig, name, f):
    """The checks of a CFSE command, in ``golden.core_checks``' order."""
    Di, Do, L = cfg.words("imem"), cfg.words("omem"), cfg.lanes
    second = {"RESIDUAL": [(f["xbuf"] >= cfg.imem_buffers, "BAD_BUFFER")],
              "LAYERNORM": [(f["mbuf"] >= cfg.omem_buffers, "BAD_BUFFER")]}.get(name, [])
    tile = {"SOFTMAX": [(f["n_ch"] > MAX_KEYS, "TILE")],
            "LAYERNORM": [(f["n_ch"] > min(MAX_LN_DIM, Do), "TILE")]}.get(name, [])
    adaln = ([(f["sc_base"] + f["n_ch"] > Do, "ADDR_RANGE"),
              (f["sh_base"] + f["n_ch"] > Do, "ADDR_RANGE")] if name == "LAYERNORM" else [])
    # GELU's keep-mask / SOFTMAX's key mask: channels of the mhalf part (mask_half)
    flag = {"GELU": "ffn_mask", "SOFTMAX": "key_mask"}.get(name)
    part = Mux(f["mhalf"] == 0, RegisterMap(cfg).channels, mask_half(RegisterMap(cfg).channels, 1)[1])
    mfield = [(f[flag] & (f["mhalf"] == 3), "BAD_FIELD")] if flag else []
    mrange = [(f[flag] & (f["ch_base"] + f["n_ch"] > part), "ADDR_RANGE")] if flag else []
    check((f["ibuf"] >= cfg.imem_buffers, "BAD_BUFFER"),
          (f["obuf"] >= cfg.omem_buffers, "BAD_BUFFER"), *second,
          (f["n_ch"] == 0, "BAD_FIELD"), *mfield,
          ((f["n_rows"] == 0) | (f["n_rows"] > cfg.rows), "TILE"), *tile,
          (f["ch_base"] + f["n_ch"] > Do, "ADDR_RANGE"),
          (f["base"] + ((f["n_ch"] + (L - 1)) // L) > Di, "ADDR_RANGE"), *adaln, *mrange)

def mem_cause(m, cfg: ExionConfig, op, flags, f, region_base, region_end):
    """Cause code of a ``MEM`` command at issue (0: good, or not a ``MEM`` command), as
    ``golden.dma.cause``: ``BAD_FIELD`` for a gather with
    ``half`` = 3, then ``DMA_ALIGN`` when ``addr`` or ``stride`` is not a multiple of
    ``bus_width / 8``, then ``DMA_REGION`` when a bus word it touches lies outside
    ``[region_base, region_end)`` (not for a gather, whose rows are checked as it runs).
    The region rule of each of the three opcodes (and of a packed ``READ_OMEM``, whose
    descriptor is one row of every beat) is computed from the ARG and REGION
    registers in two registered stages (see ``HostInterface.elaborate``): ``(rows - 1) * stride`` and the
    room ``region_end - addr - ceil(row_bytes / B) * B``, then ``end > region_end`` as
    ``product > room``."""
    bb, shift = cfg.bus_bytes, clog2(cfg.bus_bytes)
    width = DMA_ADDR_WIDTH + 28      # signed room: addresses and row sizes of 24 bits
    over = {}
    # (the flags are known only with the CMD word: both READ_OMEM descriptors are ready;
    # LOAD_SMEM: count blocks of smem_bytes, back to back, golden.core_smem)
    smem_bytes = block_words(cfg) * bb
    for name, pack in (("LOAD_IMEM", 0), ("LOAD_WMEM", 0), ("READ_OMEM", 0),
                       ("READ_OMEM_PACK", 1), ("LOAD_SMEM", 0)):
        opc = Const(OPCODES[name.removesuffix("_PACK")], 8)
        if name == "LOAD_SMEM":
            rows, row_bytes, stride = f["count"], Const(smem_bytes), Const(smem_bytes)
        else:
            rows, row_bytes = mem_descriptor(m, cfg, opc, f, pack)
            stride = f["stride"]
        prod = Signal(DMA_ADDR_WIDTH + DMA_ROWS_BITS + 1, name=f"mem_prod_{name.lower()}")
        room = Signal(signed(width), name=f"mem_room_{name.lower()}")
        low = Signal(name=f"mem_low_{name.lower()}")
        m.d.sync += [prod.eq((rows - 1)[:len(rows)] * stride),
                     room.eq(region_end - f["addr"]
                             - (((row_bytes + (bb - 1)) >> shift) << shift)),
                     low.eq(f["addr"] < region_base)]
        over[name] = Signal(name=f"mem_over_{name.lower()}")
        m.d.sync += over[name].eq(low | (room < 0) | (prod > room[:width - 1]))
    is_mem = mem_op(op) & ((flags & (FLAGS["MEM"] >> 8)) != 0)
    smem = (op == OPCODES["LOAD_SMEM"]) | (op == OPCODES["STORE_SMEM"])
    out = Mux(op == OPCODES["LOAD_IMEM"], over["LOAD_IMEM"],
              Mux(op == OPCODES["LOAD_WMEM"], over["LOAD_WMEM"],
                  Mux(op == OPCODES["LOAD_SMEM"], over["LOAD_SMEM"],
                      # a STORE_SMEM's count is known when it runs (hw/core_smem.py)
                      Mux(op == OPCODES["STORE_SMEM"], 0,
                          Mux(packed(op, flags), over["READ_OMEM_PACK"],
                              over["READ_OMEM"])))))
    misaligned = ((f["addr"] | Mux(smem, 0, f["stride"])) & (bb - 1)) != 0
    both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
    gather = (op == OPCODES["LOAD_WMEM"]) & ((flags & both) == both)
    cause = Signal(8)
    m.d.comb += cause.eq(Mux(~is_mem, 0,
                         Mux(gather & (f["half"] == 3), CAUSES["BAD_FIELD"],
                         Mux(misaligned, CAUSES["DMA_ALIGN"],
                         Mux(~gather & out, CAUSES["DMA_REGION"], 0)))))
    return cause
