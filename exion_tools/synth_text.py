"""The synthesis report as text and files: tables per unit, the sparsity comparison.

Part of ``exion synth``.
"""

from __future__ import annotations

import json
from pathlib import Path

from exion.config import ExionConfig

from .synth_model import ASIC_KEYS, UNITS, ecp5_metrics, logic_tr

__all__ = ["compact", "format_report", "report_base", "render_report", "write_report"]


# -- text ---------------------------------------------------------------------------------

def compact(x: float) -> str:
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
        a = u.get("asic", dict.fromkeys(ASIC_KEYS, 0))
        label = UNITS.get(key, key)
        line = (f"{label:<24} {compact(a['cells']):>8} {compact(a['ffs']):>7} "
                f"{compact(a['logic_tr']):>9} {compact(a['ff_tr']):>8} {compact(a['mem_bits']):>9} "
                f"{compact(a['sram_tr']):>9} {compact(a['total_tr']):>9} {a['total_tr'] / grand:>6.1%}")
        if has_ecp5:
            e = u.get("ecp5", zero_e)
            line += (f" | {compact(e['LUT4']):>7} {compact(e['CCU2C']):>6} {compact(e['TRELLIS_FF']):>7} "
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
        f"adder stages {cfg['adder_stages']}"
        + (f", operand stages {cfg['operand_stages']}" if cfg.get("operand_stages") else "")
        + f"), {rep['yosys']}",
        "ASIC: Yosys generic gates (synth + abc -fast), memories kept as SRAM; Tr = static-CMOS "
        "transistors, SRAM 8T per 1R1W bit (docs/synthesis.md)",
    ]
    if "ecp5" in flows:
        out.append("ECP5: synth_ecp5 (LUT4, CCU2C carry pairs, TRELLIS_FF, DP16KD block RAM, "
                   "TRELLIS_DPR16X4 distributed RAM, MULT18X18D)")
    out.append("")
    out += _unit_rows(d, flows)
    absent = [UNITS[u] for u in ("cau", "predictor", "ctrl", "cfse") if u not in d["units"]]
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
        line = (f"{name[:46]:<46} {units:<10} {n:>5} {compact(a['cells']):>8} {compact(a['ffs']):>6} "
                f"{compact(a['mem_bits']):>9} {compact(a['total_tr']):>9} {m['cpu_seconds_asic']:>6.0f}")
        if "ecp5" in flows:
            line += f" {m['cpu_seconds_ecp5']:>5.0f}"
        out.append(line)
    for label, s in rep.get("standalone", {}).items():
        a = s["total"]["asic"]
        line = (f"standalone {UNITS[label]} ({s['top']}, not in {rep['top']}): "
                f"{compact(a['cells'])} gates, {compact(a['ffs'])} FFs, {compact(a['mem_bits'])} mem bits, "
                f"{compact(a['total_tr'])} Tr ({a['total_tr'] / d['total']['asic']['total_tr']:.1%} "
                f"of {rep['top']}'s, {logic_tr(a) / logic_tr(d['total']['asic']):.1%} of its "
                "logic + FF)")
        if "ecp5" in s["total"]:
            e = s["total"]["ecp5"]
            line += f"; ECP5 {e['LUT4']} LUT4, {e['TRELLIS_FF']} FF, {e['DP16KD']} DP16KD"
        out.append(line)
    if "sparsity" in rep:
        s = rep["sparsity"]
        f, b = s["full"], s["no_sparsity"]
        out += ["", "cost of sparsity support (ASIC transistors):",
                f"  full design (merge degree {f['merge_degree']}, CAU):  "
                f"{compact(logic_tr(f)):>8} logic+FF  {compact(f['total_tr']):>8} with SRAM",
                f"  merge degree 1, no CAU:             "
                f"{compact(logic_tr(b)):>8} logic+FF  {compact(b['total_tr']):>8} with SRAM",
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
    """The stem ``make verilog`` uses too (hw.generate.design_base)."""
    from hw.generate import design_base
    return design_base(cfg, top)


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

