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

__all__ = ["verilog_text", "elaborate_design", "write_design", "write_manifest", "design_base", "design_manifest",
           "verilog_header", "Design", "TOPS", "DEFAULT_TOP", "VERILATOR_WAIVERS",
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
    from .cfse import CfseGelu, CfseLayerNorm, CfseResidual, CfseSoftmax
    from .dma import Dma
    from .cfse_units import CfseUnits
    from .cfse_rows import CfseRowUnits
    from .axi_arbiter import DmaArbiterTop
    from .multicore import ExionMulticore
    from exion.limits import MAX_KEYS
    from exion.cfse_format import MAX_LN_DIM
    return {
        "core": ExionCore,
        "sdue_top": SdueTop,
        "sdue": Sdue,
        "dpu": Dpu,
        "imem": lambda cfg: ReadBanks(banks=cfg.rows, depth=cfg.words("imem"),
                                      buffers=cfg.imem_buffers, word=lane_vector(cfg),
                                      unit="imem"),
        "wmem": lambda cfg: ReadBanks(banks=cfg.cols, depth=cfg.words("wmem"),
                                      buffers=cfg.wmem_buffers,
                                      word=data.ArrayLayout(lane_vector(cfg), cfg.merge_degree),
                                      write_lanes=cfg.merge_degree, unit="wmem"),
        "omem": lambda cfg: WriteBanks(banks=cfg.rows, depth=cfg.words("omem"),
                                       buffers=cfg.omem_buffers, width=cfg.data_width,
                                       unit="omem"),
        "lod": Lod,
        "predictor": Predictor,
        "selector": Selector,
        "cau": Cau,
        "eager_units": EagerUnits,
        "cfse_gelu": lambda cfg: CfseGelu(lanes=cfg.lanes),
        "cfse_softmax": lambda cfg: CfseSoftmax(max_keys=MAX_KEYS),
        "cfse_layernorm": lambda cfg: CfseLayerNorm(max_dim=MAX_LN_DIM),
        "cfse_residual": lambda cfg: CfseResidual(lanes=cfg.lanes),
        "dma": Dma.from_config,
        "cfse": CfseUnits,
        "cfse_rows": CfseRowUnits,
        "multicore": ExionMulticore,
        **{f"axi_arbiter{n}": (lambda cfg, n=n: DmaArbiterTop(masters=n, bus_width=cfg.bus_width))
           for n in ARBITER_TOP_MASTERS},
    }


#: Units that can be emitted as a top, by name.
TOPS = ("core", "sdue_top", "sdue", "dpu", "imem", "wmem", "omem", "lod", "predictor", "selector", "cau",
        "eager_units", "cfse_gelu", "cfse_softmax",
        "cfse_layernorm", "cfse_residual", "dma", "cfse", "cfse_rows", "axi_arbiter1", "axi_arbiter2",
        "axi_arbiter3", "axi_arbiter4", "multicore")

#: Masters of the ``axi_arbiter<N>`` tops (N DMA masters on one port through the arbiter):
#: the sizes the benches simulate and synthesize, until a core-count field sizes one top.
ARBITER_TOP_MASTERS = (1, 2, 3, 4)


#: The unit ``make verilog`` emits: the whole accelerator.
DEFAULT_TOP = "core"


def elaborate_design(cfg: ExionConfig, top: str = DEFAULT_TOP,
                     name: str | None = None) -> tuple[str, dict[str, str]]:
    """(Verilog, declared report units) of unit ``top`` of ``cfg``: the Verilog as
    :func:`verilog_text`; the units by hierarchical path as
    :attr:`hw.library.ModuleLibrary.units` (what synthesis reports by)."""
    table = tops()
    if top not in table:
        raise ValueError(f"top = {top!r} is not one of {', '.join(TOPS)}")
    lib = ModuleLibrary()
    text = lib.emit(table[top](cfg), name or f"exion_{top}")
    return text, lib.units


def verilog_text(cfg: ExionConfig, top: str = DEFAULT_TOP, name: str | None = None) -> str:
    """Verilog for unit ``top`` of ``cfg``: the top module plus each shared module once."""
    return elaborate_design(cfg, top, name)[0]


@dataclass(frozen=True)
class Design:
    verilog: Path
    manifest: Path
    header: Path
    lines: int
    modules: int


#: Fields the output name spells out; every other field off its default adds a short hash.
_NAMED_FIELDS = ("rows", "cols", "name")


def design_base(cfg: ExionConfig, top: str = DEFAULT_TOP) -> str:
    """File name stem of a design: ``exion_<top>_<rows>x<cols>``, plus ``_<hash>`` (8 hex
    digits of the SHA-256 of the other fields that differ from the ``exion`` preset at the same
    array size, whose drain ports follow the column count) when there are any. So the exion
    and toy presets keep their readable names, and
    any variant (``--lanes 8``, ``--clock-mhz 500``) gets names of its own; the manifest beside
    the Verilog records every field (docs/config.md, "Output names")."""
    import hashlib
    import json
    from exion.config import preset
    default = preset("exion", rows=cfg.rows, cols=cfg.cols)
    diff = {k: v for k, v in cfg.to_dict().items()
            if k not in _NAMED_FIELDS and v != getattr(default, k)}
    base = f"exion_{top}_{cfg.rows}x{cfg.cols}"
    if diff:
        digest = hashlib.sha256(json.dumps(diff, sort_keys=True).encode()).hexdigest()[:8]
        base += f"_{digest}"
    return base


def design_manifest(cfg: ExionConfig, top: str = DEFAULT_TOP) -> tuple[str, str]:
    """(JSON manifest text, C header text) written beside the Verilog of unit ``top``: the
    configuration, derived values, the top's name and, for the core, the register map."""
    import json
    manifest = cfg.manifest()
    manifest["top"] = f"exion_{top}"
    htext = cfg.to_c_header()
    if top == "core":
        from exion.regmap import RegisterMap, core_header
        manifest["regmap"] = RegisterMap(cfg).manifest()
        htext = core_header(cfg)
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n", htext


def verilog_header(cfg: ExionConfig, top: str = DEFAULT_TOP) -> str:
    """The comment written above the Verilog: the unit and every configuration field."""
    lines = [f"// Generated by exion-gen: exion_{top}, configuration {cfg.name!r}",
             "// (the manifest beside this file holds the same fields and the derived values)"]
    for k, v in cfg.to_dict().items():
        if k != "name":
            lines.append(f"//   {k} = {v!r}" if isinstance(v, str) else f"//   {k} = {v}")
    return "\n".join(lines) + "\n"


def write_manifest(cfg: ExionConfig, out_dir, top: str = DEFAULT_TOP) -> tuple[Path, Path]:
    """Write exactly the ``<base>.json`` and ``<base>.h`` :func:`write_design` writes."""
    out_dir = Path(out_dir)
    base = design_base(cfg, top)
    mtext, htext = design_manifest(cfg, top)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / f"{base}.json", out_dir / f"{base}.h")
    for p, t in zip(paths, (mtext, htext)):
        atomic_write(p, t)
    return paths


def write_design(cfg: ExionConfig, out_dir, top: str = DEFAULT_TOP, progress=None) -> Design:
    """Write ``<base>.v``, ``<base>.json`` and ``<base>.h`` into ``out_dir``
    (``<base>`` from :func:`design_base`).

    Everything is generated in memory first, so a failure writes nothing. ``progress``, if
    given, is called with a short line before each long step.
    """
    out_dir = Path(out_dir)
    base = design_base(cfg, top)
    text = verilog_text(cfg, top, name=f"exion_{top}")
    if progress:
        progress("writing files")
    mtext, htext = design_manifest(cfg, top)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / f"{base}.v", out_dir / f"{base}.json", out_dir / f"{base}.h")
    for p, t in zip(paths, (verilog_header(cfg, top) + text, mtext, htext)):
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
