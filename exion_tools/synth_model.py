"""What synthesis reports count: report units, the transistor model and per-module metrics.

Part of ``exion synth`` (``exion_tools/synth.py`` runs the flows, ``synth_yosys.py`` runs Yosys,
``synth_parse.py`` reads Verilog and Yosys output, ``synth_text.py`` writes the tables). The
numbers and their sources are in ``docs/synthesis.md``.
"""

from __future__ import annotations

import re

__all__ = [
    "SynthError", "UNITS", "GATE_TRANSISTORS", "FF_TRANSISTORS",
    "ECP5_85F", "ECP5_CELLS", "ASIC_KEYS", "bare", "instance_unit", "memory_unit",
    "cell_transistors", "sram_transistors_per_bit", "asic_metrics", "ecp5_metrics",
    "add_counts", "logic_tr",
]


class SynthError(RuntimeError):
    """A synthesis run failed or produced something the report cannot account for."""


def bare(name: str) -> str:
    """A Verilog name without the backslash of an escaped identifier."""
    return name[1:] if name.startswith("\\") else name


# -- units --------------------------------------------------------------------------------

#: Report units, in table order: key -> label. Each hw component declares its unit
#: (``report_unit``, hw/library.py); ``other`` is what a design declares no unit for.
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
    "cfse": "CFSE",
    "dma": "DMA (AXI4 master)",
    "arbiter": "AXI4 arbiter",
    "other": "other",
}



def instance_unit(units: dict[str, str], module: str, parent: str | None = None,
                  instance: str | None = None, parent_unit: str | None = None) -> str:
    """Unit of module ``module`` instantiated as ``instance`` inside module ``parent`` (both
    ``None`` for the top), from ``units``, the units the design declares by hierarchical path
    (``hw.library.ModuleLibrary.units``): the instance's (``<parent>.<instance>``), else the
    module's (``module``), else the parent's unit, else ``other``."""
    if parent is not None and instance is not None:
        unit = units.get(f"{bare(parent)}.{bare(instance)}")
        if unit:
            return unit
    return units.get(bare(module)) or parent_unit or "other"


def memory_unit(units: dict[str, str], module: str, mem_name: str, module_unit: str) -> str:
    """Unit of memory ``mem_name`` of module ``module`` (of unit ``module_unit``): the unit
    the design declares for ``<module>.<memory>`` (the core's ``smem`` is SMEM, its ``mask``
    the CAU's), else the module's unit."""
    return units.get(f"{bare(module)}.{mem_name}", module_unit)


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
