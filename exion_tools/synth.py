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

Modules are put into the report units the design declares (``report_unit`` of the hw
components, gathered by ``hw.library.ModuleLibrary.units``; :func:`instance_unit`).

By concern: this module runs the flows over a design (elaboration, the job pool, collecting
per-unit figures, the consistency check, the command line); ``synth_yosys.py`` runs Yosys,
``synth_parse.py`` parses Verilog and Yosys output, ``synth_model.py`` holds the units and
the transistor model, ``synth_text.py`` writes the report.

Yosys' exit status is not trusted: a run counts only if its log reached ``End of script`` and
its ``stat -json`` parses.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from exion.config import ConfigError, ExionConfig

# The parts, by concern; their public names are re-exported here (``exion_tools.synth`` is
# the entry point of ``exion synth`` and of the sweep).
from .synth_model import (ASIC_KEYS, ECP5_85F, FF_TRANSISTORS, GATE_TRANSISTORS,
                          UNITS, SynthError, add_counts, asic_metrics, bare, cell_transistors,
                          ecp5_metrics, instance_unit, logic_tr, memory_unit,
                          sram_transistors_per_bit)
from .synth_parse import (load_stat, module_children, parse_memories, split_modules,
                          stat_modules)
from .synth_text import format_report, render_report, report_base, write_report
from .synth_yosys import YosysJob, run_job, yosys_bin, yosys_version

__all__ = [
    "SynthError", "UNITS", "GATE_TRANSISTORS", "FF_TRANSISTORS", "ECP5_85F",
    "instance_unit", "memory_unit", "split_modules", "module_children", "cell_transistors",
    "sram_transistors_per_bit", "asic_metrics", "ecp5_metrics", "yosys_version",
    "synthesize_design", "synth_report", "format_report", "render_report", "write_report",
    "flat_check", "format_flat_check", "report_base", "load_stat", "parse_memories",
    "instance_units", "SynthDesign", "Runner", "elaborate", "collect",
]

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
    children: dict = field(default_factory=dict)     # name -> Counter[(module, instance)]
    units: dict = field(default_factory=dict)        # declared units by hierarchical path
    futures: dict = field(default_factory=dict)      # (name, flow) -> Future
    elaborate_s: float = 0.0

    def kids(self, name: str) -> Counter:
        """Instances per child module of ``name``."""
        c: Counter = Counter()
        for (mod, _inst), n in self.children[name].items():
            c[mod] += n
        return c


def elaborate(d: SynthDesign) -> None:
    from hw.generate import elaborate_design
    t0 = time.perf_counter()
    d.top_module = f"exion_{d.top}"
    d.text, d.units = elaborate_design(d.cfg, d.top, name=d.top_module)
    d.modules = split_modules(d.text)
    if d.top_module not in d.modules:
        raise SynthError(f"top module {d.top_module} not in the generated Verilog")
    d.children = {n: module_children(t, d.modules) for n, t in d.modules.items()}
    d.elaborate_s = time.perf_counter() - t0


def instance_units(d: SynthDesign) -> Counter:
    """``(module, unit) -> instances`` over the whole instance tree of ``d``, by the units the
    design declares (:func:`instance_unit`)."""
    counts: Counter = Counter()

    def walk(mod, parent, inst, parent_unit, mult):
        unit = instance_unit(d.units, mod, parent, inst, parent_unit)
        counts[(mod, unit)] += mult
        for (kid, kinst), n in d.children[mod].items():
            walk(kid, mod, kinst, unit, mult * n)

    walk(d.top_module, None, None, None, 1)
    return counts


class Runner:
    """Per-module Yosys jobs on a thread pool (each job is its own process), deduplicated by
    content, with one progress line per finished job."""

    def __init__(self, jobs: int, progress, fail_dir: Path | None):
        self.yosys = yosys_bin()
        self.pool = cf.ThreadPoolExecutor(max_workers=max(1, jobs))
        self.tmp = tempfile.TemporaryDirectory(prefix="exion-synth-")
        self.progress = progress
        self.fail_dir = fail_dir
        self.memo: dict[str, cf.Future] = {}
        self.done = 0

    def submit(self, job: YosysJob, label: str) -> cf.Future:
        key = job.key
        if key not in self.memo:
            fut = self.pool.submit(run_job, job, self.yosys, Path(self.tmp.name), self.fail_dir)
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
                job = YosysJob(flow, name, d.modules[name], lib)
                d.futures[(name, flow)] = self.submit(job, bare(name))

    def close(self, cancel: bool = False):
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        self.tmp.cleanup()


