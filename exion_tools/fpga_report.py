"""Reading the FPGA tools' output and reporting it: multipliers in the RTLIL, Yosys' cell
counts, the resource estimate against a board, nextpnr's critical path, the text report.

Part of ``exion fpga``: ``exion_tools/fpga.py`` runs the flow, this module parses and reports.
``b`` below is an :class:`exion_tools.fpga.Board` (only its resource counts are read).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["count_multipliers", "synth_cells", "estimate", "precheck", "LABELS",
           "critical_path", "late_endpoints", "format_report"]


def count_multipliers(rtlil: str, data_width: int) -> tuple[int, int]:
    """($mul cells with both operands at least ``data_width`` bits, other $mul cells) in the
    RTLIL text. Amaranth writes one module per instance, so the count is the design's."""
    wide = other = 0
    for cell in re.finditer(r"^\s*cell \$mul \S+\n(.*?)^\s*end", rtlil, re.M | re.S):
        body = cell.group(1)
        a = re.search(r"parameter \\A_WIDTH (\d+)", body)
        b = re.search(r"parameter \\B_WIDTH (\d+)", body)
        if a and b and int(a.group(1)) >= data_width and int(b.group(1)) >= data_width:
            wide += 1
        else:
            other += 1
    return wide, other


def synth_cells(stat_path: Path) -> dict[str, int]:
    try:
        stat = json.loads(stat_path.read_text())
    except (OSError, ValueError):
        return {}
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:  # older layout: per module
        cells = {}
        for mod in (stat.get("modules") or {}).values():
            for k, v in (mod.get("num_cells_by_type") or {}).items():
                cells[k] = cells.get(k, 0) + v
    return {k: int(v) for k, v in sorted(cells.items())}


def estimate(b, cells: dict[str, int]) -> dict[str, dict[str, int]]:
    """Resources the synthesized netlist needs, before packing: LUT4 sites are the LUT4s plus
    two per CCU2C (a carry cell is two LUTs of a slice) and two per DPR16X4 (LUT RAM).
    nextpnr's count after packing is a few percent higher (route-through LUTs)."""
    luts = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) \
        + 2 * cells.get("TRELLIS_DPR16X4", 0)
    return {"luts": {"used": luts, "available": b.luts},
            "ffs": {"used": cells.get("TRELLIS_FF", 0), "available": b.ffs},
            "dp16kd": {"used": cells.get("DP16KD", 0), "available": b.dp16kd},
            "mult18x18d": {"used": cells.get("MULT18X18D", 0), "available": b.mult18}}


LABELS = {"luts": "LUT4", "ffs": "FF", "dp16kd": "DP16KD", "mult18x18d": "MULT18X18D"}


def precheck(b, cells: dict[str, int]) -> str | None:
    """Name the resource the netlist needs more of than ``b`` has, or None."""
    over = [f"{LABELS[k]} {u['used']} > {u['available']}"
            for k, u in estimate(b, cells).items() if u["used"] > u["available"]]
    return ", ".join(over) if over else None


def critical_path(pnr_report: dict) -> dict | None:
    """The longest register-to-register path of nextpnr's report: start and end cells, total
    delay and the number of logic cells on it."""
    best = None
    for cp in pnr_report.get("critical_paths", []):
        if not cp["from"].startswith("posedge") or cp["from"] != cp["to"] or not cp["path"]:
            continue
        delay = sum(step["delay"] for step in cp["path"])
        if best is None or delay > best["delay_ns"]:
            best = {"from": cp["path"][0]["from"]["cell"], "to": cp["path"][-1]["to"]["cell"],
                    "delay_ns": round(delay, 2),
                    "logic_cells": sum(1 for st in cp["path"] if st["type"] == "logic")}
    return best


# nextpnr's packed cell names: the register's net name, then what packing appended
_CELL_SUFFIX = re.compile(r"(_TRELLIS_FF_Q|_TRELLIS_IO|_CCU2C|_LUT4|_DP16KD|_MULT18X18D).*$"
                          r"|\[\d+\]$|_\d+$")


def _register(cell: str) -> str:
    """The register (or block) an endpoint cell belongs to: its name without the packer's
    suffixes and bit indices."""
    prev = None
    while prev != cell:
        prev, cell = cell, _CELL_SUFFIX.sub("", cell)
    return cell


