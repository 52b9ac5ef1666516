"""RTL figures for the datapath: generation time and size of the 16 x 16 Verilog, Verilator
build time, simulated cycles per second under Icarus and Verilator, and SDUE cycles measured on
the RTL for dense vs ConMerged GEMMs at 80/90/95/97 % sparsity against the ideal.

    .venv/bin/python bench/bench_rtl.py            (about 5 minutes on 2 cores)

Every RTL cycle count printed here is also checked against golden.cycle_model by the bench it
comes from (sim/tb_sdue.py); the ratio columns use the dense run of the same process as
baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from hw.generate import verilog_text  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    cfg = preset("exion")
    print(f"# RTL benchmark, EXION preset: {cfg.rows}x{cfg.cols}, {cfg.lanes} lanes, "
          f"merge degree {cfg.merge_degree}, {cfg.adder_stages} adder stage(s)")

    t0 = time.perf_counter()
    text = verilog_text(cfg)
    gen = time.perf_counter() - t0
    lines = text.count("\n")
    mods = sum(1 for line in text.splitlines() if line.startswith("module "))
    print(f"generate 16x16 Verilog: {gen:.1f} s, {lines} lines, {len(text) / 1e6:.2f} MB, "
          f"{mods} module definitions")

    # Fresh builds in a private folder so that build times are real.
    tmp = Path(tempfile.mkdtemp(prefix="exion-bench-"))
    os.environ["EXION_SIM_BUILD"] = str(tmp)
    import importlib

    import sim.runner as runner
    importlib.reload(runner)
    report = tmp / "cycles.jsonl"
    rows = []
    sparsities = (0.0, 0.8, 0.9, 0.95, 0.97)
    cases = []
    for i, s in enumerate(sparsities):
        strategies = ["dense"] if s == 0.0 else ["dense", "greedy", "ffd"]
        for strat in strategies:
            cases.append(dict(strategy=strat, tokens=cfg.rows, channels=8 * cfg.cols,
                              k=24 * cfg.lanes, sparsity=s, mask="ones" if s == 0 else "column",
                              seed=100 + i, shift=8))
    timing = {}
    for sim in ("verilator", "icarus"):
        # Icarus simulates this array at tens of cycles per second while WMEM is loaded, so
        # it runs the first cases only (its cycle counts are checked by the same bench).
        run_cases = cases if sim == "verilator" else cases[:1]
        env = {"EXION_SDUE_CASES": json.dumps(run_cases), "EXION_SDUE_REPORT": str(report)}
        log(f"building and running the 16x16 SDUE under {sim} ...")
        report.unlink(missing_ok=True)
        t0 = time.perf_counter()
        folder, module = runner.design_dir(cfg, "sdue_top")
        t1 = time.perf_counter()
        xml = runner.run_bench(cfg, "sdue_top", sim, "sim.tb_sdue", extra_env=env)
        t2 = time.perf_counter()
        results = [json.loads(line) for line in report.read_text().splitlines()]
        import xml.etree.ElementTree as ET
        tree = ET.parse(xml)
        props = {p.get("name"): p.get("value") for p in tree.iter("property")}
        sim_ns = float(props["sim_time_duration"])
        wall = float(next(tree.iter("testcase")).get("time"))
        # build = everything but the simulation itself (elaboration is cached by design_dir)
        timing[sim] = (t2 - t1 - wall, wall, sim_ns / 10 / wall)
        if sim == "verilator":
            rows = results
    print()
    print("cycles/s counts every clock of the bench, host loads included (cocotb drives each)")
    print(f"{'simulator':<10} {'build s':>8} {'sim s':>7} {'cycles/s':>9}")
    for sim, (build, wall, cps) in timing.items():
        print(f"{sim:<10} {build:>8.1f} {wall:>7.1f} {cps:>9.0f}")

    print()
    print("SDUE cycles measured on the RTL (Verilator run; each equals the cycle model), one row group of "
          f"{cfg.rows} tokens x {8 * cfg.cols} channels, K = {24 * cfg.lanes}")
    head = (f"{'sparsity':>8} {'strategy':<9} {'blocks':>6} {'RTL cyc':>8} {'model':>6} "
            f"{'ideal':>6} {'util':>6} {'vs dense':>8}")
    print(head)
    print("-" * len(head))
    dense = {}
    for r in rows:
        if r["strategy"] == "dense":
            dense[r["sparsity"]] = r["cycles"]
    for r in rows:
        ideal = r["active"] * r["k"] / cfg.peak_macs_per_cycle
        util = r["active"] * r["k"] / (r["cycles"] * cfg.peak_macs_per_cycle) if r["cycles"] else 0
        base = dense.get(r["sparsity"])
        print(f"{r['sparsity']:>8.0%} {r['strategy']:<9} {r['blocks']:>6} {r['cycles']:>8} "
              f"{r['model']:>6} {ideal:>6.1f} {util:>6.1%} "
              f"{base / r['cycles'] if r['cycles'] else float('nan'):>8.2f}")
    shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("Large-GEMM view from the cycle model the RTL matches (DiT-XL FFN1: 256 x 4608, "
          "K = 1152): see bench/bench_cycle_model.py")


if __name__ == "__main__":
    main()