def collect(d: SynthDesign) -> dict:
    """Per-module and per-unit figures of a design whose jobs have finished.

    A module's logic and flip-flops go to the module's unit; its memories to the unit the
    design declares for them (:func:`memory_unit`), in both flows (ECP5: the RAM cells Yosys names after the
    memory).
    """
    inst = instance_units(d)
    mods = {}
    for name in d.modules:
        kids = {bare(k) for k in d.kids(name)}
        want = {bare(k): n for k, n in sorted(d.kids(name).items())}
        entry = {"instances": {}, "children": want}
        for flow in d.flows:
            res = d.futures[(name, flow)].result()
            own = stat_modules(res["stat"]).get(bare(name))
            if own is None:
                raise SynthError(f"{flow} stat has no module {bare(name)}")
            cbt = own.get("num_cells_by_type", {})
            # Cross-check the instance parse against Yosys' own count of black-box cells.
            got = {bare(t): n for t, n in cbt.items() if bare(t) in kids}
            if got != want:
                raise SynthError(f"{bare(name)}: instances {want} parsed from the Verilog, "
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
                                      if bare(t) not in kids}
            entry["seconds_" + flow] = round(res["seconds"], 2)
            entry["cpu_seconds_" + flow] = round(res["cpu_seconds"], 2)
        mods[bare(name)] = entry
    units: dict[str, dict] = {}

    def acc(unit, flow, metrics, n):
        u = units.setdefault(unit, {})
        u[flow] = add_counts(u.get(flow, {}), metrics, n)

    for (name, unit), n in sorted(inst.items()):
        e = mods[bare(name)]
        e["instances"][unit] = e["instances"].get(unit, 0) + n
        if "asic" in e:
            logic = dict(e["asic"], mem_bits=0, sram_tr=0)
            logic["total_tr"] = logic["logic_tr"] + logic["ff_tr"]
            acc(unit, "asic", logic, n)
            for m in e["memories"]:
                z = dict.fromkeys(ASIC_KEYS, 0)
                z.update(mem_bits=m["bits"], sram_tr=m["sram_tr"], total_tr=m["sram_tr"])
                acc(memory_unit(d.units, name, m["name"], unit), "asic", z, n)
        if "ecp5" in e:
            rest = dict(e["ecp5"])
            for mem, cells in e["ecp5_memories"].items():
                # RAM cells of a named memory move to its unit, by cell type share.
                mu = memory_unit(d.units, name, mem, unit)
                if mu == unit:
                    continue
                moved = _ecp5_memory_cells(e["cells_ecp5"], mem, cells)
                acc(mu, "ecp5", moved, n)
                rest = add_counts(rest, moved, -1)
            acc(unit, "ecp5", rest, n)
    total: dict[str, dict] = {}
    for u in units.values():
        for flow, mtr in u.items():
            total[flow] = add_counts(total.get(flow, {}), mtr)
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


#: Units synthesized on their own when the design does not contain them: (unit, the top that
#: holds it, the tops it is added for (None: every top), the ASIC flow only). The core holds
#: the CFSE (its commands' engine), so it no longer gets top ``cfse`` standalone; the row
#: stays for a core built without it (about 50 s of Yosys CPU, too much to add to every top),
#: ASIC flow only: Yosys 0.23's ``memory_libmap`` in ``synth_ecp5`` took
#: over 20 GB on the GELU's 16 table read ports (16 lanes) and was killed; its ECP5 figures
#: come from ``make fpga``'s tools (docs/fpga.md).
STANDALONE = (("cau", "cau", None, False), ("predictor", "eager_units", None, False),
              ("cfse", "cfse", ("core",), True))


def standalone_tops(top: str, present) -> list[tuple[str, str, bool]]:
    """(unit, top, ASIC flow only) of every :data:`STANDALONE` unit that the design of
    ``top``, holding the units ``present``, lacks and gets synthesized on its own."""
    return [(unit, etop, asic_only) for unit, etop, only, asic_only in STANDALONE
            if unit not in present and etop != top and (only is None or top in only)]


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
        present = {u for (_m, u) in instance_units(main)}
        extras = []
        if standalone:
            for unit, etop, asic_only in standalone_tops(top, present):
                d = SynthDesign(unit, cfg, etop, ("asic",) if asic_only else flows)
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


