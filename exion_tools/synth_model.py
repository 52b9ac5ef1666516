"""What synthesis reports count: report units, the transistor model and per-module metrics.

Part of ``exion synth`` (``exion_tools/synth.py`` runs the flows, ``synth_yosys.py`` runs Yosys,
``synth_parse.py`` reads Verilog and Yosys output, ``synth_text.py`` writes the tables). The
numbers and their sources are in ``docs/synthesis.md``.
"""

from __future__ import annotations

import re

__all__ = [
    "SynthError", "UNITS", "NAME_UNITS", "LIBRARY_UNITS", "GATE_TRANSISTORS", "FF_TRANSISTORS",
    "ECP5_85F", "ECP5_CELLS", "ASIC_KEYS", "bare", "stem", "classify", "memory_unit",
    "cell_transistors", "sram_transistors_per_bit", "asic_metrics", "ecp5_metrics",
    "add_counts", "logic_tr",
]


class SynthError(RuntimeError):
    """A synthesis run failed or produced something the report cannot account for."""


def bare(name: str) -> str:
    """A Verilog name without the backslash of an escaped identifier."""
    return name[1:] if name.startswith("\\") else name


# -- units --------------------------------------------------------------------------------

#: Report units, in table order: key -> label.
UNITS = {
    "dpu": "DPU",
    "sdue": "SDUE glue + switches",
    "imem": "IMEM",
    "wmem": "WMEM",
    "omem": "OMEM",
    "smem": "SMEM + sequencer",
    "cau": "CAU + mask memory",
    "predictor": "predictor + selector",
    "ctrl": "controller + host i/f",
    "other": "other",
}

#: Name -> unit, for instance names (trailing digits and ``_`` dropped: ``imem3``,
#: ``dpu_0_1``), memory names and the components of Amaranth hierarchy module names
#: (``\\exion_<top>.<sub>.<sub>``, looked up from the deepest component up, ``exion_``
#: stripped from the first; a top ``exion_<top>`` is looked up as ``<top>``).
NAME_UNITS = {
    "dpu": "dpu",
    "sdue": "sdue",
    "imem": "imem", "wmem": "wmem", "omem": "omem",
    "sdue_top": "smem", "smem": "smem", "seq": "smem", "sequencer": "smem",
    "cau": "cau", "mask": "cau",
    "predictor": "predictor", "pred": "predictor", "lod": "predictor",
    "selector": "predictor", "eager": "predictor", "eager_units": "predictor",
    "core": "ctrl", "ctrl": "ctrl", "controller": "ctrl", "host": "ctrl", "axi": "ctrl",
    "axil": "ctrl", "axi_lite": "ctrl", "queue": "ctrl", "regs": "ctrl", "csr": "ctrl",
}

#: Library modules (``hw/library.py`` names, by prefix) -> unit; ``None``: by instance name,
#: else the unit of the module that instantiates it (a memory bank is IMEM, WMEM or OMEM).
LIBRARY_UNITS = (
    ("exion_dpu_", "dpu"),
    ("exion_predictor_", "predictor"), ("exion_selector_", "predictor"),
    ("exion_lod_", "predictor"),
    ("exion_cau_", "cau"),
    ("exion_bank_", None),
)


def stem(name: str) -> str:
    """``imem3`` -> ``imem``, ``dpu_0_1`` -> ``dpu``, ``\\x`` -> ``x``."""
    return re.sub(r"[0-9_]+$", "", name.lstrip("\\"))


def classify(name: str, parent_unit: str | None = None, instance: str | None = None) -> str:
    """Unit of module ``name``, instantiated as ``instance`` from a module of unit
    ``parent_unit`` (both ``None`` for the top): the library table, then the instance name,
    then the module name's components, then the parent's unit, then ``other``."""
    n = name.lstrip("\\")
    library = False
    for prefix, unit in LIBRARY_UNITS:
        if n.startswith(prefix):
            if unit:
                return unit
            library = True
    if instance and stem(instance) in NAME_UNITS:
        return NAME_UNITS[stem(instance)]
    if not library:
        comps = n.split(".")
        if comps[0].startswith("exion_"):
            comps[0] = comps[0][len("exion_"):]
        for c in reversed(comps):
            if c in NAME_UNITS:
                return NAME_UNITS[c]
    return parent_unit or "other"


def memory_unit(mem_name: str, module_unit: str) -> str:
    """Unit of a memory (``smem``, ``mask``, a bank's ``mem``) inside a module of
    ``module_unit``: its name if the table knows it, else the module's unit."""
    return NAME_UNITS.get(stem(mem_name), module_unit)


# -- transistor model ---------------------------------------------------------------------

#: Transistors per generic Yosys gate, static CMOS (docs/synthesis.md): an inverting gate of
#: n inputs has 2n; AND / OR add an output inverter; XOR / XNOR and MUX2 are the
#: complementary 12-transistor forms (transmission-gate variants are smaller, not assumed).
GATE_TRANSISTORS = {
    "$_NOT_": 2, "$_BUF_": 4,
    "$_NAND_": 4, "$_NOR_": 4,
    "$_AND_": 6, "$_OR_": 6, "$_ANDNOT_": 6, "$_ORNOT_": 6,
    "$_XOR_": 12, "$_XNOR_": 12,
    "$_MUX_": 12, "$_NMUX_": 10,
    "$_AOI3_": 6, "$_OAI3_": 6, "$_AOI4_": 8, "$_OAI4_": 8,
}

