"""Synthesis reports with Debian's native Yosys: generic CMOS gates and Lattice ECP5.

The generated design holds one Verilog module per unique unit (``hw/library.py``). Each unique
module is synthesized **once**, on its own, with the modules it instantiates read as black
boxes (``read_verilog -lib``), and its figures are multiplied by its instance count. The per-
module Yosys processes run in parallel. Two flows (``docs/synthesis.md``):

``asic``
    ``synth -run :fine`` (coarse synthesis, ``memory -nomap``), then the ``fine`` steps of
    ``synth`` *without* ``memory_map``: memories stay ``$mem_v2`` cells (SRAM macros, counted
    in bits) instead of being exploded into flip-flops; logic is mapped by ``abc -fast`` to
    Yosys' generic gates. Transistors: :data:`GATE_TRANSISTORS`, :data:`FF_TRANSISTORS` and
    :func:`sram_transistors_per_bit`.
``ecp5``
    ``synth_ecp5``: LUT4, CCU2C carry, TRELLIS_FF, DP16KD block RAM, MULT18X18D.

Modules are put into report units by name (:data:`NAME_UNITS`, :func:`classify`).

Yosys' exit status is not trusted: a run counts only if its log reached ``End of script`` and
its ``stat -json`` parses.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from exion.config import ConfigError, ExionConfig

__all__ = [
    "SynthError", "UNITS", "NAME_UNITS", "GATE_TRANSISTORS", "FF_TRANSISTORS", "ECP5_85F",
    "classify", "memory_unit", "split_modules", "module_children", "cell_transistors",
    "sram_transistors_per_bit", "asic_metrics", "ecp5_metrics", "yosys_version",
    "synthesize_design", "synth_report", "format_report", "render_report", "write_report",
    "flat_check", "format_flat_check", "report_base",
]

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


def _stem(name: str) -> str:
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
    if instance and _stem(instance) in NAME_UNITS:
        return NAME_UNITS[_stem(instance)]
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
    return NAME_UNITS.get(_stem(mem_name), module_unit)


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
                     "exion_tools.synth.GATE_TRANSISTORS / FF_TRANSISTORS")


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


class SynthError(RuntimeError):
    """A synthesis run failed or produced something the report cannot account for."""


# -- Verilog splitting --------------------------------------------------------------------

_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
_INST_RE = re.compile(r"^\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)"
                      r"\s*\(\s*$")


def split_modules(text: str) -> dict[str, str]:
    """Module name (as spelled in Verilog, escaped names with their backslash) -> its text,
    attributes in front of ``module`` included, in file order."""
    out: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    start = name = attrs_from = None
    for i, line in enumerate(lines):
        if start is None:
            if line.startswith("(*"):
                if attrs_from is None:
                    attrs_from = i
            elif line.startswith("module "):
                m = _MODULE_RE.match(line)
                if not m:
                    raise SynthError(f"cannot parse module header: {line[:80]!r}")
                name = m.group(1)
                start = attrs_from if attrs_from is not None else i
            elif line.strip():
                attrs_from = None
        elif line.startswith("endmodule"):
            if name in out:
                raise SynthError(f"module {name} is defined twice")
            out[name] = "".join(lines[start:i + 1])
            start = name = attrs_from = None
    if not out:
        raise SynthError("no module found in the Verilog")
    return out


def module_children(mod_text: str, known) -> Counter:
    """Instances of the modules in ``known`` inside one module's text:
    ``(module, instance stem) -> count`` (stem: the instance name without its trailing index,
    which :func:`classify` reads)."""
    kids: Counter = Counter()
    for line in mod_text.splitlines():
        m = _INST_RE.match(line)
        if m and m.group(1) in known:
            kids[(m.group(1), _stem(m.group(2)))] += 1
    return kids


def _bare(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


# -- Yosys --------------------------------------------------------------------------------

def _yosys_bin() -> str:
    exe = os.environ.get("EXION_YOSYS", "yosys")
    path = shutil.which(exe)
    if path is None:
        raise ConfigError(f"yosys not found ({exe!r} is not on PATH); `make tools` installs "
                          "Debian's yosys")
    return path


def yosys_version() -> str:
    r = subprocess.run([_yosys_bin(), "-V"], capture_output=True, text=True)
    return r.stdout.strip()


#: The ASIC flow: ``synth`` up to its ``fine`` label (coarse synthesis ending in
#: ``memory -nomap``), then ``synth``'s own ``fine`` steps except ``memory_map``. Unused
#: named wires are purged once after ``proc``: Amaranth keeps every named signal, and the
#: ``opt_clean`` runs of a module with 256 DPU port bundles spend half their time on them
#: (same logic, half the CPU time).
_ASIC_SCRIPT = """\
{reads}
synth -top {top} -run :coarse
proc
opt_clean -purge
synth -top {top} {flatten}-run coarse:fine
opt -fast -full
opt -full
techmap
opt -fast
tee -q -o prestat.json stat -json
abc -fast
opt -fast
{memdump}
tee -q -o stat.json stat -json
"""

#: The ECP5 flow: ``synth_ecp5`` with the same purge after ``proc`` and without its final
#: ``autoname`` (cosmetic, 10 s on the SDUE). Block and distributed RAM cells keep the
#: memory's name (``<memory>.<i>.<j>``) and are listed so that they can be put into units.
_ECP5_SCRIPT = """\
{reads}
synth_ecp5 -top {top} -run :coarse
proc
opt_clean -purge
synth_ecp5 -top {top} -run coarse:check
hierarchy -check
tee -q -o stat.json stat -json
tee -q -o mem.txt select -list t:DP16KD t:PDPW16KD t:TRELLIS_DPR16X4
"""


def _script(flow: str, top: str, has_lib: bool, flatten: bool = False,
            dump_modules=()) -> str:
    reads = ("read_verilog -lib lib.v\n" if has_lib else "") + "read_verilog design.v"
    if flow == "asic":
        # Memory parameters (width, depth, ports) come from an RTLIL dump of the $mem_v2
        # cells; with several modules, one dump per module behind a marker line.
        if dump_modules:
            memdump = "\n".join(f'tee -q -a mem.txt log "@@module {m}"\n'
                                f"tee -q -a mem.txt dump {m}/t:$mem_v2" for m in dump_modules)
        else:
            memdump = "tee -q -o mem.txt dump t:$mem_v2"
        return _ASIC_SCRIPT.format(reads=reads, top=top, flatten="-flatten " if flatten else "",
                                   memdump=memdump)
    if flow == "ecp5":
        return _ECP5_SCRIPT.format(reads=reads, top=top)
    raise ValueError(f"flow = {flow!r} is not one of asic, ecp5")


def _parse_param(text: str) -> int:
    text = text.strip()
    if "'" in text:
        _width, bits = text.split("'", 1)
        bits = bits.lstrip("sb")
        return int(bits, 2) if bits else 0
    return int(text)


def _parse_memories(dump: str) -> list[dict]:
    """``$mem_v2`` cells of an RTLIL dump: name, width, size, ports, bits (and ``module``
    after an ``@@module`` marker line)."""
    mems = []
    cur = None
    module = ""
    for line in dump.splitlines():
        s = line.strip().strip('"')
        if s.startswith("@@module "):
            module = _bare(s.split(None, 1)[1])
        elif s.startswith("cell $mem_v2 "):
            cur = {"name": _bare(s.split(None, 2)[2]), "module": module}
            mems.append(cur)
        elif cur is not None and s.startswith("parameter \\"):
            key, _, val = s[len("parameter \\"):].partition(" ")
            if key in ("WIDTH", "SIZE", "RD_PORTS", "WR_PORTS"):
                cur[key.lower()] = _parse_param(val)
        elif s == "end":
            cur = None
    for m in mems:
        missing = {"width", "size", "rd_ports", "wr_ports"} - set(m)
        if missing:
            raise SynthError(f"memory {m['name']}: no {', '.join(sorted(missing))} in the dump")
        m["bits"] = m["width"] * m["size"]
        m["sram_tr"] = m["bits"] * sram_transistors_per_bit(m["rd_ports"], m["wr_ports"])
    return mems


def _parse_ecp5_memories(listing: str) -> Counter:
    """``select -list`` of RAM cells (``module/<memory>.<i>.<j>``) -> cells per memory."""
    out: Counter = Counter()
    for line in listing.splitlines():
        line = line.strip()
        if "/" in line:
            cell = _bare(line.split("/", 1)[1])
            out[cell.split(".", 1)[0]] += 1
    return out


_STAT_NOISE = re.compile(r"^\s+[^\s\"{}][^\"]*\s\d+\s*$")


def _load_stat(text: str) -> dict:
    """``stat -json`` output. Yosys 0.23 prints the instance counts of a hierarchical design
    (``   name   4``) into the middle of its JSON; those lines are dropped."""
    return json.loads("\n".join(ln for ln in text.splitlines() if not _STAT_NOISE.match(ln)))


def _stat_modules(stat: dict) -> dict[str, dict]:
    return {_bare(k): v for k, v in stat["modules"].items()}


@dataclass
class _Job:
    flow: str
    top: str            # module name as spelled in Verilog
    design: str         # Verilog read normally
    lib: str            # Verilog read as black boxes
    flatten: bool = False
    dump_modules: tuple = ()

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        for part in (self.flow, self.top, str(self.flatten), repr(self.dump_modules),
                     self.design, "\0", self.lib):
            h.update(part.encode())
        return h.hexdigest()


def _run_job(job: _Job, yosys: str, workroot: Path, fail_dir: Path | None) -> dict:
    """Run one Yosys process. Returns ``stat`` (``stat -json``), ``prestat`` (ASIC: before
    ABC), ``memories`` (ASIC: list of dicts; ECP5: RAM cells per memory name), ``seconds``."""
    d = Path(tempfile.mkdtemp(dir=workroot, prefix=job.flow + "."))
    (d / "design.v").write_text(job.design)
    if job.lib:
        (d / "lib.v").write_text(job.lib)
    (d / "script.ys").write_text(_script(job.flow, job.top, bool(job.lib), job.flatten,
                                         job.dump_modules))
    t0 = time.perf_counter()
    with open(d / "stdout.txt", "w") as so, open(d / "stderr.txt", "w") as se:
        proc = subprocess.Popen([yosys, "-q", "-l", "yosys.log", "-s", "script.ys"], cwd=d,
                                stdout=so, stderr=se, stdin=subprocess.DEVNULL)
        try:
            # wait4: the CPU time of Yosys and the ABC processes it waited for.
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    r = subprocess.CompletedProcess(proc.args, proc.returncode,
                                    (d / "stdout.txt").read_text(errors="replace"),
                                    (d / "stderr.txt").read_text(errors="replace"))
    log = (d / "yosys.log").read_text(errors="replace") if (d / "yosys.log").exists() else ""
    stat = None
    if "End of script." in log and (d / "stat.json").exists():
        try:
            stat = _load_stat((d / "stat.json").read_text())
        except ValueError:
            stat = None
    if stat is None:
        where = ""
        if fail_dir is not None:
            fail_dir.mkdir(parents=True, exist_ok=True)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", _bare(job.top))
            keep = fail_dir / f"synth_failed_{job.flow}_{safe}.log"
            keep.write_text(log + "\n--- stderr ---\n" + r.stderr)
            where = f"; log: {keep}"
        last = (r.stderr.strip().splitlines() or log.strip().splitlines() or ["(no output)"])[-1]
        shutil.rmtree(d, ignore_errors=True)
        raise SynthError(f"yosys {job.flow} synthesis of {_bare(job.top)} did not reach "
                         f"'End of script' (exit status {r.returncode}): {last}{where}")
    out = {"stat": stat, "seconds": dt, "cpu_seconds": cpu}
    mem_txt = (d / "mem.txt").read_text() if (d / "mem.txt").exists() else ""
    if job.flow == "asic":
        out["memories"] = _parse_memories(mem_txt)
        out["prestat"] = _load_stat((d / "prestat.json").read_text())
    else:
        out["memories"] = dict(_parse_ecp5_memories(mem_txt))
    shutil.rmtree(d, ignore_errors=True)
    return out


# -- metrics ------------------------------------------------------------------------------

_ASIC_KEYS = ("cells", "ffs", "logic_tr", "ff_tr", "mem_bits", "sram_tr", "total_tr")


def asic_metrics(cells_by_type: dict[str, int], memories: list[dict],
                 skip=frozenset()) -> dict:
    """Gate count, flip-flops, transistors and memory of one synthesized module.

    ``cells``: logic gates (flip-flops and memories excluded); ``ffs``: flip-flop bits;
    ``*_tr``: transistors (:func:`cell_transistors`, SRAM per :func:`sram_transistors_per_bit`);
    ``skip``: cell types that are sub-module instances (counted on their own).
    """
    out = dict.fromkeys(_ASIC_KEYS, 0)
    for t, n in cells_by_type.items():
        if _bare(t) in skip or t == "$mem_v2":
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
        if _bare(t) in skip:
            continue
        if t in out:
            out[t] += n
        else:
            out["other"] += n
    out["lut_sites"] = out["LUT4"] + 2 * out["CCU2C"] + 6 * out["TRELLIS_DPR16X4"]
    return out


def _add(a: dict, b: dict, k: int = 1) -> dict:
    out = dict(a)
    for key, v in b.items():
        out[key] = out.get(key, 0) + k * v
    return out


# -- one design ---------------------------------------------------------------------------

@dataclass
class SynthDesign:
    label: str
    cfg: ExionConfig
    top: str                      # generator top (hw.generate.TOPS)
    flows: tuple
    top_module: str = ""
    text: str = ""
    modules: dict = field(default_factory=dict)      # name -> text
    children: dict = field(default_factory=dict)     # name -> Counter[(module, stem)]
    futures: dict = field(default_factory=dict)      # (name, flow) -> Future
    elaborate_s: float = 0.0

    def kids(self, name: str) -> Counter:
        """Instances per child module of ``name``."""
        c: Counter = Counter()
        for (mod, _stem_), n in self.children[name].items():
            c[mod] += n
        return c


def elaborate(d: SynthDesign) -> None:
    from hw.generate import verilog_text
    t0 = time.perf_counter()
    d.top_module = f"exion_{d.top}"
    d.text = verilog_text(d.cfg, d.top, name=d.top_module)
    d.modules = split_modules(d.text)
    if d.top_module not in d.modules:
        raise SynthError(f"top module {d.top_module} not in the generated Verilog")
    d.children = {n: module_children(t, d.modules) for n, t in d.modules.items()}
    d.elaborate_s = time.perf_counter() - t0


def _instance_units(d: SynthDesign) -> Counter:
    """``(module, unit) -> instances`` over the whole instance tree of ``d``."""
    counts: Counter = Counter()

    def walk(mod, stem, parent_unit, mult):
        unit = classify(mod, parent_unit, stem)
        counts[(mod, unit)] += mult
        for (kid, kstem), n in d.children[mod].items():
            walk(kid, kstem, unit, mult * n)

    walk(d.top_module, None, None, 1)
    return counts


class Runner:
    """Per-module Yosys jobs on a thread pool (each job is its own process), deduplicated by
    content, with one progress line per finished job."""

    def __init__(self, jobs: int, progress, fail_dir: Path | None):
        self.yosys = _yosys_bin()
        self.pool = cf.ThreadPoolExecutor(max_workers=max(1, jobs))
        self.tmp = tempfile.TemporaryDirectory(prefix="exion-synth-")
        self.progress = progress
        self.fail_dir = fail_dir
        self.memo: dict[str, cf.Future] = {}
        self.done = 0

    def submit(self, job: _Job, label: str) -> cf.Future:
        key = job.key
        if key not in self.memo:
            fut = self.pool.submit(_run_job, job, self.yosys, Path(self.tmp.name), self.fail_dir)
            fut.add_done_callback(lambda f, label=label, flow=job.flow: self._done(f, label, flow))
            self.memo[key] = fut
        return self.memo[key]

    def _done(self, fut, label, flow):
        self.done += 1
        if not fut.cancelled() and fut.exception() is None and self.progress:
            res = fut.result()
            self.progress(f"  [{self.done:>2}/{len(self.memo)}] {flow:<4} {label:<46} "
                          f"{res['seconds']:6.1f} s (cpu {res['cpu_seconds']:.1f} s)")

    def submit_design(self, d: SynthDesign) -> None:
        # Largest modules first, so that the long runs start early.
        for name in sorted(d.modules, key=lambda n: -len(d.modules[n])):
            lib = "".join(d.modules[c] for c in sorted(d.kids(name)))
            for flow in d.flows:
                job = _Job(flow, name, d.modules[name], lib)
                d.futures[(name, flow)] = self.submit(job, _bare(name))

    def close(self, cancel: bool = False):
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        self.tmp.cleanup()


def collect(d: SynthDesign) -> dict:
    """Per-module and per-unit figures of a design whose jobs have finished.

    A module's logic and flip-flops go to the module's unit; its memories to the unit their
    name says (:func:`memory_unit`), in both flows (ECP5: the RAM cells Yosys names after the
    memory).
    """
    inst = _instance_units(d)
    mods = {}
    for name in d.modules:
        kids = {_bare(k) for k in d.kids(name)}
        want = {_bare(k): n for k, n in sorted(d.kids(name).items())}
        entry = {"instances": {}, "children": want}
        for flow in d.flows:
            res = d.futures[(name, flow)].result()
            own = _stat_modules(res["stat"]).get(_bare(name))
            if own is None:
                raise SynthError(f"{flow} stat has no module {_bare(name)}")
            cbt = own.get("num_cells_by_type", {})
            # Cross-check the instance parse against Yosys' own count of black-box cells.
            got = {_bare(t): n for t, n in cbt.items() if _bare(t) in kids}
            if got != want:
                raise SynthError(f"{_bare(name)}: instances {want} parsed from the Verilog, "
                                 f"{got} counted by Yosys ({flow})")
            if flow == "asic":
                entry["asic"] = asic_metrics(cbt, res["memories"], kids)
                entry["memories"] = [{k: m[k] for k in ("name", "width", "size", "rd_ports",
                                                        "wr_ports", "bits", "sram_tr")}
                                     for m in res["memories"]]
            else:
                entry["ecp5"] = ecp5_metrics(cbt, kids)
                entry["ecp5_memories"] = res["memories"]
            entry["cells_" + flow] = {t: n for t, n in sorted(cbt.items())
                                      if _bare(t) not in kids}
            entry["seconds_" + flow] = round(res["seconds"], 2)
            entry["cpu_seconds_" + flow] = round(res["cpu_seconds"], 2)
        mods[_bare(name)] = entry
    units: dict[str, dict] = {}

    def acc(unit, flow, metrics, n):
        u = units.setdefault(unit, {})
        u[flow] = _add(u.get(flow, {}), metrics, n)

    for (name, unit), n in sorted(inst.items()):
        e = mods[_bare(name)]
        e["instances"][unit] = e["instances"].get(unit, 0) + n
        if "asic" in e:
            logic = dict(e["asic"], mem_bits=0, sram_tr=0)
            logic["total_tr"] = logic["logic_tr"] + logic["ff_tr"]
            acc(unit, "asic", logic, n)
            for m in e["memories"]:
                z = dict.fromkeys(_ASIC_KEYS, 0)
                z.update(mem_bits=m["bits"], sram_tr=m["sram_tr"], total_tr=m["sram_tr"])
                acc(memory_unit(m["name"], unit), "asic", z, n)
        if "ecp5" in e:
            rest = dict(e["ecp5"])
            for mem, cells in e["ecp5_memories"].items():
                # RAM cells of a named memory move to its unit, by cell type share.
                mu = memory_unit(mem, unit)
                if mu == unit:
                    continue
                moved = _ecp5_memory_cells(e["cells_ecp5"], mem, cells)
                acc(mu, "ecp5", moved, n)
                rest = _add(rest, moved, -1)
            acc(unit, "ecp5", rest, n)
    total: dict[str, dict] = {}
    for u in units.values():
        for flow, mtr in u.items():
            total[flow] = _add(total.get(flow, {}), mtr)
    units = {k: units[k] for k in UNITS if k in units}
    return {"top": d.top_module, "config": d.cfg.to_dict(), "modules": mods, "units": units,
            "total": total, "elaborate_seconds": round(d.elaborate_s, 2)}


def _ecp5_memory_cells(cells_by_type: dict, mem: str, count: int) -> dict:
    """ECP5 metrics of ``count`` RAM cells of one memory. ``select -list`` does not give the
    type, so it is taken from the module's RAM types: block RAM if the module has any,
    else distributed RAM (a module with both kinds for named memories is rare; the total
    is right either way)."""
    m = ecp5_metrics({})
    kind = "DP16KD" if cells_by_type.get("DP16KD") else (
        "PDPW16KD" if cells_by_type.get("PDPW16KD") else "TRELLIS_DPR16X4")
    if kind == "PDPW16KD":
        m["other"] = count
    else:
        m[kind] = count
    m["lut_sites"] = 6 * m["TRELLIS_DPR16X4"]
    return m


def synthesize_design(cfg: ExionConfig, top: str | None = None, *, flows=("asic", "ecp5"),
                      jobs: int | None = None, progress=None) -> dict:
    """Synthesize one design (per module, in parallel); the ``collect`` dict."""
    from hw.generate import DEFAULT_TOP
    d = SynthDesign("design", cfg, top or DEFAULT_TOP, tuple(flows))
    runner = Runner(jobs or os.cpu_count() or 1, progress, None)
    try:
        elaborate(d)
        runner.submit_design(d)
        return collect(d)
    finally:
        runner.close()


#: Units synthesized on their own when the design does not contain them (generator top).
STANDALONE = (("cau", "cau"), ("predictor", "eager_units"))


def synth_report(cfg: ExionConfig, top: str | None = None, *, jobs: int | None = None,
                 ecp5: bool = True, sparsity: bool = True, standalone: bool = True,
                 progress=None, fail_dir: Path | None = None) -> dict:
    """The whole report: the design, units it lacks synthesized standalone, and the cost of
    sparsity support (the same top with ``merge_degree = 1`` and no CAU, ASIC flow)."""
    from hw.generate import DEFAULT_TOP, TOPS
    top = top or DEFAULT_TOP
    if top not in TOPS:
        raise ConfigError(f"top = {top!r} is not one of {', '.join(TOPS)}")
    flows = ("asic", "ecp5") if ecp5 else ("asic",)
    t0 = time.perf_counter()
    say = progress or (lambda s: None)
    runner = Runner(jobs or os.cpu_count() or 1, progress, fail_dir)
    try:
        main = SynthDesign("design", cfg, top, flows)
        say(f"elaborating exion_{top} {cfg.rows}x{cfg.cols} ...")
        elaborate(main)
        runner.submit_design(main)
        present = {u for (_m, u) in _instance_units(main)}
        extras = []
        if standalone:
            for unit, etop in STANDALONE:
                if unit not in present and etop != top:
                    d = SynthDesign(unit, cfg, etop, flows)
                    say(f"elaborating exion_{etop} (standalone {UNITS[unit]}) ...")
                    elaborate(d)
                    runner.submit_design(d)
                    extras.append(d)
        base = None
        if sparsity:
            base = SynthDesign("no-sparsity", cfg.replace(merge_degree=1), top, ("asic",))
            say(f"elaborating exion_{top} with merge_degree 1 (sparsity cost) ...")
            elaborate(base)
            runner.submit_design(base)
        say(f"synthesizing {len(runner.memo)} unique module runs on {runner.pool._max_workers} "
            "processes ...")
        from .sdc import ports_from_verilog
        rep = {"format": 1, "generator": "exion-gen", "yosys": yosys_version(),
               "top": main.top_module, "config": cfg.to_dict(),
               "ports": [vars(p) for p in ports_from_verilog(main.text, main.top_module)]}
        rep["design"] = collect(main)
        rep["standalone"] = {d.label: collect(d) for d in extras}
        if base is not None:
            rep["sparsity"] = _sparsity(cfg, rep, collect(base))
        rep["yosys_runs"] = len(runner.memo)
        rep["yosys_cpu_seconds"] = round(sum(f.result()["cpu_seconds"]
                                             for f in runner.memo.values()), 1)
        rep["jobs"] = runner.pool._max_workers
    except BaseException:
        runner.close(cancel=True)
        raise
    runner.close()
    rep["model"] = {
        "gate_transistors": GATE_TRANSISTORS,
        "ff_transistors": {f"{fam}{' async' if a else ''}": t
                           for (fam, a), t in FF_TRANSISTORS.items()},
        "sram": "bit cells only: 6T single-port, +2T per further port (1R1W = 8T)",
        "ecp5_device": {"name": "LFE5U-85F", **ECP5_85F},
    }
    if "ecp5" in rep["design"]["total"]:
        tot = rep["design"]["total"]["ecp5"]
        used = {"LUT4": tot["lut_sites"], "TRELLIS_FF": tot["TRELLIS_FF"],
                "DP16KD": tot["DP16KD"], "MULT18X18D": tot["MULT18X18D"]}
        rep["ecp5_85f_utilization"] = {k: round(used[k] / ECP5_85F[k], 4) for k in used}
    rep["seconds"] = round(time.perf_counter() - t0, 1)
    return rep


def _logic(m: dict) -> int:
    return m["logic_tr"] + m["ff_tr"]


def _sparsity(cfg: ExionConfig, rep: dict, base: dict) -> dict:
    """Full design (its merge degree, with the CAU) against the same top with merge degree 1
    and the CAU unit left out."""
    full = dict(rep["design"]["total"]["asic"])
    notes = []
    full_units = {u: v["asic"] for u, v in rep["design"]["units"].items()}
    if "cau" not in full_units and "cau" in rep["standalone"]:
        full_units["cau"] = rep["standalone"]["cau"]["total"]["asic"]
        full = _add(full, full_units["cau"])
        notes.append(f"the CAU is not in {rep['top']}: synthesized standalone and added")
    no = dict(base["total"]["asic"])
    base_units = {u: v["asic"] for u, v in base["units"].items()}
    if "cau" in base_units:
        no = _add(no, base_units.pop("cau"), -1)
    delta = {}
    for u in UNITS:
        a, b = full_units.get(u), base_units.get(u)
        if a or b:
            delta[u] = (a["total_tr"] if a else 0) - (b["total_tr"] if b else 0)
    return {
        "full": {"merge_degree": cfg.merge_degree, "cau": True, **full},
        "no_sparsity": {"merge_degree": 1, "cau": False, **no},
        "ratio_total": round(full["total_tr"] / no["total_tr"], 5),
        "ratio_logic": round(_logic(full) / _logic(no), 5),
        "delta_tr_by_unit": delta,
        "no_sparsity_units": base_units,
        "notes": notes,
    }


# -- text ---------------------------------------------------------------------------------

def _k(x: float) -> str:
    """A compact number: 1234 -> 1234, 123456 -> 123.5k, 12345678 -> 12.3M."""
    if abs(x) >= 1e7:
        return f"{x / 1e6:.1f}M"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 1e5:
        return f"{x / 1e3:.1f}k"
    return f"{int(x)}"


def _unit_rows(section: dict, flows) -> list[str]:
    has_ecp5 = "ecp5" in flows
    head = (f"{'unit':<24} {'gates':>8} {'FFs':>7} {'logic Tr':>9} {'FF Tr':>8} "
            f"{'mem bits':>9} {'SRAM Tr':>9} {'total Tr':>9} {'share':>6}")
    if has_ecp5:
        head += f" | {'LUT4':>7} {'CCU2C':>6} {'FF':>7} {'DP16KD':>6} {'DPR16':>5} {'MULT18':>6}"
    lines = [head, "-" * len(head)]
    grand = section["total"]["asic"]["total_tr"] or 1
    zero_e = ecp5_metrics({})
    rows = list(section["units"].items()) + [("total", section["total"])]
    for key, u in rows:
        a = u.get("asic", dict.fromkeys(_ASIC_KEYS, 0))
        label = UNITS.get(key, key)
        line = (f"{label:<24} {_k(a['cells']):>8} {_k(a['ffs']):>7} "
                f"{_k(a['logic_tr']):>9} {_k(a['ff_tr']):>8} {_k(a['mem_bits']):>9} "
                f"{_k(a['sram_tr']):>9} {_k(a['total_tr']):>9} {a['total_tr'] / grand:>6.1%}")
        if has_ecp5:
            e = u.get("ecp5", zero_e)
            line += (f" | {_k(e['LUT4']):>7} {_k(e['CCU2C']):>6} {_k(e['TRELLIS_FF']):>7} "
                     f"{e['DP16KD']:>6} {e['TRELLIS_DPR16X4']:>5} {e['MULT18X18D']:>6}")
        if key == "total":
            lines.append("-" * len(head))
        lines.append(line)
    return lines


def format_report(rep: dict) -> str:
    """The readable table of a :func:`synth_report` dict."""
    cfg = rep["config"]
    d = rep["design"]
    flows = tuple(d["total"])
    out = [
        f"EXION synthesis: {rep['top']} {cfg['rows']}x{cfg['cols']} (lanes {cfg['lanes']}, "
        f"merge degree {cfg['merge_degree']}, INT{cfg['data_width']}, acc {cfg['acc_width']}, "
        f"adder stages {cfg['adder_stages']}), {rep['yosys']}",
        "ASIC: Yosys generic gates (synth + abc -fast), memories kept as SRAM; Tr = static-CMOS "
        "transistors, SRAM 8T per 1R1W bit (docs/synthesis.md)",
    ]
    if "ecp5" in flows:
        out.append("ECP5: synth_ecp5 (LUT4, CCU2C carry pairs, TRELLIS_FF, DP16KD block RAM, "
                   "TRELLIS_DPR16X4 distributed RAM, MULT18X18D)")
    out.append("")
    out += _unit_rows(d, flows)
    absent = [UNITS[u] for u in ("cau", "predictor", "ctrl") if u not in d["units"]]
    if absent:
        out.append(f"not in {rep['top']}: {', '.join(absent)}")
    if "ecp5_85f_utilization" in rep:
        u = rep["ecp5_85f_utilization"]
        out.append("ECP5 LFE5U-85F utilization: " + ", ".join(
            f"{k} {v:.0%}" for k, v in u.items()) + "  (LUT4: LUT4 + 2 x CCU2C + 6 x DPR16X4)")
    out += ["", "per module (each synthesized once, on its own; inst = instances in the design):",
            f"{'module':<46} {'unit':<10} {'inst':>5} {'gates':>8} {'FFs':>6} {'mem bits':>9} "
            f"{'total Tr':>9} {'cpu s':>6}" + (f" {'ecp5':>5}" if "ecp5" in flows else "")]
    for name, m in d["modules"].items():
        units = ",".join(m["instances"])
        n = sum(m["instances"].values())
        a = m["asic"]
        line = (f"{name[:46]:<46} {units:<10} {n:>5} {_k(a['cells']):>8} {_k(a['ffs']):>6} "
                f"{_k(a['mem_bits']):>9} {_k(a['total_tr']):>9} {m['cpu_seconds_asic']:>6.0f}")
        if "ecp5" in flows:
            line += f" {m['cpu_seconds_ecp5']:>5.0f}"
        out.append(line)
    for label, s in rep.get("standalone", {}).items():
        a = s["total"]["asic"]
        line = (f"standalone {UNITS[label]} ({s['top']}, not in {rep['top']}): "
                f"{_k(a['cells'])} gates, {_k(a['ffs'])} FFs, {_k(a['mem_bits'])} mem bits, "
                f"{_k(a['total_tr'])} Tr")
        if "ecp5" in s["total"]:
            e = s["total"]["ecp5"]
            line += f"; ECP5 {e['LUT4']} LUT4, {e['TRELLIS_FF']} FF, {e['DP16KD']} DP16KD"
        out.append(line)
    if "sparsity" in rep:
        s = rep["sparsity"]
        f, b = s["full"], s["no_sparsity"]
        out += ["", "cost of sparsity support (ASIC transistors):",
                f"  full design (merge degree {f['merge_degree']}, CAU):  "
                f"{_k(_logic(f)):>8} logic+FF  {_k(f['total_tr']):>8} with SRAM",
                f"  merge degree 1, no CAU:             "
                f"{_k(_logic(b)):>8} logic+FF  {_k(b['total_tr']):>8} with SRAM",
                f"  ratio full / no-sparsity: {s['ratio_logic']:.4f} logic+FF "
                f"({s['ratio_logic'] - 1:+.2%}), {s['ratio_total']:.4f} with SRAM "
                f"({s['ratio_total'] - 1:+.2%})",
                "  difference by unit (Tr): " + ", ".join(
                    f"{UNITS[u]} {v:+,}" for u, v in s["delta_tr_by_unit"].items() if v)]
        for n in s["notes"]:
            out.append(f"  note: {n}")
    out += ["", f"run time {rep['seconds']:.0f} s wall (elaboration included); "
                f"{rep['yosys_runs']} Yosys runs, {rep['yosys_cpu_seconds']:.0f} s CPU, "
                f"{rep['jobs']} in parallel"]
    return "\n".join(out) + "\n"


def report_base(cfg: ExionConfig, top: str) -> str:
    """``exion_<top>_<R>x<C>``, the stem ``make verilog`` uses too."""
    return f"exion_{top}_{cfg.rows}x{cfg.cols}"


def render_report(rep: dict) -> tuple[str, str]:
    """(JSON text, table text) of a report."""
    return json.dumps(rep, indent=1) + "\n", format_report(rep)


def write_report(rep: dict, out_dir, top: str, cfg: ExionConfig) -> tuple[Path, Path]:
    """Write ``synth_<base>.json`` and ``.txt`` atomically; returns their paths."""
    from exion.util import atomic_write
    out = Path(out_dir)
    jtext, ttext = render_report(rep)
    out.mkdir(parents=True, exist_ok=True)
    base = "synth_" + report_base(cfg, top)
    pj, pt = out / f"{base}.json", out / f"{base}.txt"
    atomic_write(pj, jtext)
    atomic_write(pt, ttext)
    return pj, pt


# -- consistency check --------------------------------------------------------------------

def flat_check(cfg: ExionConfig, top: str | None = None, *, jobs: int | None = None) -> dict:
    """Per-module ASIC figures against single Yosys runs over the whole design.

    ``hierarchical``: one run with the hierarchy kept. Flip-flops and memory bits equal the
    per-module flow's; gates differ by a few cells, because Yosys' results depend on the order
    in which it numbers names (numbered across the whole run, so a module read together with
    others is processed in another order): ABC's mapping always, on some modules the coarse
    passes too (``pre_abc_mismatches`` lists the modules whose cells differ before ABC).
    ``flat``: ``synth -flatten``; optimization across module boundaries (constants and
    unused outputs propagated through ports) and ABC on one large netlist change the figures
    by a few percent. docs/synthesis.md states the tolerances ``tests/test_synth.py`` holds.
    """
    from hw.generate import DEFAULT_TOP
    top = top or DEFAULT_TOP
    d = SynthDesign("check", cfg, top, ("asic",))
    runner = Runner(jobs or os.cpu_count() or 1, None, None)
    try:
        elaborate(d)
        hier = runner.submit(_Job("asic", d.top_module, d.text, "",
                                  dump_modules=tuple(d.modules)), "whole design, hierarchical")
        flat = runner.submit(_Job("asic", d.top_module, d.text, "", flatten=True),
                             "whole design, flattened")
        runner.submit_design(d)
        per = collect(d)
        hres, fres = hier.result(), flat.result()
        pre_per = {name: _stat_modules(d.futures[(name, "asic")].result()["prestat"])
                   [_bare(name)].get("num_cells_by_type", {}) for name in d.modules}
    finally:
        runner.close()
    mems: dict[str, list] = {}
    for m in hres["memories"]:
        mems.setdefault(m["module"], []).append(m)
    stat = _stat_modules(hres["stat"])
    pre_hier = _stat_modules(hres["prestat"])
    inst = Counter()
    for (mod, _u), n in _instance_units(d).items():
        inst[mod] += n
    hier_total = dict.fromkeys(_ASIC_KEYS, 0)
    pre_mismatch = []
    for mod, n in inst.items():
        kids = {_bare(k) for k in d.kids(mod)}
        m = asic_metrics(stat[_bare(mod)].get("num_cells_by_type", {}), mems.get(_bare(mod), []),
                         kids)
        hier_total = _add(hier_total, m, n)
        a = pre_per[mod]
        b = pre_hier[_bare(mod)].get("num_cells_by_type", {})
        if {_bare(k): v for k, v in a.items()} != {_bare(k): v for k, v in b.items()}:
            pre_mismatch.append(_bare(mod))
    (only,) = _stat_modules(fres["stat"]).values()
    flat_total = asic_metrics(only.get("num_cells_by_type", {}), fres["memories"])
    return {"per_module": per["total"]["asic"], "hierarchical": hier_total, "flat": flat_total,
            "pre_abc_mismatches": pre_mismatch,
            "seconds": {"hierarchical": round(hres["seconds"], 1),
                        "flat": round(fres["seconds"], 1)}}


# -- command line (``exion synth``, see exion_tools/cli.py) ---------------------------------------

def add_synth_arguments(p) -> None:
    from hw.generate import DEFAULT_TOP, TOPS
    p.add_argument("--top", choices=TOPS, default=DEFAULT_TOP)
    p.add_argument("--out", default="build", help="folder for the report and the SDC")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel Yosys processes (default: one per core)")
    p.add_argument("--no-ecp5", action="store_true", help="skip the ECP5 flow")
    p.add_argument("--no-sparsity", action="store_true",
                   help="skip the merge_degree 1 / no-CAU comparison")
    p.add_argument("--check-flat", action="store_true",
                   help="also synthesize the whole design in one Yosys run, hierarchical and "
                        "flattened, and compare with the per-module totals (slow on big arrays)")


def _rel(a: float, b: float) -> str:
    return f"{(a - b) / b:+.2%}" if b else "n/a"


def format_flat_check(chk: dict) -> str:
    p, h, f = chk["per_module"], chk["hierarchical"], chk["flat"]
    lines = ["check against whole-design runs (ASIC):",
             f"  {'':<22} {'gates':>8} {'FFs':>7} {'mem bits':>9} {'total Tr':>10} {'vs per-module':>14}"]
    for label, m in (("per module x instances", p), ("one run, hierarchical", h),
                     ("one run, flattened", f)):
        lines.append(f"  {label:<22} {m['cells']:>8} {m['ffs']:>7} {m['mem_bits']:>9} "
                     f"{m['total_tr']:>10} {_rel(m['total_tr'], p['total_tr']):>14}")
    pre = chk["pre_abc_mismatches"]
    lines.append("  before ABC, every module's cells equal the hierarchical run's" if not pre else
                 f"  before ABC, cells differ from the hierarchical run in: {', '.join(pre)}")
    return "\n".join(lines)


def cli_synth(args, cfg: ExionConfig) -> int:
    from exion.util import atomic_write

    from .sdc import Port, sdc_text
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if not 1 <= jobs <= 256:
        raise ConfigError(f"--jobs = {jobs} is out of range [1, 256]")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {args.out!r} is not a folder")
    _yosys_bin()

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    try:
        rep = synth_report(cfg, args.top, jobs=jobs, ecp5=not args.no_ecp5,
                           sparsity=not args.no_sparsity, progress=progress, fail_dir=out)
        chk = flat_check(cfg, args.top, jobs=jobs) if args.check_flat else None
    except SynthError as e:
        print(f"exion synth: error: {e}", file=sys.stderr)
        return 1
    if chk is not None:
        rep["flat_check"] = chk
    jtext, ttext = render_report(rep)
    if chk is not None:
        ttext += format_flat_check(chk) + "\n"
    ports = [Port(**p) for p in rep["ports"]]
    stext = sdc_text(cfg, ports, rep["top"])
    out.mkdir(parents=True, exist_ok=True)
    base = report_base(cfg, args.top)
    paths = (out / f"synth_{base}.json", out / f"synth_{base}.txt", out / f"{base}.sdc")
    for path, text in zip(paths, (jtext, ttext, stext)):
        atomic_write(path, text)
    print(ttext, end="")
    for path in paths:
        print(f"wrote {path}")
    return 0
