"""The EXION core's host interface: register map, command set and cause codes.

One source for the RTL (``hw/core.py``), the testbenches, the C header, the manifest and
``docs/core.md``. Everything here is derived from an :class:`~exion.config.ExionConfig`; no
Amaranth import, so host software can use it alone.

The host talks to the core over AXI4-Lite (32-bit registers, byte addresses) and moves bulk
data over three AXI-Streams: ``s_axis_imem`` and ``s_axis_wmem`` (one IMEM or WMEM lane vector
per beat, into the core) and ``m_axis`` (one OMEM address of every bank per beat, out of it).

A command is issued by writing its argument registers ``ARG0..ARG5`` and then the command word
to ``CMD`` (opcode in bits 7:0, flags in bits 15:8). The core checks the fields in the cycle
after the write, before the write's response can reach the host and before any next write: a bad
command is not queued, ``STATUS.error`` rises with a ``CAUSE`` code and the command word in
``ERR_CMD``; nothing else changes. While ``error`` is set every further command is refused
(with the cause of the first kept); writing ``CTRL.clear_error`` clears it. Good commands enter
an in-order queue and are dispatched to one of three engines (load, execute, read) as soon as
that engine is free and no buffer hazard exists, so loads and reads overlap computation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .config import ExionConfig, clog2
from .fields import ARG_FIELDS, fields_of
from .formats import block_bits, max_keep
from .limits import (CAU_BEAT, CHANNEL_BITS, GROUP_BITS, MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM,
                     QUEUE_DEPTH)
from .util import check_int

__all__ = ["Opcode", "Flag", "Cause", "OPCODES", "FLAGS", "CAUSES", "CTRL_BITS", "REGISTERS",
           "STATUS_BITS", "RESPONSES", "MERGED_REGISTERS", "WORD_REGISTERS", "RegisterMap", "RESIDENT_OPS", "smem_half", "mask_half", "core_header", "ID_VALUE", "QUEUE_DEPTH", "CAU_BEAT", "MAX_KEYS", "MAX_HEAD_DIM", "MAX_PROJ_DIM", "encode"]

#: Value of the ``ID`` register: "EXN" and interface version 1.
ID_VALUE = 0x45584E01

class Opcode(enum.IntEnum):
    """Command opcodes (``CMD`` bits 7:0). An ``IntEnum``: tables and waveforms show names."""

    LOAD_IMEM = 0x01   # s_axis_imem -> IMEM buffer ARG2.ibuf, words [base, base+count) per bank
    LOAD_WMEM = 0x02   # s_axis_wmem -> WMEM buffer ARG2.wbuf, per bank, per stream (ARG2.streams
                       # of them, 0 = all), count words
    LOAD_SMEM = 0x03   # MEM only: count packed ConMerge vectors from memory at ARG4 -> the SMEM
                       # part ARG2.half names, its block count = count (as a SCHEDULE would)
    GEMM = 0x10        # dense (generated blocks) or sparse (the SMEM schedule) GEMM
    SCHEDULE = 0x11    # CAU: mask channels [0, n_ch) -> ConMerge vectors in SMEM
    PREDICT = 0x12     # eager prediction: scores, selection, keep-mask into the mask memory
    PREDICT_PROJ = 0x13  # eager prediction: predicted Q' (-> IMEM) or K' (KEYS: -> WMEM)
                         # projection X W on the shift-add units, requantized
    READ_OMEM = 0x20   # OMEM buffer ARG2.obuf, addresses [base, base+count) -> m_axis
    STORE_SMEM = 0x21  # MEM only: the vectors of the SMEM part ARG2.half names (its block
                       # count of them) -> memory at ARG4, as LOAD_SMEM reads them
    GELU = 0x30        # CFSE: OMEM channels -> GELU -> IMEM (optionally the FFN-Reuse keep-mask)
    RESIDUAL = 0x31    # CFSE: sat(IMEM x + gate * OMEM f) -> IMEM
    LAYERNORM = 0x32   # CFSE: LayerNorm + adaLN of OMEM rows -> IMEM
    SOFTMAX = 0x33     # CFSE: softmax of OMEM rows (optionally key-masked) -> IMEM


class Flag(enum.IntEnum):
    """Command flags, as bits of the command word (bits 15:8)."""

    SPARSE = 1 << 8    # GEMM: execute the SCHEDULE result instead of dense blocks
    FFN_MASK = 1 << 9  # dense GEMM: build the FFN-Reuse keep-mask from its outputs
    MEM = 1 << 10      # LOAD_IMEM / LOAD_WMEM / READ_OMEM: from / to memory at ARG4 (address)
                       # with row stride ARG5 through the AXI4 master port, not the streams;
                       # LOAD_SMEM / STORE_SMEM: required (they have no stream)
    KEYS = 1 << 11     # PREDICT_PROJ: write K' into WMEM buffer ARG2.dbuf in PREDICT's key
                       # layout instead of Q' into IMEM buffer ARG2.dbuf
    GATHER = 1 << 12   # LOAD_WMEM with MEM: the rows of the channels the SMEM vectors name
                       # (channel n at ARG4 + n * ARG5), laid out as a sparse GEMM reads them
    RESIDENT = 1 << 13  # SCHEDULE: the resident rule (channel j only in slot j % cols, stream
                        # (j // cols) % merge_degree); GEMM with SPARSE: weights read in place
                        # from the resident layout
    PACK = 1 << 14     # READ_OMEM with MEM: the beats back to back from ARG4 (one row of
                       # count * ceil(rows * data_width / 8) bytes; ARG5 unused), not one per row


class Cause(enum.IntEnum):
    """``CAUSE`` codes: why a command was refused (or, SMEM_OVERFLOW, failed)."""

    NONE = 0
    BAD_OPCODE = 1     # unknown opcode
    ADDR_RANGE = 2     # an address range past the end of a bank / memory
    TILE = 3           # a tile larger than the array or a unit (rows, kc, keys, head dim)
    BAD_BUFFER = 4     # a buffer index >= the memory's buffer count
    BAD_FIELD = 5      # a zero count, shift >= acc_width, SPARSE with FFN_MASK, top-k count,
                       # streams > merge_degree, RESIDENT outside GEMM SPARSE / SCHEDULE / gather
    QUEUE_FULL = 6     # CMD written while STATUS.queue_full
    SMEM_OVERFLOW = 7  # (run time) SCHEDULE produced more blocks than SMEM holds
    DMA_ALIGN = 8      # (master port) a base address or row stride not a multiple of the bus
                       # word (bus_width / 8 bytes)
    DMA_REGION = 9     # (master port) a transfer reaching outside the allowed address region
    DMA_SLVERR = 10    # (master port) the memory answered SLVERR
    DMA_DECERR = 11    # (master port) the memory answered DECERR (no slave at the address)
    SAME_BUFFER = 12   # PREDICT_PROJ: the destination buffer is a buffer it reads


#: Opcodes the ``RESIDENT`` flag means something on; any other opcode refuses it (BAD_FIELD),
#: ``LOAD_WMEM`` too unless it is a gather (``MEM | GATHER``: the identity window).
RESIDENT_OPS = ("GEMM", "SCHEDULE")

#: The enums as name -> value tables (manifest, C header, tests).
OPCODES = {m.name: int(m) for m in Opcode}
FLAGS = {m.name: int(m) for m in Flag}
CAUSES = {m.name: int(m) for m in Cause}

#: Bits of the ``CTRL`` register (write-only).
CTRL_BITS = {
    "clear_error": 0,
}

#: ``STATUS`` bits 15:8: commands in the queue.
STATUS_QUEUE_SHIFT, STATUS_QUEUE_BITS = 8, 8

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
    "BUSY_CYCLES": 0x58,  # RO  cycles the SDUE was busy since reset (wraps)
    "BYTES_IN_LO": 0x60, "BYTES_IN_HI": 0x64,    # RO  bytes into the core's data ports
    "BYTES_OUT_LO": 0x68, "BYTES_OUT_HI": 0x6C,  # RO  bytes out of them (since reset)
    "REGION_BASE": 0x70,  # RW  master port: first byte address MEM commands may touch
    "REGION_END": 0x74,   # RW  master port: end (exclusive) of that region; 0 at reset
    "MEM_RD_CYCLES": 0x78,  # RO  cycles of the last finished MEM load (take to done)
    "MEM_WR_CYCLES": 0x7C,  # RO  cycles of the last finished MEM READ_OMEM (take to done)
    # SMEM halves (ARG2.half): vectors of the last SCHEDULE into each half, and the cycles of
    # the last SCHEDULE (a split one finishes out of order, so it leaves CYCLES alone)
    "BLOCKS_H1": 0xC0, "BLOCKS_H2": 0xC4,   # RO  blocks of the last SCHEDULE with half 1 / 2
    "SCHED_CYCLES": 0xC8,                    # RO  cycles of the last finished SCHEDULE
    "SMEM_LD_CYCLES": 0xCC,  # RO  cycles of the last LOAD_SMEM finished without a fault
    "SMEM_ST_CYCLES": 0xD0,  # RO  cycles of the last STORE_SMEM finished without a fault
    "CAU_BESIDE": 0xE0,   # RO  cycles a SCHEDULE ran beside the exec, PREDICT or CFSE engine (wraps)
    "PROJ_SAT": 0xF0,     # RO  outputs the last PREDICT_PROJ saturated (its shift too small)
    # configuration, read-only
    "CFG_ROWS": 0x80, "CFG_COLS": 0x84, "CFG_LANES": 0x88, "CFG_DATA_WIDTH": 0x8C,
    "CFG_MERGE": 0x90, "CFG_IMEM_WORDS": 0x94, "CFG_WMEM_WORDS": 0x98, "CFG_OMEM_WORDS": 0x9C,
    "CFG_SMEM_DEPTH": 0xA0, "CFG_BUFFERS": 0xA4, "CFG_ACC_WIDTH": 0xA8,
}


#: AXI4-Lite responses of the control port (the AXI4 ``BRESP`` / ``RRESP`` codes). A write
#: with no byte strobe set changes nothing; ``MERGED_REGISTERS`` take the enabled bytes;
#: ``WORD_REGISTERS`` and the mask window act on whole words only (some but not all strobes:
#: SLVERR, nothing changes); every other register and the SMEM window are read only (a write:
#: SLVERR); an address in no register or window: DECERR (reads return 0). Address bits 1:0
#: select bytes only, as the strobes do: an access acts on the word that holds its address.
RESPONSES = {"OKAY": 0, "SLVERR": 2, "DECERR": 3}

#: Writable registers that merge the bytes a write enables.
MERGED_REGISTERS = ("ARG0", "ARG1", "ARG2", "ARG3", "ARG4", "ARG5", "REGION_BASE", "REGION_END")

#: Writable registers whose write acts (issues a command, clears the error): whole words only.
WORD_REGISTERS = ("CMD", "CTRL")


def smem_half(depth: int, half: int) -> tuple[int, int]:
    """``(first vector, vectors)`` of the SMEM part a command's ``half`` field names: 0 = the
    whole SMEM of ``depth`` vectors, 1 = the lower ``depth // 2``, 2 = the upper ``depth // 2``
    (an odd depth leaves its last vector to whole-SMEM commands)."""
    if half not in (0, 1, 2):
        raise ValueError(f"half = {half!r} is out of range [0, 2]")
    if half == 0:
        return 0, depth
    return (half - 1) * (depth // 2), depth // 2


def mask_half(channels: int, half: int) -> tuple[int, int]:
    """``(first channel, channels)`` of the mask-memory part a command's ``mhalf`` field names:
    0 = the whole mask memory of ``channels`` channels, 1 / 2 = the lower / upper half, each
    ``(mask words // 2) * CAU_BEAT`` channels (whole words of ``CAU_BEAT`` channels, the
    memory's width; an odd word count leaves its last word to whole-memory commands)."""
    if half not in (0, 1, 2):
        raise ValueError(f"mhalf = {half!r} is out of range [0, 2]")
    if half == 0:
        return 0, channels
    size = (-(-channels // CAU_BEAT) // 2) * CAU_BEAT
    return (half - 1) * size, size


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
        return block_bits(self.cfg)

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
    def core_stride(self) -> int:
        """Bytes between two cores' register windows in the N-core top (``hw/multicore.py``):
        core ``i`` answers at ``i * core_stride``."""
        return 1 << self.addr_width

    @property
    def top_addr_width(self) -> int:
        """Control-port address bits of the N-core top: a core's, plus the core select (at
        least one bit)."""
        return self.addr_width + max(1, clog2(self.cfg.cores))

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
            "max_proj_dim": MAX_PROJ_DIM,
            "mask_base": self.mask_base, "mask_stride": self.mask_stride,
            "smem_base": self.smem_base, "smem_stride": self.smem_stride,
            "addr_width": self.addr_width, "s_axis_width": self.in_width,
            "m_axis_width": self.out_width,
            "cores": self.cfg.cores, "core_stride": self.core_stride,
            "top_addr_width": self.top_addr_width,
            # Added with the field table (spec layer): what a driver needs besides the above.
            "ctrl_bits": dict(CTRL_BITS), "cau_beat": CAU_BEAT, "max_topk": self.max_topk,
            "mask_channels": self.channels, "mask_words": self.mask_words,
            "block_bits": self.block_bits, "smem_words": self.smem_words,
            "capacities": self.capacities(), "responses": dict(RESPONSES),
            "merged_registers": list(MERGED_REGISTERS), "word_registers": list(WORD_REGISTERS),
            "arg_fields": [{"name": f.name, "reg": f.reg, "lo": f.lo, "width": f.width,
                            "signed": f.signed, "ops": list(f.ops)} for f in ARG_FIELDS],
        }

    def capacities(self) -> dict[str, int]:
        """Every capacity a host needs besides the register map: the mask memory's channels
        (smaller than its address window when ``mask_stride`` pads), the SMEM's vectors, both
        windows' byte sizes, the words per bank and buffer and buffer counts of IMEM / WMEM /
        OMEM, the largest ``kc`` and ``n_rows``, the queue depth, the key / head-dimension /
        ``topk`` limits of ``PREDICT`` and the reduction limit of ``PREDICT_PROJ``."""
        c = self.cfg
        return {
            "mask_channels": self.channels,
            "mask_window_bytes": self.channels * self.mask_stride * 4,
            "smem_blocks": c.schedule_depth,
            "smem_window_bytes": c.schedule_depth * self.smem_stride * 4,
            "imem_words": c.words("imem"), "wmem_words": c.words("wmem"),
            "omem_words": c.words("omem"),
            "imem_buffers": c.imem_buffers, "wmem_buffers": c.wmem_buffers,
            "omem_buffers": c.omem_buffers,
            "max_kc": c.words("imem"), "max_rows": c.rows, "queue_depth": QUEUE_DEPTH,
            "max_keys": min(MAX_KEYS, self.channels), "max_head_dim": MAX_HEAD_DIM,
            "max_topk": self.max_topk, "max_proj_dim": MAX_PROJ_DIM,
        }

    @property
    def max_topk(self) -> int:
        """Largest ``topk`` a ``PREDICT`` may ask for (the selector's list length)."""
        return max_keep(self.cfg.ep_k, MAX_KEYS)

    def c_header(self) -> str:
        """``#define`` s of the host interface: registers, opcodes, flags, causes, CTRL and
        STATUS bits, every argument field (register, shift, mask), limits, windows, widths."""
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
        lines += ["/* N-core top (hw/multicore.py, EXION_CORES cores): core i at EXION_CORE_BASE(i). */",
                  f"#define EXION_CORE_STRIDE 0x{self.core_stride:X}u",
                  f"#define EXION_TOP_ADDR_WIDTH {self.top_addr_width}u",
                  "#define EXION_CORE_BASE(i) ((unsigned long)(i) * EXION_CORE_STRIDE)"]
        return "\n".join(lines) + "\n" + self._c_driver()

    def _c_driver(self) -> str:
        # Generated from exion/fields.py and exion/limits.py: a driver needs nothing else.
        d = [
            "",
            "/* Command word: opcode bits 7:0, flags bits 15:8 (the EXION_FLAG_* values). */",
            "#define EXION_CMD_OPCODE_SHIFT 0u",
            "#define EXION_CMD_OPCODE_MASK 0xFFu",
            "#define EXION_CMD_FLAGS_SHIFT 8u",
            "#define EXION_CMD_FLAGS_MASK 0xFFu",
            "/* CTRL bits (write-only) and the STATUS queue count. */",
        ]
        d += [f"#define EXION_CTRL_{n.upper()} (1u << {b})" for n, b in CTRL_BITS.items()]
        d += [f"#define EXION_STATUS_QUEUE_SHIFT {STATUS_QUEUE_SHIFT}u",
              f"#define EXION_STATUS_QUEUE_MASK 0x{(1 << STATUS_QUEUE_BITS) - 1:X}u",
              "/* Argument fields (exion/fields.py): ARG<REG> bits SHIFT.. of width MASK. */"]
        for f in ARG_FIELDS:
            n = f.name.upper()
            d += [f"#define EXION_ARG_{n}_REG {f.reg}u",
                  f"#define EXION_REG_ARG_{n} EXION_REG_ARG{f.reg}",
                  f"#define EXION_ARG_{n}_SHIFT {f.lo}u",
                  f"#define EXION_ARG_{n}_MASK 0x{f.mask:X}u"]
        d += ["/* A field's value placed in its register: EXION_ARG(KC, 24). */",
              "#define EXION_ARG(field, value) \\",
              "    ((((unsigned long)(value)) & EXION_ARG_##field##_MASK) "
              "<< EXION_ARG_##field##_SHIFT)",
              "/* Limits (exion/limits.py) and capacities of this configuration. */",
              f"#define EXION_QUEUE_DEPTH {QUEUE_DEPTH}u",
              f"#define EXION_MAX_KEYS {MAX_KEYS}u",
              f"#define EXION_MAX_HEAD_DIM {MAX_HEAD_DIM}u",
              f"#define EXION_MAX_PROJ_DIM {MAX_PROJ_DIM}u",
              f"#define EXION_MAX_TOPK {self.max_topk}u",
              f"#define EXION_CAU_BEAT {CAU_BEAT}u",
              f"#define EXION_GROUP_BITS {GROUP_BITS}u",
              f"#define EXION_CHANNEL_BITS {CHANNEL_BITS}u",
              f"#define EXION_MASK_CHANNELS {self.channels}u",
              f"#define EXION_MASK_WORDS {self.mask_words}u",
              f"#define EXION_BLOCK_BITS {self.block_bits}u",
              f"#define EXION_SMEM_WORDS {self.smem_words}u",
              f"#define EXION_S_AXIS_WIDTH {self.in_width}u",
              f"#define EXION_M_AXIS_WIDTH {self.out_width}u",
              "/* Capacities (RegisterMap.capacities): what fits this configuration. */"]
        d += [f"#define EXION_CAP_{n.upper()} {v}u" for n, v in self.capacities().items()]
        d += ["/* AXI4-Lite responses of the control port (docs/core.md, Registers). */"]
        d += [f"#define EXION_RESP_{n} {v}u" for n, v in RESPONSES.items()]
        return "\n".join(d) + "\n"


def core_header(cfg: ExionConfig) -> str:
    """The whole C header of a generated core: the configuration's ``#define`` s
    (:meth:`ExionConfig.to_c_header`) followed by :meth:`RegisterMap.c_header`, one guard."""
    head, guard_end = cfg.to_c_header().rsplit("#endif", 1)
    return head + RegisterMap(cfg).c_header() + "\n#endif" + guard_end


def encode(op: str, *, flags=(), buf=0, q_th=0, **values) -> tuple[dict[str, int], int]:
    """Argument registers and command word of one command (fields of :data:`ARG_FIELDS`).

    Parameters
    ----------
    op : str
        Opcode name (:class:`Opcode`).
    flags : iterable of str
        Flag names (:class:`Flag`).
    buf : int
        The buffer of a load or read (``ibuf`` / ``wbuf`` / ``obuf`` by opcode).
    q_th : int
        ``PREDICT``'s 64-bit gap threshold (``q_th_lo`` and ``q_th_hi``).
    **values : int
        Any other field by name; fields the opcode does not use are ignored (0).

    Field encodings only check that a value fits its bit field; whether it fits the
    configuration is the core's check (that is what the error tests exercise).
    """
    if op not in OPCODES:
        raise ValueError(f"op = {op!r} is not one of {', '.join(OPCODES)}")
    unknown = set(values) - {f.name for f in ARG_FIELDS}
    if unknown:
        raise TypeError(f"encode() got unknown fields: {', '.join(sorted(unknown))}")
    word = OPCODES[op]
    for f in flags:
        word |= FLAGS[f]
    buf_field = {"LOAD_IMEM": "ibuf", "LOAD_WMEM": "wbuf", "READ_OMEM": "obuf"}.get(op)
    if buf_field is not None:
        values[buf_field] = buf
    if op == "PREDICT":
        q = check_int("q_th", q_th, 0, (1 << 64) - 1)
        values["q_th_lo"], values["q_th_hi"] = q & 0xFFFFFFFF, q >> 32
    args = [0] * 6
    for f in fields_of(op):
        v = check_int(f.name, values.get(f.name, 0), *f.range)
        args[f.reg] |= (v & f.mask) << f.lo
    return {f"ARG{i}": a for i, a in enumerate(args)}, word