#: Transistors per storage cell, by Yosys fine-grained family and whether it has an
#: asynchronous reset/set (``async``): a master-slave D flip-flop with local clock inverters
#: is 24; a clock enable adds a MUX2 in front (+12); a synchronous reset adds an AND2 / OR2
#: on D (+6); an asynchronous reset turns one inverter per latch into a NAND/NOR (+4), set and
#: reset both (+8). Latches are half a flip-flop.
FF_TRANSISTORS = {
    ("DFF", False): 24, ("DFF", True): 28,
    ("DFFE", False): 36, ("DFFE", True): 40,
    ("SDFF", False): 30, ("SDFFE", False): 42, ("SDFFCE", False): 42,
    ("DFFSR", True): 32, ("DFFSRE", True): 44,
    ("ALDFF", True): 32, ("ALDFFE", True): 44,
    ("DLATCH", False): 12, ("DLATCH", True): 16, ("DLATCHSR", True): 20,
    ("SR", True): 8,
}

_FF_RE = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE|DLATCH|"
                    r"DLATCHSR|SR)_([NP01]+)_$")
# Polarity letters of the families without an asynchronous reset (clock [, enable]).
_SYNC_ONLY_LEN = {"DFF": 1, "DFFE": 2, "DLATCH": 1}


def _ff_family(cell_type: str):
    m = _FF_RE.match(cell_type)
    if not m:
        return None
    fam, pol = m.groups()
    has_async = fam in ("DFFSR", "DFFSRE", "ALDFF", "ALDFFE", "DLATCHSR", "SR") or \
        (fam in _SYNC_ONLY_LEN and len(pol) > _SYNC_ONLY_LEN[fam])
    return fam, has_async


def cell_transistors(cell_type: str) -> tuple[str, int]:
    """``("gate" | "ff", transistors)`` of one generic Yosys cell; an unknown type raises
    :class:`SynthError` (better than silently counting it as zero)."""
    if cell_type in GATE_TRANSISTORS:
        return "gate", GATE_TRANSISTORS[cell_type]
    fam = _ff_family(cell_type)
    if fam is not None and fam in FF_TRANSISTORS:
        return "ff", FF_TRANSISTORS[fam]
    raise SynthError(f"no transistor count for Yosys cell type {cell_type}; add it to "
                     "exion_tools.synth_model.GATE_TRANSISTORS / FF_TRANSISTORS")


def sram_transistors_per_bit(read_ports: int, write_ports: int) -> int:
    """Bit-cell transistors of a memory: a single-port 6T cell; every further port adds a
    2-transistor port (so the 1-read 1-write banks here are 8T two-port cells). Bit cells
    only: decoders, sense amplifiers and write drivers are not counted."""
    return 6 + 2 * max(0, read_ports + write_ports - 1)


#: Lattice ECP5 LFE5U-85F resources (data sheet FPGA-DS-02012): LUT4s and flip-flops,
#: 18 kbit EBR blocks, 18 x 18 multipliers.
ECP5_85F = {"LUT4": 83640, "TRELLIS_FF": 83640, "DP16KD": 208, "MULT18X18D": 156}

#: ECP5 cells reported as columns; anything else is summed in ``other``.
ECP5_CELLS = ("LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_FF", "TRELLIS_DPR16X4", "DP16KD",
              "MULT18X18D", "ALU54B")




# -- metrics ------------------------------------------------------------------------------

ASIC_KEYS = ("cells", "ffs", "logic_tr", "ff_tr", "mem_bits", "sram_tr", "total_tr")


def asic_metrics(cells_by_type: dict[str, int], memories: list[dict],
                 skip=frozenset()) -> dict:
    """Gate count, flip-flops, transistors and memory of one synthesized module.

    ``cells``: logic gates (flip-flops and memories excluded); ``ffs``: flip-flop bits;
    ``*_tr``: transistors (:func:`cell_transistors`, SRAM per :func:`sram_transistors_per_bit`);
    ``skip``: cell types that are sub-module instances (counted on their own).
    """
    out = dict.fromkeys(ASIC_KEYS, 0)
    for t, n in cells_by_type.items():
        if bare(t) in skip or t == "$mem_v2":
            continue
        kind, tr = cell_transistors(t)
        if kind == "gate":
            out["cells"] += n
            out["logic_tr"] += n * tr
        else:
            out["ffs"] += n
            out["ff_tr"] += n * tr
    n_mem = cells_by_type.get("$mem_v2", 0)
    if n_mem != len(memories):
        raise SynthError(f"{n_mem} $mem_v2 cells but {len(memories)} memory descriptions")
    for m in memories:
        out["mem_bits"] += m["bits"]
        out["sram_tr"] += m["sram_tr"]
    out["total_tr"] = out["logic_tr"] + out["ff_tr"] + out["sram_tr"]
    return out


def ecp5_metrics(cells_by_type: dict[str, int], skip=frozenset()) -> dict:
    """ECP5 cell counts; ``lut_sites`` = LUT4 + 2 per CCU2C + 6 per TRELLIS_DPR16X4 (a 16 x 4
    distributed RAM takes three slices), the figure compared with the device's LUT4s."""
    out = dict.fromkeys(ECP5_CELLS, 0)
    out["other"] = 0
    for t, n in cells_by_type.items():
        if bare(t) in skip:
            continue
        if t in out:
            out[t] += n
        else:
            out["other"] += n
    out["lut_sites"] = out["LUT4"] + 2 * out["CCU2C"] + 6 * out["TRELLIS_DPR16X4"]
    return out


def add_counts(a: dict, b: dict, k: int = 1) -> dict:
    out = dict(a)
    for key, v in b.items():
        out[key] = out.get(key, 0) + k * v
    return out


def logic_tr(m: dict) -> int:
    """Logic and flip-flop transistors of a metrics dict (SRAM left out)."""
    return m["logic_tr"] + m["ff_tr"]
