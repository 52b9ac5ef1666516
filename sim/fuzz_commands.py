"""Seeded random commands for the core, legal and illegal, and the coverage bins they aim at.

Used by the RTL fuzz bench (sim/tb_core_fuzz.py) and by the model's pure-Python tests
(tests/test_core_model.py). A command is drawn legal for the configuration (fields inside
the capacities, small loads so the streams stay short; ``RESIDENT`` where it is legal, on a
``SPARSE`` GEMM with its window inside OMEM and WMEM, and on ``SCHEDULE``: :data:`P_RESIDENT`),
then, with probability ``p_bad``, one field is pushed to an edge (0, the limit, one past it,
all ones; a resident window's ``n_ch`` / ``wbase`` to the edges of its own checks), the
opcode replaced by an unknown one, or the flags mixed (a GEMM's ``RESIDENT`` toggled). Unused
fields and bits 31:16 of the command word get random junk now and then (the core must ignore
them). Which check fails is decided by the model (:mod:`golden.core_checks`), never here.
"""

from __future__ import annotations

import numpy as np

from exion.cfse_format import MAX_LN_DIM
from exion.config import ExionConfig
from exion.fields import ARG_FIELDS
from exion.limits import MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM
from exion.regmap import FLAGS, OPCODES, encode, mask_half
from golden.core_checks import CHECKS, DISPATCH_CHECKS, RESIDENT_CHECKS, SMEM_OPS, Limits

__all__ = ["random_command", "GEMM_FLAGS", "FLAG_BINS", "OP_WEIGHTS", "P_RESIDENT", "flag_bin",
           "bin_flags", "coverage_goal",
           "BUFFERS_USED", "DEST_BUFFERS", "buffers_of", "buffer_fields", "buffer_label",
           "buffer_goal"]

#: GEMM's flags that make its flag bin (:func:`flag_bin`): each set of them is a bin.
GEMM_FLAGS = ("SPARSE", "FFN_MASK", "RESIDENT")

#: Flag bins of the coverage per opcode: GEMM's, the set of its :data:`GEMM_FLAGS` ("none":
#: none of them); SCHEDULE's, "RESIDENT" (the CAU's resident rule) or "-" (the greedy
#: rule); other opcodes ignore flags or refuse them whatever else is set ("-").
FLAG_BINS = {"GEMM": tuple("+".join(f for i, f in enumerate(GEMM_FLAGS) if m >> i & 1) or "none"
                           for m in range(1 << len(GEMM_FLAGS))),
             "SCHEDULE": ("-", "RESIDENT")}


def flag_bin(op: str | None, word: int) -> str:
    if op == "GEMM":
        return "+".join(f for f in GEMM_FLAGS if word & FLAGS[f]) or "none"
    if op == "SCHEDULE":
        return "RESIDENT" if word & FLAGS["RESIDENT"] else "-"
    return "-"


def bin_flags(op: str, fb: str) -> list[str] | None:
    """The flags a command of opcode ``op`` is drawn with to land in flag bin ``fb`` (None:
    any; junk flags may still move it to another bin)."""
    if op in FLAG_BINS:
        return [] if fb in ("none", "-") else fb.split("+")
    return None


def coverage_goal() -> set[tuple[str, str, str]]:
    """The (opcode, flag bin, cause) triples the core can produce, from the check tables: every
    check's cause, success, QUEUE_FULL, the run-time SMEM_OVERFLOW and the dispatch checks.
    Anything outside is impossible by construction (e.g. a load never gets TILE)."""
    goal = {("?", "-", "BAD_OPCODE")}
    for op, checks in CHECKS.items():
        if op in SMEM_OPS:
            # MEM only, and the fuzz bench has no memory on the master port: never drawn by
            # the stream (tests/test_core_smem.py reaches their check rows)
            continue
        for b in FLAG_BINS.get(op, ("-",)):
            causes = {c.cause for c in checks} | {"QUEUE_FULL", "NONE"}
            if op == "GEMM":
                sparse, ffn, resident = (f in b.split("+") for f in GEMM_FLAGS)
                if sparse and ffn:
                    # BAD_FIELD (both flags) wins over everything after it, RESIDENT's too
                    causes -= {"TILE", "ADDR_RANGE", "QUEUE_FULL", "NONE"}
                elif resident and not sparse:
                    # BAD_FIELD (RESIDENT_CHECKS' first row) after every GEMM check
                    causes -= {"QUEUE_FULL", "NONE"}
                elif resident:
                    # RESIDENT's range checks at issue; no dispatch check (its range is known)
                    causes |= {c.cause for c in RESIDENT_CHECKS}
                elif sparse:
                    causes |= {c.cause for c in DISPATCH_CHECKS["GEMM"]}
            goal |= {(op, b, c) for c in causes}
    goal |= {("SCHEDULE", b, "SMEM_OVERFLOW") for b in FLAG_BINS["SCHEDULE"]}
    return goal


