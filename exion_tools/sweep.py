"""Design-space sweep: area (Yosys, per-module flow, ASIC transistors) against SDUE cycles.

Every grid point (rows, cols, lanes, merge degree) is elaborated as the default generator top
and synthesized with ``exion_tools.synth``'s ASIC flow; "area" is its transistor estimate (logic,
flip-flops and SRAM bit cells, ``docs/synthesis.md``). Its cycles are
``golden.cycle_model.compute_cycles`` of the CAU's ``greedy`` ConMerge schedule for the first
FFN layer of DiT-XL, ``(256 x 1152) @ (1152 x 4608)``, summed over four fixed synthetic keep-masks
(``golden.conmerge.synthetic_mask``, seed 0): uniform and column-structured, 80 % and 95 %
sparse. Yosys runs share one pool (``--jobs`` processes, default one per core), and a module
that several points share (the DPU of the same lanes and merge degree, memory banks) is
synthesized once. Writes ``sweep.csv`` and ``sweep_pareto.png`` (Pareto front of area and
cycles highlighted) into ``--out``.

    exion sweep [--out build] [--jobs N] [--quick]     (or python -m exion_tools.sweep)
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path

from exion.config import preset
from exion.util import atomic_write
from .synth import Runner, SynthDesign, collect, elaborate
from golden.conmerge import schedule, synthetic_mask
from golden.cycle_model import evaluate

#: (rows, cols, lanes, merge degree); everything else is the EXION preset.
GRID = (
    (4, 4, 16, 2),
    (8, 8, 8, 2),
    (8, 8, 16, 1),
    (8, 8, 16, 2),
    (8, 8, 16, 4),
    (8, 16, 16, 2),
    (12, 12, 16, 2),
    (16, 16, 8, 2),
    (16, 16, 16, 1),
    (16, 16, 16, 2),
)
QUICK_GRID = ((2, 2, 4, 1), (2, 2, 4, 2), (4, 4, 4, 2))

M, K, N = 256, 1152, 4608
MASKS = (("u80", "uniform", 0.80), ("u95", "uniform", 0.95),
         ("c80", "column", 0.80), ("c95", "column", 0.95))
SEED = 0

FIELDS = ("label", "rows", "cols", "lanes", "merge_degree", "dpus", "peak_macs_per_cycle",
          "gates", "ffs", "logic_tr", "ff_tr", "mem_bits", "sram_tr", "area_tr",
          *[f"cycles_{m[0]}" for m in MASKS], "cycles", "total_cycles", "utilization",
          "pareto")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def label(p) -> str:
    r, c, lanes, merge = p
    return f"{r}x{c} l{lanes} m{merge}"


def cycles_for(cfg, masks) -> dict:
    """Compute cycles of the greedy (CAU) schedule per mask, their sum, the sum with the
    off-chip bound (``total_cycles``) and the mean utilization."""
    out, total, util = {}, 0, 0.0
    for name, mask in masks.items():
        r = evaluate(schedule(mask, cfg, "greedy"), mask, K)
        out[f"cycles_{name}"] = r.compute_cycles
        total += r.total_cycles
        util += r.utilization
    out["cycles"] = sum(out.values())
    out["total_cycles"] = total
    out["utilization"] = round(util / len(masks), 4)
    return out


def pareto(rows: list[dict]) -> None:
    """Mark rows no other row beats in both area and cycles (``pareto`` = 1)."""
    for a in rows:
        a["pareto"] = int(not any(
            b["area_tr"] <= a["area_tr"] and b["cycles"] <= a["cycles"]
            and (b["area_tr"] < a["area_tr"] or b["cycles"] < a["cycles"]) for b in rows))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [r["area_tr"] / 1e6 for r in rows]
    ys = [r["cycles"] / 1e3 for r in rows]
    ax.scatter(xs, ys, c=["tab:red" if r["pareto"] else "tab:gray" for r in rows], zorder=3)
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["area_tr"])
    ax.plot([r["area_tr"] / 1e6 for r in front], [r["cycles"] / 1e3 for r in front],
            color="tab:red", lw=1.5, label="Pareto front", zorder=2)
    for r, x, y in zip(rows, xs, ys):
        ax.annotate(r["label"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    ax.set_xlabel("area: ASIC transistor estimate, millions (logic + FF + SRAM)")
    ax.set_ylabel(f"SDUE cycles, thousands ({len(MASKS)} FFN masks, greedy ConMerge)")
    ax.set_title(f"EXION design space: ({M} x {K}) @ ({K} x {N}), 80 / 95 % sparse masks")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="exion sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="parallel Yosys processes (default: one per core)")
    ap.add_argument("--quick", action="store_true", help="three tiny points (a smoke test)")
    args = ap.parse_args(argv)
    if not 1 <= args.jobs <= 256:
        ap.error(f"--jobs = {args.jobs} is out of range [1, 256]")
    out = Path(args.out)
    grid = QUICK_GRID if args.quick else GRID
    t0 = time.perf_counter()
    progress(f"sweep: {len(grid)} points, {args.jobs} Yosys processes")

    runner = Runner(args.jobs, None, None)
    designs = []
    try:
        # Elaborate every point and queue its Yosys runs; the pool works while the next
        # point elaborates. Largest arrays first: their long runs should start early.
        for p in sorted(grid, key=lambda p: -(p[0] * p[1] * p[2])):
            r, c, lanes, merge = p
            cfg = preset("exion", rows=r, cols=c, lanes=lanes, merge_degree=merge)
            d = SynthDesign(label(p), cfg, _default_top(), ("asic",))
            elaborate(d)
            runner.submit_design(d)
            designs.append((p, d))
            progress(f"  elaborated {label(p):<14} ({d.elaborate_s:.0f} s, "
                     f"{len(runner.memo)} Yosys runs queued)")
        masks = {name: synthetic_mask(M, N, s, kind, seed=SEED) for name, kind, s in MASKS}
        cycles = {}
        for p, d in designs:
            cycles[p] = cycles_for(d.cfg, masks)
        rows = []
        for i, (p, d) in enumerate(designs):
            res = collect(d)
            a = res["total"]["asic"]
            row = {"label": label(p), "rows": p[0], "cols": p[1], "lanes": p[2],
                   "merge_degree": p[3], "dpus": d.cfg.dpus,
                   "peak_macs_per_cycle": d.cfg.peak_macs_per_cycle,
                   "gates": a["cells"], "ffs": a["ffs"], "logic_tr": a["logic_tr"],
                   "ff_tr": a["ff_tr"], "mem_bits": a["mem_bits"], "sram_tr": a["sram_tr"],
                   "area_tr": a["total_tr"], **cycles[p]}
            rows.append(row)
            progress(f"  [{i + 1:>2}/{len(designs)}] {row['label']:<14} area "
                     f"{row['area_tr'] / 1e6:7.2f} M Tr, cycles {row['cycles']:>8} "
                     f"(utilization {row['utilization']:.1%})  at {time.perf_counter() - t0:.0f} s")
    finally:
        runner.close()
    pareto(rows)
    rows.sort(key=lambda r: (r["area_tr"], r["cycles"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sweep.csv", buf.getvalue())
    plot(rows, out / "sweep_pareto.png")
    print(f"{'point':<14} {'area M Tr':>10} {'cycles':>9} {'util':>6}  pareto")
    for r in rows:
        print(f"{r['label']:<14} {r['area_tr'] / 1e6:>10.2f} {r['cycles']:>9} "
              f"{r['utilization']:>6.1%}  {'*' if r['pareto'] else ''}")
    print(f"wrote {out / 'sweep.csv'}")
    print(f"wrote {out / 'sweep_pareto.png'}")
    print(f"sweep: {len(rows)} points in {time.perf_counter() - t0:.0f} s")
    return 0


def _default_top() -> str:
    from hw.generate import DEFAULT_TOP
    return DEFAULT_TOP


if __name__ == "__main__":
    sys.exit(main())
