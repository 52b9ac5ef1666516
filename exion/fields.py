"""The command-argument field layout: one table for the RTL, the host driver, the C header
and the docs.

Part of the spec layer: imports nothing of the project. ``hw/core.py`` slices its argument
registers with :data:`ARG_FIELDS`, :func:`exion.regmap.encode` packs them, the C header's
shift/mask macros and the argument table of ``docs/core.md`` are generated from it (a test
checks the docs against :func:`markdown_table`).

Fields of different commands may share bits (``kc`` and ``base`` are both ARG0 15:0): a
command uses only the fields that name it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArgField", "ARG_FIELDS", "ARG_REGISTERS", "fields_of", "markdown_table"]

#: Argument registers ``ARG0..ARG5``, each 32 bits.
ARG_REGISTERS = 6

_LOADS = ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM")
#: The SMEM transfers through the master port (docs/core.md, "Schedule reuse").
_SMEM = ("LOAD_SMEM", "STORE_SMEM")
_EXEC = ("GEMM", "PREDICT")
#: The special-function (CFSE) commands: OMEM in, IMEM out (docs/cfse.md, "Core commands").
_CFSE = ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX")
#: The eager predictor's projection (docs/core.md, "PREDICT_PROJ").
_PROJ = ("PREDICT_PROJ",)


@dataclass(frozen=True)
class ArgField:
    """One bit field of an argument register.

    Members
    -------
    name : str
        Field name (also the keyword of :func:`exion.regmap.encode`, except the 64-bit
        ``q_th``, which encode splits into ``q_th_lo`` / ``q_th_hi``).
    reg : int
        Argument register index (``ARGreg``).
    lo, width : int
        Bits ``lo .. lo + width - 1`` of that register.
    signed : bool
        Two's complement (the host may pass negative values).
    ops : tuple of str
        Opcodes (names of :class:`exion.regmap.Opcode`) that use the field.
    doc : str
        What it means (one line, Markdown).
    """

    name: str
    reg: int
    lo: int
    width: int
    ops: tuple[str, ...]
    doc: str
    signed: bool = False

    @property
    def hi(self) -> int:
        return self.lo + self.width - 1

    @property
    def mask(self) -> int:
        """The field's mask before shifting (``(1 << width) - 1``)."""
        return (1 << self.width) - 1

    @property
    def range(self) -> tuple[int, int]:
        """Values :func:`exion.regmap.encode` accepts."""
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, self.mask