#: The IMEM / WMEM / OMEM buffers an opcode uses: ``(memory, field)`` pairs. SCHEDULE uses
#: none (the mask memory and SMEM have one buffer); a CFSE command reads OMEM ``obuf`` and
#: writes IMEM ``ibuf``, ``RESIDUAL`` also reads IMEM ``xbuf``, ``LAYERNORM`` OMEM ``mbuf``.
BUFFERS_USED = {"LOAD_IMEM": (("imem", "ibuf"),), "LOAD_WMEM": (("wmem", "wbuf"),),
                "READ_OMEM": (("omem", "obuf"),),
                "GEMM": (("imem", "ibuf"), ("wmem", "wbuf"), ("omem", "obuf")),
                "PREDICT": (("imem", "ibuf"), ("wmem", "wbuf")),
                # its sources; the destination ``dbuf`` is IMEM or WMEM by the KEYS flag
                "PREDICT_PROJ": (("imem", "ibuf"), ("wmem", "wbuf")),
                "GELU": (("imem", "ibuf"), ("omem", "obuf")),
                "SOFTMAX": (("imem", "ibuf"), ("omem", "obuf")),
                "RESIDUAL": (("imem", "ibuf"), ("imem", "xbuf"), ("omem", "obuf")),
                "LAYERNORM": (("imem", "ibuf"), ("omem", "obuf"), ("omem", "mbuf"))}

#: A destination whose memory a flag picks: ``PREDICT_PROJ`` writes IMEM buffer ``dbuf``, or
#: WMEM buffer ``dbuf`` with ``KEYS``; both are bins of the cover point.
DEST_BUFFERS = {"PREDICT_PROJ": (("imem", "dbuf"), ("wmem", "dbuf"))}

#: The cover point's name of a buffer field: its memory; a command's second buffer of the
#: same memory (``xbuf``, ``mbuf``) apart, as "memory.field".
_MAIN = ("ibuf", "wbuf", "obuf")


def buffer_label(mem: str, fld: str) -> str:
    return mem if fld in _MAIN else f"{mem}.{fld}"


def buffer_fields(cmd) -> list[tuple[str, str, int]]:
    """``(label, memory, buffer)`` of each buffer field of a decoded command (its
    destination of :data:`DEST_BUFFERS` last)."""
    out = [(buffer_label(mem, fld), mem, getattr(cmd, fld))
           for mem, fld in BUFFERS_USED.get(cmd.op, ())]
    if cmd.op == "PREDICT_PROJ":
        mem = "wmem" if cmd.keys else "imem"
        out.append((buffer_label(mem, "dbuf"), mem, cmd.dbuf))
    return out


def buffers_of(cmd) -> set[tuple[str, int]]:
    """``(memory, buffer)`` pairs a decoded command uses."""
    return {(mem, b) for _, mem, b in buffer_fields(cmd)}


def buffer_goal(cfg: ExionConfig) -> set[tuple[str, str, int, str]]:
    """Bins ``(opcode, memory, buffer, state)`` of an accepted command (``memory``:
    :func:`buffer_label`): ``state`` "behind" when a command queued ahead of it and not yet
    finished uses the same buffer (the dispatcher's hazards decide when it may start), else
    "free"."""
    n = {"imem": cfg.imem_buffers, "wmem": cfg.wmem_buffers, "omem": cfg.omem_buffers}
    fields = [(op, mem, fld) for table in (BUFFERS_USED, DEST_BUFFERS)
              for op, used in table.items() for mem, fld in used]
    return {(op, buffer_label(mem, fld), b, st) for op, mem, fld in fields
            for b in range(n[mem]) for st in ("free", "behind")}