def _sparsity(cfg: ExionConfig, rep: dict, base: dict) -> dict:
    """Full design (its merge degree, with the CAU) against the same top with merge degree 1
    and the CAU unit left out."""
    full = dict(rep["design"]["total"]["asic"])
    notes = []
    full_units = {u: v["asic"] for u, v in rep["design"]["units"].items()}
    if "cau" not in full_units and "cau" in rep["standalone"]:
        full_units["cau"] = rep["standalone"]["cau"]["total"]["asic"]
        full = add_counts(full, full_units["cau"])
        notes.append(f"the CAU is not in {rep['top']}: synthesized standalone and added")
    no = dict(base["total"]["asic"])
    base_units = {u: v["asic"] for u, v in base["units"].items()}
    if "cau" in base_units:
        no = add_counts(no, base_units.pop("cau"), -1)
    delta = {}
    for u in UNITS:
        a, b = full_units.get(u), base_units.get(u)
        if a or b:
            delta[u] = (a["total_tr"] if a else 0) - (b["total_tr"] if b else 0)
    return {
        "full": {"merge_degree": cfg.merge_degree, "cau": True, **full},
        "no_sparsity": {"merge_degree": 1, "cau": False, **no},
        "ratio_total": round(full["total_tr"] / no["total_tr"], 5),
        "ratio_logic": round(logic_tr(full) / logic_tr(no), 5),
        "delta_tr_by_unit": delta,
        "no_sparsity_units": base_units,
        "notes": notes,
    }


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
        hier = runner.submit(YosysJob("asic", d.top_module, d.text, "",
                                  dump_modules=tuple(d.modules)), "whole design, hierarchical")
        flat = runner.submit(YosysJob("asic", d.top_module, d.text, "", flatten=True),
                             "whole design, flattened")
        runner.submit_design(d)
        per = collect(d)
        hres, fres = hier.result(), flat.result()
        pre_per = {name: stat_modules(d.futures[(name, "asic")].result()["prestat"])
                   [bare(name)].get("num_cells_by_type", {}) for name in d.modules}
    finally:
        runner.close()
    mems: dict[str, list] = {}
    for m in hres["memories"]:
        mems.setdefault(m["module"], []).append(m)
    stat = stat_modules(hres["stat"])
    pre_hier = stat_modules(hres["prestat"])
    inst = Counter()
    for (mod, _u), n in instance_units(d).items():
        inst[mod] += n
    hier_total = dict.fromkeys(ASIC_KEYS, 0)
    pre_mismatch = []
    for mod, n in inst.items():
        kids = {bare(k) for k in d.kids(mod)}
        m = asic_metrics(stat[bare(mod)].get("num_cells_by_type", {}), mems.get(bare(mod), []),
                         kids)
        hier_total = add_counts(hier_total, m, n)
        a = pre_per[mod]
        b = pre_hier[bare(mod)].get("num_cells_by_type", {})
        if {bare(k): v for k, v in a.items()} != {bare(k): v for k, v in b.items()}:
            pre_mismatch.append(bare(mod))
    (only,) = stat_modules(fres["stat"]).values()
    flat_total = asic_metrics(only.get("num_cells_by_type", {}), fres["memories"])
    return {"per_module": per["total"]["asic"], "hierarchical": hier_total, "flat": flat_total,
            "pre_abc_mismatches": pre_mismatch,
            "seconds": {"hierarchical": round(hres["seconds"], 1),
                        "flat": round(fres["seconds"], 1)}}


# -- command line (``exion synth``, see exion_tools/cli.py) ---------------------------------------

def add_synth_arguments(p) -> None:
    from hw.generate import DEFAULT_TOP, TOPS
    p.add_argument("--top", choices=TOPS, default=DEFAULT_TOP,
                   help=f"unit to synthesize, one of {', '.join(TOPS)} (default {DEFAULT_TOP})")
    p.add_argument("--out", default="build",
                   help="folder for the report and the SDC (default build)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel Yosys processes; integer in [1, 256] (default: one per core)")
    p.add_argument("--no-ecp5", action="store_true", help="skip the ECP5 flow (default off)")
    p.add_argument("--no-sparsity", action="store_true",
                   help="skip the merge_degree 1 / no-CAU comparison (default off)")
    p.add_argument("--check-flat", action="store_true",
                   help="also synthesize the whole design in one Yosys run, hierarchical and "
                        "flattened, and compare with the per-module totals (slow on big "
                        "arrays; default off)")


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
    from .inputs import check_out_dir
    out = check_out_dir("--out", args.out)
    yosys_bin()

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