ARG_FIELDS: tuple[ArgField, ...] = (
    ArgField("base", 0, 0, 16, _LOADS + _CFSE, "first word of each bank (CFSE: of IMEM written)"),
    ArgField("count", 0, 16, 16, _LOADS + ("LOAD_SMEM",),
             "words per bank (`LOAD_SMEM`: blocks loaded)"),
    ArgField("kc", 0, 0, 16, _EXEC + _PROJ, "lane chunks of the reduction: `ceil(K / lanes)`"),
    ArgField("shift", 0, 16, 16, ("GEMM",) + _PROJ, "requantization shift"),
    ArgField("topk", 0, 16, 16, ("PREDICT",), "keys kept by a non-dominant query"),
    ArgField("ch_base", 1, 0, 16, _EXEC + _CFSE, "first output channel (= OMEM address)"),
    ArgField("n_ch", 1, 16, 16, ("GEMM", "SCHEDULE", "LOAD_WMEM") + _CFSE + _PROJ,
             "output channels (`SCHEDULE`: mask channels; CFSE: channels or keys of a row; "
             "`PREDICT_PROJ`: the head dimension; sparse `GEMM` with `RESIDENT`, `LOAD_WMEM` "
             "with `MEM | GATHER | RESIDENT`: channels of the resident window)"),
    ArgField("n_keys", 1, 16, 16, ("PREDICT",), "keys (mask channels written)"),
    ArgField("ibuf", 2, 0, 4, ("LOAD_IMEM",) + _EXEC + _CFSE + _PROJ,
             "IMEM buffer (absolute index)"),
    ArgField("wbuf", 2, 4, 4, ("LOAD_WMEM",) + _EXEC + _PROJ, "WMEM buffer"),
    ArgField("obuf", 2, 8, 4, ("READ_OMEM",) + _EXEC + _CFSE, "OMEM buffer"),
    ArgField("streams", 2, 12, 4, ("LOAD_WMEM",), "WMEM streams written, 0 = all `merge_degree`"),
    ArgField("n_rows", 2, 16, 8, _EXEC + _CFSE + _PROJ, "tokens of the row group"),
    ArgField("wbase", 3, 0, 16, _EXEC + _PROJ, "first WMEM word"),
    ArgField("ibase", 3, 16, 16, ("GEMM",),
             "first IMEM word of the token tile (lane chunk 0; it reads words `ibase .. "
             "ibase + kc` of `ibuf`): row groups side by side in one buffer; 0 = word 0"),
    ArgField("half", 2, 28, 2, ("LOAD_WMEM", "GEMM", "SCHEDULE") + _SMEM,
             "SMEM part written (`SCHEDULE`, `LOAD_SMEM`) or read (sparse `GEMM`, `LOAD_WMEM` "
             "with `GATHER`, `STORE_SMEM`): 0 = the whole SMEM, "
             "1 = the lower half, 2 = the upper half (`exion.regmap.smem_half`); 3 is refused"),
    ArgField("mhalf", 2, 30, 2, ("GEMM", "SCHEDULE", "PREDICT", "GELU", "SOFTMAX"),
             "mask-memory part read (`SCHEDULE`, `SOFTMAX` with `key_mask`) or written "
             "(`PREDICT`, `GEMM` with `FFN_MASK`, `GELU` with `ffn_mask`): "
             "0 = the whole mask memory, 1 = the lower half, 2 = the upper half "
             "(`exion.regmap.mask_half`; channel `c` of the part is mask channel `first + c`); "
             "3 is refused"),
    ArgField("addr", 4, 0, 32, _LOADS + _SMEM,
             "`MEM`: byte address of the first row in memory (a multiple of `bus_width / 8`; "
             "`GATHER`: of channel 0's weight row; `LOAD_SMEM` / `STORE_SMEM`: of the first "
             "block)"),
    ArgField("stride", 5, 0, 32, _LOADS,
             "`MEM`: bytes from one row's start to the next (a multiple of `bus_width / 8`)"),
    ArgField("th_hi", 4, 0, 32, ("GEMM",), "`FFN_MASK`: keep iff `q > th_hi` or `q < th_lo`",
             signed=True),
    ArgField("th_lo", 5, 0, 32, ("GEMM",), "`FFN_MASK`: lower threshold", signed=True),
    ArgField("q_th_lo", 4, 0, 32, ("PREDICT",),
             "integer gap threshold `q_th` (`golden.eager.logit_threshold_to_int`), bits 31:0"),
    ArgField("q_th_hi", 5, 0, 32, ("PREDICT",), "`q_th` bits 63:32"),
    ArgField("in_shift", 0, 16, 4, _CFSE,
             "code to Q5.10: `sat16(q << in_shift)` (`golden.cfse.code_to_act`)"),
    ArgField("out_shift", 0, 20, 4, _CFSE,
             "Q5.10 (softmax: Q1.15) to IMEM code: round by `out_shift`, saturate "
             "(`golden.cfse.act_to_code`)"),
    ArgField("xbuf", 2, 4, 4, ("RESIDUAL",), "IMEM buffer of the residual stream `x`"),
    ArgField("mbuf", 2, 4, 4, ("LAYERNORM",), "OMEM buffer of the adaLN scale and shift (bank 0)"),
    ArgField("ffn_mask", 2, 24, 1, ("GELU",), "also write the FFN-Reuse keep-mask"),
    ArgField("key_mask", 2, 24, 1, ("SOFTMAX",), "mask keys with the mask memory"),
    ArgField("ffn_th", 3, 0, 16, ("GELU",), "`ffn_mask`: keep iff `|GELU(x)| > ffn_th` (Q5.10)"),
    ArgField("gate", 3, 0, 16, ("RESIDUAL",), "adaLN-Zero gate (Q5.10; 1024 = plain add)",
             signed=True),
    ArgField("sc_base", 3, 0, 16, ("LAYERNORM",), "OMEM address of `scale[0]` in `mbuf` bank 0"),
    ArgField("sh_base", 3, 16, 16, ("LAYERNORM",), "OMEM address of `shift[0]` in `mbuf` bank 0"),
    ArgField("key_base", 1, 0, 16, _PROJ,
             "`KEYS`: key index of row 0 (token `r`'s K' row is key `key_base + r`)"),
    ArgField("dbuf", 2, 8, 4, _PROJ,
             "destination buffer: IMEM (Q'), WMEM with `KEYS` (K'); not a buffer it reads"),
    ArgField("dbase", 3, 16, 16, _PROJ,
             "first word written: IMEM word of lane chunk 0 (Q'; `PREDICT` reads its queries "
             "from word 0), the `wbase` of the `PREDICT` that reads the keys (K')"),
)


def fields_of(op: str) -> tuple[ArgField, ...]:
    """The fields command ``op`` uses, in table order."""
    return tuple(f for f in ARG_FIELDS if op in f.ops)


def markdown_table() -> str:
    """The argument table of ``docs/core.md`` (one row per field)."""
    rows = ["| field | register bits | used by | meaning |", "| --- | --- | --- | --- |"]
    for f in ARG_FIELDS:
        bits = f"ARG{f.reg} {f.hi}:{f.lo}" + (" (signed)" if f.signed else "")
        ops = ", ".join(f"`{o}`" for o in f.ops)
        rows.append(f"| `{f.name}` | {bits} | {ops} | {f.doc} |")
    return "\n".join(rows) + "\n"