#: Fields no check reads (every value is legal): not pushed to an edge.
_UNCHECKED = ("in_shift", "out_shift", "ffn_mask", "key_mask", "ffn_th")


def _junk(rng) -> int:
    return int(rng.integers(0, 1 << 32))


#: How often a legal draw sets ``RESIDENT``: on a GEMM drawn ``SPARSE`` alone, on a
#: ``SCHEDULE`` (the CAU's resident rule instead of the greedy one).
P_RESIDENT = {"GEMM": 0.5, "SCHEDULE": 0.4}

#: Opcode weights of the draw: GEMM has the most flag bins to cover, so it comes more often.
OP_WEIGHTS = {"LOAD_IMEM": 1.0, "LOAD_WMEM": 1.0, "GEMM": 3.0, "SCHEDULE": 1.0, "PREDICT": 1.0,
              "READ_OMEM": 1.0, "PREDICT_PROJ": 1.0, "GELU": 0.5, "RESIDUAL": 0.5, "LAYERNORM": 0.5,
              "SOFTMAX": 0.5}


def random_command(rng: np.random.Generator, cfg: ExionConfig, *, blocks: int = 0,
                   p_bad: float = 0.25, op: str | None = None,
                   flags: list[str] | None = None,
                   fix: dict[str, int] | None = None) -> tuple[dict[str, int], int]:
    """One command: ``(ARG0..ARG5 dict, command word)``. ``blocks``: the current ``BLOCKS``
    (a legal sparse GEMM keeps ``wbase + blocks * kc`` inside WMEM), or ``(BLOCKS, BLOCKS_H1,
    BLOCKS_H2)``: then ``SCHEDULE`` and ``GEMM`` also draw an SMEM half (``half`` 1 / 2, a
    third of the time); ``op``: drawn when not given; ``flags``: a GEMM's or SCHEDULE's flags
    (:func:`bin_flags`), drawn when not given (a bad draw may still mix them); ``fix``: fields
    set to these values after the legal draw (a buffer steered to a coverage hole; the result
    may then fail a check)."""
    k = Limits.of(cfg)
    R, L = k.rows, k.lanes
    Di, Dw, Do = k.imem_words, k.wmem_words, k.omem_words
    if op is None:
        ops = list(OP_WEIGHTS)
        p = np.array([OP_WEIGHTS[o] for o in ops])
        op = ops[int(rng.choice(len(ops), p=p / p.sum()))]
    r = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731
    halves = not isinstance(blocks, int)
    counts = tuple(blocks) if halves else (blocks, 0, 0)
    half = 0
    if halves and op in ("SCHEDULE", "GEMM") and rng.random() < 1 / 3:
        half = r(1, 2)
    blocks = counts[half]
    fixed_flags = flags
    flags = []
    v: dict[str, int] = {}
    if op == "LOAD_IMEM":
        count = r(1, min(Di, 6))
        v = dict(buf=r(0, k.imem_buffers - 1), count=count, base=r(0, Di - count))
    elif op == "LOAD_WMEM":
        count = r(1, min(Dw, 6))
        v = dict(buf=r(0, k.wmem_buffers - 1), count=count, base=r(0, Dw - count),
                 streams=r(0, k.merge_degree))
    elif op == "READ_OMEM":
        count = r(1, Do)
        v = dict(buf=r(0, k.omem_buffers - 1), count=count, base=r(0, Do - count))
    elif op == "GEMM":
        flags = [f for f in ("SPARSE", "FFN_MASK") if rng.random() < 0.4]
        if len(flags) == 2 and rng.random() < 0.6:
            flags = flags[:1]
        if flags == ["SPARSE"] and rng.random() < P_RESIDENT["GEMM"]:
            flags.append("RESIDENT")
        if fixed_flags is not None:
            flags = list(fixed_flags)
        # SPARSE | RESIDENT: the window of n_ch channels (outputs at their channel, weights
        # at wbase + class * kc); any other GEMM with RESIDENT is refused whatever its fields
        resident = "SPARSE" in flags and "RESIDENT" in flags
        kc = r(1, Di)
        blk_max = max(1, Dw // kc)
        n_ch = r(1, min(Do, blk_max * k.cols * (k.merge_degree if resident else 1)))
        dp = k.drain_ports if "FFN_MASK" in flags else 1
        mhalf, part = _mask_part(rng, k, r) if "FFN_MASK" in flags else (0, Do)
        n_ch = min(n_ch, part) if part else n_ch
        ch_base = r(0, max(0, min(Do, part) - n_ch) // dp) * dp
        nb = k.resident_classes(n_ch) if resident else k.dense_blocks(n_ch)
        wb_hi = Dw - (blocks if "SPARSE" in flags and not resident else nb) * kc
        wbase = r(0, wb_hi) if wb_hi >= 0 else r(0, Dw)
        # past WMEM at dispatch (RESIDENT: at issue, from one word past on)
        if "SPARSE" in flags and rng.random() < p_bad * 0.4:
            wbase = max(0, wb_hi + r(1, kc + 1))
        hi = cfg.data_max
        v = dict(kc=kc, shift=r(0, min(k.acc_width - 1, 12)), ch_base=ch_base, n_ch=n_ch,
                 ibuf=r(0, k.imem_buffers - 1), wbuf=r(0, k.wmem_buffers - 1),
                 obuf=r(0, k.omem_buffers - 1), n_rows=r(1, R), wbase=wbase,
                 th_hi=r(-hi // 4, hi // 2), th_lo=r(-hi, 0), half=half, mhalf=mhalf,
                 ibase=r(0, Di - kc) if rng.random() < 0.5 else 0)
    elif op == "SCHEDULE":
        mhalf, part = _mask_part(rng, k, r)
        v = dict(n_ch=r(1, max(1, part)), half=half, mhalf=mhalf)
        flags = ["RESIDENT"] if rng.random() < P_RESIDENT["SCHEDULE"] else []
        if fixed_flags is not None:
            flags = list(fixed_flags)
    elif op == "PREDICT":
        kc = r(1, min(Di, MAX_HEAD_DIM // L))
        mhalf, part = _mask_part(rng, k, r)
        n_keys = r(1, max(1, min(MAX_KEYS, part, (Dw // kc) * k.cols)))
        q_th = [0, r(0, 64), r(0, 1 << 12), (1 << 64) - 1 - r(0, 3)][r(0, 3)]
        v = dict(kc=kc, topk=r(1, k.max_topk), n_keys=n_keys, ibuf=r(0, k.imem_buffers - 1),
                 wbuf=r(0, k.wmem_buffers - 1), n_rows=r(1, R),
                 wbase=r(0, Dw - k.dense_blocks(n_keys) * kc), q_th=q_th, mhalf=mhalf)
    elif op in SMEM_OPS:        # (drawn only when asked for: not in OP_WEIGHTS)
        half = r(0, 2)
        part = k.smem_part(half)
        v = dict(half=half, count=r(1, part), addr=r(0, 1 << 10) * k.bus_bytes)
        flags = ["MEM"]
    elif op == "PREDICT_PROJ":
        v = _predict_proj(rng, k, r)
        flags = ["KEYS"] if v.pop("keys") else []
    elif op in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"):
        n_max = {"SOFTMAX": MAX_KEYS, "LAYERNORM": min(MAX_LN_DIM, Do)}.get(op, Do)
        n_ch = r(1, min(n_max, Do, Di * L))
        # GELU's keep-mask / SOFTMAX's key mask: channels inside the mhalf part (only the
        # opcode's own flag reads it)
        use_mask = r(0, 1)
        mhalf, part = _mask_part(rng, k, r) if op in ("GELU", "SOFTMAX") else (0, Do)
        if use_mask:
            n_ch = min(n_ch, part)
        ch_hi = (min(Do, part) if use_mask else Do) - n_ch
        v = dict(n_ch=n_ch, ch_base=r(0, ch_hi), base=r(0, Di - -(-n_ch // L)),
                 ibuf=r(0, k.imem_buffers - 1), obuf=r(0, k.omem_buffers - 1), n_rows=r(1, R),
                 in_shift=r(0, 15), out_shift=r(0, 15), xbuf=r(0, k.imem_buffers - 1),
                 mbuf=r(0, k.omem_buffers - 1), ffn_mask=use_mask, key_mask=use_mask,
                 ffn_th=r(0, 1 << 15), gate=r(-(1 << 15), (1 << 15) - 1),
                 sc_base=r(0, Do - n_ch), sh_base=r(0, Do - n_ch), mhalf=mhalf)
    if fix:
        v.update(fix)
    if rng.random() < p_bad:
        what = rng.random()
        if what < 0.1:
            op = None                       # replaced below by an unknown opcode
        elif what < 0.2 and op != "GEMM":
            # (not MEM: the fuzz bench has no memory on the master port, docs/core-model.md)
            flags = [f for f in FLAGS if f != "MEM" and rng.random() < 0.5]
        elif what < 0.2:
            # GEMM: RESIDENT toggled (legal only with SPARSE alone: the range checks decide)
            flags = sorted(set(flags) ^ {"RESIDENT"})
        elif op == "GEMM" and "SPARSE" in flags and "RESIDENT" in flags and what < 0.5:
            _resident_edge(rng, k, v, r)
        else:
            names = [f.name for f in ARG_FIELDS if op in f.ops and not f.signed
                     and f.name not in ("q_th_lo", "q_th_hi", "addr", "stride")   # (MEM only)
                     + _UNCHECKED and not _mem_only(f.name, op)]
            names = names or ["half"]
            names = [{"ibuf": "buf", "wbuf": "buf", "obuf": "buf"}.get(n, n)
                     if op in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM") else n for n in names]
            name = names[int(rng.integers(len(names)))]
            fld = next(f for f in ARG_FIELDS if f.name == {"buf": "ibuf"}.get(name, name))
            limit = _limit_of(name, op, k)
            if name in ("n_ch", "n_keys", "ch_base") and v.get("mhalf") in (1, 2):
                limit = mask_half(k.channels, v["mhalf"])[1]    # the mask part's edge
            v[name] = [0, limit, limit + 1, limit + r(2, 40), fld.mask][r(0, 4)]
            v[name] = min(v[name], fld.mask)
    if op is None:
        known = set(OPCODES.values())
        opcode = next(o for o in (int(rng.integers(0, 256)) for _ in range(100))
                      if o not in known)
        args = {f"ARG{i}": _junk(rng) for i in range(6)}
        return args, opcode | int(rng.integers(0, 256)) << 8
    args, word = encode(op, flags=flags, **v)
    if rng.random() < 0.1:                  # junk in bits the opcode does not use
        used = [0] * 6
        for f in ARG_FIELDS:
            if op in f.ops and f.name not in ("addr", "stride") and not _mem_only(f.name, op):
                used[f.reg] |= f.mask << f.lo
        for i in range(6):
            args[f"ARG{i}"] |= _junk(rng) & ~used[i] & 0xFFFFFFFF
        word |= int(rng.integers(0, 1 << 16)) << 16
        if op != "GEMM":        # (the MEM flag is no junk on a load or read: left out)
            word |= (int(rng.integers(0, 256)) << 8) & ~FLAGS["MEM"]
    return args, word


def _resident_edge(rng, k: Limits, v: dict[str, int], r) -> None:
    """A ``SPARSE | RESIDENT`` GEMM's window pushed to an edge of its issue checks: ``n_ch``
    0, OMEM words or one past; or ``wbase`` at the last word where the window's ``ceil(n_ch /
    (cols * merge_degree)) * kc`` words fit, or one past it."""
    if rng.random() < 0.5:
        v["n_ch"] = [0, k.omem_words, k.omem_words + 1][r(0, 2)]
    else:
        v["wbase"] = max(0, k.wmem_words - k.resident_classes(v["n_ch"]) * v["kc"] + r(0, 1))


def _mask_part(rng, k: Limits, r) -> tuple[int, int]:
    """``(mhalf, channels of that part)``: a mask-memory half a third of the time."""
    mhalf = r(1, 2) if rng.random() < 1 / 3 else 0
    return mhalf, mask_half(k.channels, mhalf)[1]


def _predict_proj(rng, k: Limits, r) -> dict[str, int]:
    """Legal ``PREDICT_PROJ`` fields (``keys``: the ``KEYS`` flag): the reduction, head and
    destination range inside the capacities, the destination not a buffer it reads (where
    the memory has a second buffer), shifts from 0 to the accumulator's top bit."""
    L, C, Di, Dw = k.lanes, k.cols, k.imem_words, k.wmem_words
    keys = bool(rng.random() < 0.5)
    kc = r(1, max(1, min(Di, MAX_PROJ_DIM // L, Dw // 2)))
    n_ch = r(1, max(1, min((MAX_HEAD_DIM // L) * L, (Dw // kc) * C, Di * L)))
    kcp = -(-n_ch // L)
    n_rows = r(1, k.rows)
    ibuf, wbuf = r(0, k.imem_buffers - 1), r(0, k.wmem_buffers - 1)
    nb = k.wmem_buffers if keys else k.imem_buffers
    src = wbuf if keys else ibuf
    dbuf = (src + r(1, nb - 1)) % nb if nb > 1 else src
    key_base = r(0, max(0, (Dw // kcp) * C - n_rows)) if keys else r(0, 64)
    span = k.dense_blocks(key_base + n_rows) * kcp if keys else kcp
    dbase = r(0, max(0, (Dw if keys else Di) - span))
    shift = [r(0, 4), r(5, 20), k.proj_acc_width - 1][r(0, 2)]
    return dict(kc=kc, n_ch=n_ch, n_rows=n_rows, ibuf=ibuf, wbuf=wbuf, dbuf=dbuf,
                key_base=key_base, dbase=dbase, shift=shift,
                wbase=r(0, max(0, Dw - k.dense_blocks(n_ch) * kc)), keys=keys)


def _mem_only(name: str, op: str) -> bool:
    """A field only a ``MEM`` command reads (the fuzz bench has no memory on the master port):
    ``LOAD_WMEM``'s ``half`` (a gather's SMEM part)."""
    return name == "half" and op == "LOAD_WMEM"


def _limit_of(name: str, op: str, k: Limits) -> int:
    """The capacity a field is checked against (edge values are drawn around it)."""
    bufs = {"LOAD_IMEM": k.imem_buffers, "LOAD_WMEM": k.wmem_buffers,
            "READ_OMEM": k.omem_buffers}
    return {
        "buf": bufs.get(op, 1), "ibuf": k.imem_buffers, "wbuf": k.wmem_buffers,
        "obuf": k.omem_buffers, "count": {"LOAD_IMEM": k.imem_words,
                                          "LOAD_WMEM": k.wmem_words}.get(op, k.omem_words),
        "base": {"LOAD_IMEM": k.imem_words, "LOAD_WMEM": k.wmem_words}.get(op, k.omem_words),
        "kc": {"GEMM": k.imem_words, "PREDICT_PROJ": min(k.imem_words, MAX_PROJ_DIM // k.lanes)}
        .get(op, MAX_HEAD_DIM // k.lanes),
        "shift": k.proj_acc_width if op == "PREDICT_PROJ" else k.acc_width,
        "topk": k.max_topk, "ch_base": k.omem_words,
        "n_ch": MAX_HEAD_DIM if op == "PREDICT_PROJ" else k.channels,
        "dbuf": k.imem_buffers, "dbase": k.imem_words, "key_base": MAX_KEYS, "n_keys": min(MAX_KEYS, k.channels), "n_rows": k.rows,
        "wbase": k.wmem_words, "ibase": k.imem_words, "streams": k.merge_degree, "xbuf": k.imem_buffers,
        "mbuf": k.omem_buffers, "sc_base": k.omem_words, "sh_base": k.omem_words,
        "half": 3,      # SMEM part: 0 whole, 1 / 2 halves; 3 is refused
        **({"count": k.smem_depth} if op == "LOAD_SMEM" else {}),
        "mhalf": 3,     # mask-memory part, likewise
    }.get(name, 1)

