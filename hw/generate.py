"""Elaborate a configuration to Verilog, with its manifest and C header.

Output is deterministic (same configuration, same bytes) and free of machine paths. Files are
written to a temporary name and renamed, so an interrupted or failed run leaves no partial file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exion.config import ExionConfig
from exion.util import atomic_write

from .library import ModuleLibrary

__all__ = ["verilog_text", "write_design", "Design", "TOPS", "DEFAULT_TOP", "VERILATOR_WAIVERS",
           "lint"]

#: Verilator warnings waived for the generated Verilog. Each comes from the way Amaranth's
#: Yosys backend writes Verilog, not from the design (docs/verilog-lint.md); with exactly
#: these waived, ``verilator --lint-only -Wall`` is clean (tests/test_generate.py).
VERILATOR_WAIVERS = {
    "WIDTHEXPAND": "Yosys-written operators mix widths; Amaranth's semantics define them",
    "WIDTHTRUNC": "as WIDTHEXPAND, for truncating assignments Amaranth makes on purpose",
    "UNUSEDSIGNAL": "Amaranth keeps every named signal, including bits nobody reads",
    "PROCASSINIT": "registers are initialised in their declaration (Amaranth's reset value)",
    "CASEINCOMPLETE": "Yosys case statements cover only the cases Amaranth emitted",
    "ASCRANGE": "Yosys declares memories with ascending ranges",
    "DECLFILENAME": "one file holds every module of a design",
}


def tops() -> dict:
    """The emittable units by name (:data:`TOPS`): each maps a config to a component."""
    from amaranth.lib import data

    from .dpu import Dpu, lane_vector
    from .mem import ReadBanks, WriteBanks
    from .sdue import Sdue
    from .sdue_top import SdueTop
    from .lod import Lod
    from .predictor import EagerUnits, Predictor
    from .selector import Selector
    from .cau import Cau
    from .core import ExionCore
    return {
        "core": ExionCore,
        "sdue_top": SdueTop,
        "sdue": Sdue,
        "dpu": Dpu,
        "imem": lambda cfg: ReadBanks(banks=cfg.rows, depth=cfg.words("imem"),
                                      buffers=cfg.imem_buffers, word=lane_vector(cfg)),
        "wmem": lambda cfg: ReadBanks(banks=cfg.cols, depth=cfg.words("wmem"),
                                      buffers=cfg.wmem_buffers,
                                      word=data.ArrayLayout(lane_vector(cfg), cfg.merge_degree),
                                      write_lanes=cfg.merge_degree),
        "omem": lambda cfg: WriteBanks(banks=cfg.rows, depth=cfg.words("omem"),
                                       buffers=cfg.omem_buffers, width=cfg.data_width),
        "lod": Lod,
        "predictor": Predictor,
        "selector": Selector,
        "cau": Cau,
        "eager_units": EagerUnits,
    }


#: Units that can be emitted as a top, by name.
TOPS = ("core", "sdue_top", "sdue", "dpu", "imem", "wmem", "omem", "lod", "predictor", "selector", "cau",
        "eager_units")


#: The unit ``make verilog`` emits: the whole accelerator.
DEFAULT_TOP = "core"


def verilog_text(cfg: ExionConfig, top: str = DEFAULT_TOP, name: str | None = None) -> str:
    """Verilog for unit ``top`` of ``cfg``: the top module plus each shared module once."""
    table = tops()
    if top not in table:
        raise ValueError(f"top = {top!r} is not one of {', '.join(TOPS)}")
    lib = ModuleLibrary()
    return lib.emit(table[top](cfg), name or f"exion_{top}")


@dataclass(frozen=True)
class Design:
    verilog: Path
    manifest: Path
    header: Path
    lines: int
    modules: int


def write_design(cfg: ExionConfig, out_dir, top: str = DEFAULT_TOP) -> Design:
    """Write ``<base>.v``, ``<base>.json`` and ``<base>.h`` into ``out_dir``.

    Everything is generated in memory first, so a failure writes nothing.
    """
    out_dir = Path(out_dir)
    base = f"exion_{top}_{cfg.rows}x{cfg.cols}"
    text = verilog_text(cfg, top, name=f"exion_{top}")
    manifest = cfg.manifest()
    manifest["top"] = f"exion_{top}"
    htext = cfg.to_c_header()
    if top == "core":
        from exion.regmap import RegisterMap, core_header
        manifest["regmap"] = RegisterMap(cfg).manifest()
        htext = core_header(cfg)
    import json
    mtext = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / f"{base}.v", out_dir / f"{base}.json", out_dir / f"{base}.h")
    for p, t in zip(paths, (text, mtext, htext)):
        atomic_write(p, t)
    modules = sum(1 for line in text.splitlines() if line.startswith("module "))
    return Design(*paths, lines=text.count("\n"), modules=modules)


def lint(verilog_file, top: str) -> tuple[int, str]:
    """``verilator --lint-only -Wall`` with :data:`VERILATOR_WAIVERS`; returns (status, log)."""
    import subprocess
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top,
           *[f"-Wno-{w}" for w in VERILATOR_WAIVERS], str(verilog_file)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr
