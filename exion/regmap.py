"""The EXION core's host interface: register map, command set and cause codes.

One source for the RTL (``hw/core.py``), the testbenches, the C header, the manifest and
``docs/core.md``. Everything here is derived from an :class:`~exion.config.ExionConfig`; no
Amaranth import, so host software can use it alone.

The host talks to the core over AXI4-Lite (32-bit registers, byte addresses) and moves bulk
data over three AXI-Streams: ``s_axis_imem`` and ``s_axis_wmem`` (one IMEM or WMEM lane vector
per beat, into the core) and ``m_axis`` (one OMEM address of every bank per beat, out of it).

A command is issued by writing its argument registers ``ARG0..ARG5`` and then the command word
to ``CMD`` (opcode in bits 7:0, flags in bits 15:8). The core checks the fields at once: a bad
command is not queued, ``STATUS.error`` rises with a ``CAUSE`` code and the command word in
``ERR_CMD``; nothing else changes. While ``error`` is set every further command is refused
(with the cause of the first kept); writing ``CTRL.clear_error`` clears it. Good commands enter
an in-order queue and are dispatched to one of three engines (load, execute, read) as soon as
that engine is free and no buffer hazard exists, so loads and reads overlap computation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ExionConfig, clog2
from .limits import CAU_BEAT, MAX_HEAD_DIM, MAX_KEYS, QUEUE_DEPTH

__all__ = ["OPCODES", "FLAGS", "CAUSES", "REGISTERS", "STATUS_BITS", "RegisterMap", "ID_VALUE",
           "QUEUE_DEPTH", "CAU_BEAT", "MAX_KEYS", "MAX_HEAD_DIM", "encode"]

#: Value of the ``ID`` register: "EXN" and interface version 1.
ID_VALUE = 0x45584E01

OPCODES = {
    "LOAD_IMEM": 0x01,   # s_axis_imem -> IMEM buffer ARG2.ibuf, words [base, base+count) per bank
    "LOAD_WMEM": 0x02,   # s_axis_wmem -> WMEM buffer ARG2.wbuf, per bank, per stream (ARG2.streams
                         # of them, 0 = all), count words
    "GEMM": 0x10,        # dense (generated blocks) or sparse (the SMEM schedule) GEMM
    "SCHEDULE": 0x11,    # CAU: mask channels [0, n_ch) -> ConMerge vectors in SMEM
    "PREDICT": 0x12,     # eager prediction: scores, selection, keep-mask into the mask memory
    "READ_OMEM": 0x20,   # OMEM buffer ARG2.obuf, addresses [base, base+count) -> m_axis
}

FLAGS = {
    "SPARSE": 1 << 8,    # GEMM: execute the SCHEDULE result instead of dense blocks
    "FFN_MASK": 1 << 9,  # dense GEMM: build the FFN-Reuse keep-mask from its outputs
}

CAUSES = {
    "NONE": 0,
    "BAD_OPCODE": 1,     # unknown opcode
    "ADDR_RANGE": 2,     # an address range past the end of a bank / memory
    "TILE": 3,           # a tile larger than the array or a unit (rows, kc, keys, head dim)
    "BAD_BUFFER": 4,     # a buffer index >= the memory's buffer count
    "BAD_FIELD": 5,      # a zero count, shift >= acc_width, SPARSE with FFN_MASK, top-k count,
                         # streams > merge_degree
    "QUEUE_FULL": 6,     # CMD written while STATUS.queue_full
    "SMEM_OVERFLOW": 7,  # (run time) SCHEDULE produced more blocks than SMEM holds
}

STATUS_BITS = {
    "busy": 0,           # queue not empty or an engine active
    "error": 1,
    "load_busy": 2,
    "exec_busy": 3,
    "read_busy": 4,
    "queue_full": 5,
    # bits 15:8: commands in the queue
}

#: Fixed registers (byte offsets). ``*_LO``/``*_HI`` pairs hold 64-bit values.
REGISTERS = {
    "ID": 0x00,          # RO  ID_VALUE
    "STATUS": 0x04,      # RO  STATUS_BITS
    "CAUSE": 0x08,       # RO  first error's cause (CAUSES)
    "CTRL": 0x0C,        # WO  bit 0: clear error
    "CYCLES": 0x10,      # RO  busy cycles of the last finished execute command
    "BLOCKS": 0x14,      # RO  blocks in SMEM (last SCHEDULE)
    "DONE": 0x18,        # RO  commands finished since reset (wraps)
    "ERR_CMD": 0x1C,     # RO  command word of the refused command
    "ARG0": 0x20, "ARG1": 0x24, "ARG2": 0x28, "ARG3": 0x2C, "ARG4": 0x30, "ARG5": 0x34,
    "CMD": 0x3C,         # WO  command word: issue
    "DOMINANT_LO": 0x40, "DOMINANT_HI": 0x44,  # RO  last PREDICT: bit r = query r dominant
    "SKIP_K_LO": 0x48, "SKIP_K_HI": 0x4C,   # RO  bit j: no non-dominant query keeps key j
    "SKIP_V_LO": 0x50, "SKIP_V_HI": 0x54,   # RO  bit j: no query keeps key j
    # configuration, read-only
    "CFG_ROWS": 0x80, "CFG_COLS": 0x84, "CFG_LANES": 0x88, "CFG_DATA_WIDTH": 0x8C,
    "CFG_MERGE": 0x90, "CFG_IMEM_WORDS": 0x94, "CFG_WMEM_WORDS": 0x98, "CFG_OMEM_WORDS": 0x9C,
    "CFG_SMEM_DEPTH": 0xA0, "CFG_BUFFERS": 0xA4, "CFG_ACC_WIDTH": 0xA8,
}


def _pow2(n: int) -> int:
    return 1 << clog2(max(1, n))


@dataclass(frozen=True)
class RegisterMap:
    """The address map of one configuration.

    Members
    -------
    mask_base, mask_stride : int
        Mask window: channel ``ch`` word ``i`` (bits ``32 i ..``) of its conflict vector (bit
        ``r`` = row ``r`` keeps the channel) at ``mask_base + 4 * (ch * mask_stride + i)``;
        read/write. A multi-word vector is written when its last word is.
    smem_base, smem_stride : int
        SMEM window (read only): word ``i`` of block ``b``
        (``golden.schedule.pack_block``) at ``smem_base + 4 * (b * smem_stride + i)``.
    addr_width : int
        AXI4-Lite address bits.
    """

    cfg: ExionConfig

    @property
    def channels(self) -> int:
        """Channels the mask memory holds (= OMEM words: a channel is an OMEM address)."""
        return self.cfg.words("omem")

    @property
    def mask_words(self) -> int:
        return -(-self.cfg.rows // 32)

    @property
    def mask_stride(self) -> int:
        return _pow2(self.mask_words)

    @property
    def block_bits(self) -> int:
        from golden.schedule import word_bits
        return word_bits(self.cfg)

    @property
    def smem_words(self) -> int:
        return -(-self.block_bits // 32)

    @property
    def smem_stride(self) -> int:
        return _pow2(self.smem_words)

    @property
    def mask_base(self) -> int:
        return max(0x1000, _pow2(self.channels * self.mask_stride * 4))

    @property
    def smem_base(self) -> int:
        size = _pow2(self.cfg.schedule_depth * self.smem_stride * 4)
        end = self.mask_base + _pow2(self.channels * self.mask_stride * 4)
        return max(size, end + (-end) % size)

    @property
    def addr_width(self) -> int:
        return clog2(self.smem_base + _pow2(self.cfg.schedule_depth * self.smem_stride * 4))

    @property
    def in_width(self) -> int:
        """``s_axis_tdata`` bits: one lane vector."""
        return self.cfg.lanes * self.cfg.data_width

    @property
    def out_width(self) -> int:
        """``m_axis_tdata`` bits: one OMEM word of every bank, bank ``r`` at bits ``r * W``."""
        return self.cfg.rows * self.cfg.data_width

    def config_registers(self) -> dict[str, int]:
        c = self.cfg
        return {
            "CFG_ROWS": c.rows, "CFG_COLS": c.cols, "CFG_LANES": c.lanes,
            "CFG_DATA_WIDTH": c.data_width, "CFG_MERGE": c.merge_degree,
            "CFG_IMEM_WORDS": c.words("imem"), "CFG_WMEM_WORDS": c.words("wmem"),
            "CFG_OMEM_WORDS": c.words("omem"), "CFG_SMEM_DEPTH": c.schedule_depth,
            "CFG_BUFFERS": c.imem_buffers | c.wmem_buffers << 4 | c.omem_buffers << 8,
            "CFG_ACC_WIDTH": c.acc_width,
        }

    def manifest(self) -> dict:
        return {
            "registers": dict(REGISTERS), "opcodes": dict(OPCODES), "flags": dict(FLAGS),
            "causes": dict(CAUSES), "status_bits": dict(STATUS_BITS), "id": ID_VALUE,
            "queue_depth": QUEUE_DEPTH, "max_keys": MAX_KEYS, "max_head_dim": MAX_HEAD_DIM,
            "mask_base": self.mask_base, "mask_stride": self.mask_stride,
            "smem_base": self.smem_base, "smem_stride": self.smem_stride,
            "addr_width": self.addr_width, "s_axis_width": self.in_width,
            "m_axis_width": self.out_width,
        }

    def c_header(self) -> str:
        lines = ["/* EXION core register map (exion/regmap.py, docs/core.md) */"]
        for group, table in (("REG", REGISTERS), ("OP", OPCODES), ("FLAG", FLAGS),
                             ("CAUSE", CAUSES)):
            for name, value in table.items():
                lines.append(f"#define EXION_{group}_{name} 0x{value:X}u")
        for name, bit in STATUS_BITS.items():
            lines.append(f"#define EXION_STATUS_{name.upper()} (1u << {bit})")
        for name in ("mask_base", "mask_stride", "smem_base", "smem_stride", "addr_width"):
            lines.append(f"#define EXION_{name.upper()} {getattr(self, name)}u")
        lines.append(f"#define EXION_ID_VALUE 0x{ID_VALUE:08X}u")
        return "\n".join(lines) + "\n"


def _field(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} = {value!r} is out of range [{lo}, {hi}]")
    return value


def encode(op: str, *, flags=(), base=0, count=0, buf=0, streams=0, kc=0, shift=0, ch_base=0, n_ch=0,
           ibuf=0, wbuf=0, obuf=0, n_rows=0, wbase=0, th_hi=0, th_lo=0, topk=0, n_keys=0,
           q_th=0) -> tuple[dict[str, int], int]:
    """Argument registers and command word of one command (bit fields of docs/core.md).

    Field encodings only check that a value fits its bit field; whether it fits the
    configuration is the core's check (that is what the error tests exercise).
    """
    if op not in OPCODES:
        raise ValueError(f"op = {op!r} is not one of {', '.join(OPCODES)}")
    u16 = (0, 0xFFFF)
    args = {f"ARG{i}": 0 for i in range(6)}
    word = OPCODES[op]
    for f in flags:
        word |= FLAGS[f]
    if op in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM"):
        args["ARG0"] = _field("base", base, *u16) | _field("count", count, *u16) << 16
        args["ARG2"] = _field("buf", buf, 0, 15) << {"LOAD_IMEM": 0, "LOAD_WMEM": 4,
                                                     "READ_OMEM": 8}[op]
        if op == "LOAD_WMEM":
            args["ARG2"] |= _field("streams", streams, 0, 15) << 12
    elif op in ("GEMM", "PREDICT"):
        second = topk if op == "PREDICT" else shift
        args["ARG0"] = _field("kc", kc, *u16) | _field("topk/shift", second, *u16) << 16
        args["ARG1"] = _field("ch_base", ch_base, *u16) | \
            _field("n_ch/n_keys", n_keys if op == "PREDICT" else n_ch, *u16) << 16
        args["ARG2"] = (_field("ibuf", ibuf, 0, 15) | _field("wbuf", wbuf, 0, 15) << 4
                        | _field("obuf", obuf, 0, 15) << 8 | _field("n_rows", n_rows, 0, 255) << 16)
        args["ARG3"] = _field("wbase", wbase, *u16)
        if op == "GEMM":
            args["ARG4"] = _field("th_hi", th_hi, -(1 << 31), (1 << 31) - 1) & 0xFFFFFFFF
            args["ARG5"] = _field("th_lo", th_lo, -(1 << 31), (1 << 31) - 1) & 0xFFFFFFFF
        else:
            q = _field("q_th", q_th, 0, (1 << 64) - 1)
            args["ARG4"], args["ARG5"] = q & 0xFFFFFFFF, q >> 32
    elif op == "SCHEDULE":
        args["ARG1"] = _field("n_ch", n_ch, *u16) << 16
    return args, word
