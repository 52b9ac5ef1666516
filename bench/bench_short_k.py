"""Short reductions: dense SDUE utilization against K for 1, 2, 4 and 8 drain ports,
the effect on the trained DiT's sparse Q K^T (eager masks, data/traces), and an RTL point.

    .venv/bin/python bench/bench_short_k.py                   (cycle model only, seconds)
    .venv/bin/python bench/bench_short_k.py --rtl small       (+ a 4 x 8 RTL run, Verilator)
    .venv/bin/python bench/bench_short_k.py --rtl exion       (+ the 16 x 16 preset, minutes)

The figures come from ``golden.cycle_model``, which tests/test_sdue.py and tests/test_core.py
hold equal to the RTL's busy-cycle counters; ``--rtl`` re-measures points on the RTL here.
Utilization = required MACs / (cycles * rows * cols * lanes), one row group per run as the
core issues it (a GEMM command is one row group of ``rows`` tokens).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from golden import conmerge, cycle_model  # noqa: E402
from golden.intsem import lane_chunks  # noqa: E402

KS = (32, 64, 128, 256, 1152)
PORTS = (1, 2, 4, 8)
N_CHANNELS = 1152  # output channels of the dense GEMM (72 blocks of 16 per row group)


def dense_util(cfg, k: int, n: int = N_CHANNELS) -> float:
    blocks = -(-n // cfg.cols)
    cycles = cycle_model.compute_cycles(blocks, k, cfg)
    return cfg.rows * n * k / (cycles * cfg.peak_macs_per_cycle)


def dense_table():
    base = preset("exion")
    print(f"# Dense SDUE utilization, {base.rows}x{base.cols}, {base.lanes} lanes, pipeline "
          f"depth {base.pipeline_depth}, one row group x {N_CHANNELS} channels")
    print(f"{'K':>6} {'kc':>4} " + " ".join(f"{'D=' + str(d):>14}" for d in PORTS))
    for k in KS:
        cells = []
        for d in PORTS:
            cfg = base.replace(drain_ports=d)
            cells.append(f"{dense_util(cfg, k):6.1%} (II {cycle_model.issue_interval(k, cfg):2d})")
        print(f"{k:>6} {lane_chunks(k, base.lanes):>4} " + " ".join(f"{c:>14}" for c in cells))
    print("DiT-XL/2 Q K^T, K = 72: " + ", ".join(
        f"D={d} {dense_util(base.replace(drain_ports=d), 72):.1%}" for d in PORTS))


def eager_table(limit: int):
    from workload import paths, traces

    tdir = Path(paths.TRACES)
    if not (tdir / "index.json").exists():
        print(f"\n(no traces in {tdir}: no sparse Q K^T figures)")
        return
    kind = traces.load_traces(tdir).kinds["eager"]
    masks = kind.masks()
    idx = np.unique(np.linspace(0, kind.count - 1, min(limit, kind.count)).round().astype(int))
    k = int(kind.gemm.get("K", 32))
    base = preset("exion")
    print(f"\n# Sparse Q K^T of the trained DiT: {len(idx)} of {kind.count} eager masks "
          f"({kind.rows} x {kind.cols}, K = {k}, element sparsity {1 - masks.mean():.1%}), "
          f"greedy ConMerge degree {base.merge_degree}, cycles summed over masks")
    print(f"{'D':>3} {'dense cyc':>10} {'dense util':>10} {'greedy cyc':>10} {'greedy util':>11} "
          f"{'vs dense D=1':>12}")
    ref = None
    for d in PORTS:
        cfg = base.replace(drain_ports=d)
        dense = sparse = req_all = req_kept = 0
        for i in idx:
            mask = masks[i]
            for strat in ("dense", "greedy"):
                rep = cycle_model.evaluate(conmerge.schedule(mask, cfg, strat), mask, k,
                                           check=False)
                if strat == "dense":
                    dense += rep.compute_cycles
                    req_all += mask.size * k
                else:
                    sparse += rep.compute_cycles
                    req_kept += rep.required_macs
        ref = ref or dense
        peak = cfg.peak_macs_per_cycle
        print(f"{d:>3} {dense:>10} {req_all / (dense * peak):>10.1%} {sparse:>10} "
              f"{req_kept / (sparse * peak):>11.1%} {ref / sparse:>11.2f}x")


def rtl_point(which: str):
    from sim import runner

    if which == "exion":
        cfg = preset("exion")
        cases = [dict(strategy="dense", tokens=cfg.rows, channels=8 * cfg.cols, k=64, sparsity=0.0,
                      mask="ones", seed=3, shift=8)]
    else:
        cfg = preset("exion", rows=4, cols=8, lanes=4, drain_ports=2, adder_stages=0)
        cases = [dict(strategy="dense", tokens=cfg.rows, channels=16 * cfg.cols, k=8,
                      sparsity=0.0, mask="ones", seed=3, shift=8)]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        env = {"EXION_SDUE_CASES": json.dumps(cases), "EXION_SDUE_REPORT": str(report)}
        runner.run_bench(cfg, "sdue_top", "verilator", "sim.tb_sdue", extra_env=env)
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    print(f"\n# RTL (Verilator), {cfg.rows}x{cfg.cols}, {cfg.lanes} lanes, drain_ports "
          f"{cfg.drain_ports}: busy cycles of sim/tb_sdue.py against the cycle model")
    for r in rows:
        util = r["active"] * r["k"] / (r["cycles"] * cfg.peak_macs_per_cycle)
        d1 = cycle_model.compute_cycles(r["blocks"], r["k"], cfg.replace(drain_ports=1))
        print(f"K={r['k']} N={r['channels']}: {r['blocks']} blocks, RTL {r['cycles']} cycles, "
              f"model {r['model']}, utilization {util:.1%} (drain_ports 1: {d1} cycles, "
              f"{r['active'] * r['k'] / (d1 * cfg.peak_macs_per_cycle):.1%})")
        assert r["cycles"] == r["model"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rtl", choices=["none", "small", "exion"], default="none")
    p.add_argument("--max-masks", type=int, default=48)
    args = p.parse_args(argv)
    dense_table()
    eager_table(args.max_masks)
    if args.rtl != "none":
        rtl_point(args.rtl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