def late_endpoints(pnr_report: dict, period_ns: float, top: int = 12) -> dict | None:
    """Endpoints whose data arrives later than ``period_ns`` after the clock edge, grouped:
    by unit (the hierarchy above the cell, ``a.b`` of ``a.b.reg``) and by register (the cell
    name without the packer's suffixes and bit indices). Read from ``detailed_net_timings``
    (nextpnr ``--detailed-timing-report``: each endpoint's arrival, setup time not included,
    so a few endpoints just under the period may fail too). None without that section.

    Returns ``{"endpoints": n, "late": n, "worst_ns": t, "units": [[unit, n, worst], ...],
    "registers": [[register, n, worst], ...]}``, the ``top`` largest groups of each."""
    nets = pnr_report.get("detailed_net_timings")
    if nets is None:
        return None
    arrival: dict[tuple[str, str], float] = {}
    for net in nets:
        for ep in net.get("endpoints", []):
            key = (ep["cell"], ep["port"])
            d = ep["delay"]     # [min, max] in nextpnr 0.11, one number before
            d = max(d) if isinstance(d, list) else d
            arrival[key] = max(arrival.get(key, 0.0), float(d))
    units: dict[str, list] = {}
    regs: dict[str, list] = {}
    late = 0
    for (cell, _port), t in arrival.items():
        if t <= period_ns:
            continue
        late += 1
        reg = _register(cell)
        unit = reg.rsplit(".", 1)[0] if "." in reg else "(top)"
        for groups, name in ((units, unit), (regs, reg)):
            g = groups.setdefault(name, [name, 0, 0.0])
            g[1] += 1
            g[2] = max(g[2], round(t, 2))

    def largest(groups):
        return sorted(groups.values(), key=lambda g: (-g[1], -g[2], g[0]))[:top]
    return {"endpoints": len(arrival), "late": late, "period_ns": period_ns,
            "worst_ns": round(max(arrival.values(), default=0.0), 2),
            "units": largest(units), "registers": largest(regs)}


def format_report(r: dict) -> str:
    cfg = r["config"]
    lines = [
        f"EXION FPGA build: {r['top']} {cfg['rows']}x{cfg['cols']}, lanes {cfg['lanes']}, "
        f"merge {cfg['merge_degree']}, data {cfg['data_width']} bit, banks "
        f"{cfg['imem_bank_bytes']}/{cfg['wmem_bank_bytes']}/{cfg['omem_bank_bytes']} B",
        f"board {r['board']} ({r['part']}), status: {r['status']}"
        + (f" ({r['message']})" if r["message"] else ""),
    ]
    for title, util in (("utilization (nextpnr, placed and routed):", r["utilization"]),
                        ("synthesized (yosys, before packing):", r.get("synth_estimate"))):
        if not util:
            continue
        lines.append(title)
        for k, name in LABELS.items():
            u = util[k]
            pct = 100.0 * u["used"] / u["available"] if u["available"] else 0.0
            lines.append(f"  {name:<11} {u['used']:>7} / {u['available']:<7} {pct:5.1f} %")
        if r["utilization"]:
            break   # the placed figures are the ones that count
    if r.get("soft_multipliers"):
        lines.append(f"multipliers in logic (booth): {r['soft_multipliers']}")
    if r["fmax_mhz"] is not None:
        lines.append(f"Fmax {r['fmax_mhz']} MHz (target {r['target_mhz']:g} MHz: "
                     f"{'met' if r['timing_met'] else 'not met'}; board clock 25 MHz)")
    if r.get("critical_path"):
        c = r["critical_path"]
        lines.append(f"critical path {c['delay_ns']} ns, {c['logic_cells']} logic cells: "
                     f"{c['from']} -> {c['to']}")
    le = r.get("late_endpoints")
    if le:
        lines.append(f"endpoints later than {le['period_ns']:g} ns: {le['late']} of "
                     f"{le['endpoints']} (latest arrival {le['worst_ns']} ns); largest groups:")
        for title, key in (("unit", "units"), ("register", "registers")):
            for name, n, worst in le[key]:
                lines.append(f"  {title:<8} {n:>6}  {worst:6.2f} ns  {name}")
    t = r["times_s"]
    lines.append("wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
    if r.get("cpu_s"):
        lines.append("CPU time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["cpu_s"].items()))
    lines.append("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(r["tools"].items())))
    if r["command"]:
        lines.append(f"command: {r['command']}")
    return "\n".join(lines) + "\n"
