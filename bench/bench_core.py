"""End-to-end figures of the EXION core, driven through AXI4-Lite + AXI-Stream (Verilator):

* dense GEMM of many row groups over one weight tile with loads and reads overlapped:
  wall-clock MAC utilization, against the SDUE-only bound of golden.cycle_model;
* the FFN-Reuse loop: dense vs sparse iteration cycles next to the ideal 1 / (1 - sparsity),
  on synthetic data and on a real keep-mask of the trained DiT (data/traces);
* eager prediction: PREDICT / SCHEDULE / sparse GEMM cycles against golden.cycle_model.

    .venv/bin/python bench/bench_core.py [--quick | --only small|exion|exion-3buf]
        (all three: ~20 min on 2 cores, mostly two 16x16 Verilator builds; --quick: ~1 min)

Every cycle count printed is also asserted by the bench it comes from (sim/tb_core.py): the
CYCLES register of each command equals golden.cycle_model exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from golden import cycle_model  # noqa: E402
from sim.runner import run_bench  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(label, cfg, env):
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "core.json"
        # no random bus pauses here: the figures are wall-clock cycles
        env = dict(env, EXION_CORE_REPORT=str(report), EXION_CORE_PAUSE="0",
                   EXION_CORE_TESTS="throughput,ffn_reuse,trace_ffn,eager")
        log(f"[{label}] building (Verilator) and running the core ...")
        t0 = time.perf_counter()
        run_bench(cfg, "core", "verilator", "sim.tb_core", extra_env=env)
        log(f"[{label}] done in {time.perf_counter() - t0:.0f} s")
        return json.loads(report.read_text())


def show(label, cfg, rep):
    peak = cfg.rows * cfg.cols * cfg.lanes
    t = rep["throughput"]
    steps = t["tiles"] * t["groups"]
    ii = cycle_model.issue_interval(t["k"], cfg)
    # the SDUE alone with no gap between commands: every block of every GEMM back to back
    sdue = cycle_model.compute_cycles(steps * t["blocks"], t["k"], cfg)
    print(f"\n## {label}: {cfg.rows}x{cfg.cols}, {cfg.lanes} lanes, merge {cfg.merge_degree}, "
          f"buffers {cfg.imem_buffers}/{cfg.wmem_buffers}/{cfg.omem_buffers}, "
          f"peak {peak} MACs/cycle")
    print(f"dense GEMM {t['tokens']} tokens x K {t['k']} x N {t['tiles'] * t['n']}: "
          f"{t['tiles']} weight tiles x {t['groups']} row groups = {steps} GEMM commands of "
          f"{t['blocks']} blocks; weights, tokens and outputs all streamed during compute")
    ft = t["frame_times"]
    period = (ft[-1] - ft[0]) / (len(ft) - 1)
    group_macs = cfg.rows * t["k"] * t["n"]
    print(f"  steady state: one row group's outputs every {period:.1f} cycles (array-bound "
          f"{t['blocks'] * ii} = {t['blocks']} blocks x II {ii}): MAC utilization "
          f"{group_macs / (period * peak):.1%}")
    print(f"  whole run, first GEMM issued -> last output read: {t['wall']} cycles, MAC "
          f"utilization {t['macs'] / (t['wall'] * peak):.1%} (SDUE alone, all blocks back to "
          f"back: {sdue} cycles, {t['macs'] / (sdue * peak):.1%}; the rest is the idle cycles "
          f"between commands and filling and emptying the load/compute/read pipeline)")
    print(f"  before it: first weight tile + first row group loaded in {t['first_load']} cycles")
    f = rep["ffn_reuse"]
    dense = next(r for r in f if r["dense"])
    print("FFN-Reuse FC1 loop (cycles = CYCLES register = golden.cycle_model):")
    print("  iter  kind    sparsity  blocks  GEMM cycles  +SCHEDULE  speedup  ideal 1/(1-s)")
    for r in f:
        if r["dense"]:
            print(f"  {r['t']:>4}  dense   {'':>8}  {'':>6}  {r['cycles']:>11}  {'':>9}  "
                  f"{'1.00x':>7}")
        else:
            s = r["sparsity"]
            print(f"  {r['t']:>4}  sparse  {s:>8.1%}  {r['blocks']:>6}  {r['cycles']:>11}  "
                  f"{r['cycles'] + r['schedule']:>9}  "
                  f"{dense['cycles'] / r['cycles']:>6.2f}x  {1 / (1 - s):>12.2f}x")
    tr = rep["trace_ffn"]
    s = tr["sparsity"]
    print(f"real FFN-Reuse keep-mask (trained DiT, data/traces #{tr['trace']}, {cfg.rows} tokens "
          f"x {tr['n']} channels, K {tr['k']}): sparsity {s:.1%}; dense {tr['dense_blocks']} "
          f"blocks {tr['dense']} cycles, sparse {tr['blocks']} blocks {tr['sparse']} cycles "
          f"(+ SCHEDULE {tr['schedule']}): speedup {tr['dense'] / tr['sparse']:.2f}x "
          f"({tr['dense'] / (tr['sparse'] + tr['schedule']):.2f}x with the schedule), "
          f"ideal {1 / (1 - s):.2f}x")
    e = rep["eager"]
    p_model = cycle_model.predict_cycles(e['keys'], e['kc'], operand_stages=cfg.operand_stages)
    print(f"eager head: {e['keys']} keys, kc {e['kc']}: PREDICT {e['predict']} cycles "
          f"(model {p_model}), SCHEDULE {e['schedule']}, "
          f"sparse QK^T {e['blocks']} blocks {e['gemm']} cycles; {e['kept']} of "
          f"{e['keys'] * cfg.rows} scores kept, {e['dominant']} dominant queries")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the small 4x4 configuration")
    ap.add_argument("--only", choices=("small", "exion", "exion-3buf"),
                    help="run one configuration")
    args = ap.parse_args()
    small = preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                   omem_bank_bytes=96, schedule_depth=16)
    runs = [("small", "4x4 test configuration", small,
             {"EXION_CORE_GROUPS": "24", "EXION_CORE_TILES": "3",
              "EXION_CORE_FFN_KEEP": "0.2"})]
    if not args.quick:
        # One WMEM buffer holds 256 words per bank: kc 16 (K 256) gives 16 blocks of 16
        # chunks, 256 SDUE cycles per row group against 256 IMEM beats in and 256 OMEM beats
        # out; a weight tile is 4096 beats, hidden behind 16 or more row groups
        # (docs/core.md, "Keeping the array busy").
        env = {"EXION_CORE_GROUPS": "20", "EXION_CORE_TILES": "2", "EXION_CORE_KC": "16",
               "EXION_CORE_FFN_KEEP": "0.2",
               "EXION_CORE_FFN_K": "384", "EXION_CORE_FFN_N": "256"}
        runs.append(("exion", "EXION preset (IMEM/WMEM/OMEM buffers 2/3/2)", preset("exion"),
                     env))
        # Input and output streams are each as busy as the array at kc 16: a third IMEM and
        # OMEM buffer gives loads and reads a row group of slack.
        runs.append(("exion-3buf", "EXION preset with 3/3/3 buffers",
                     preset("exion", imem_buffers=3, omem_buffers=3), env))
    print("# EXION core end to end (Verilator, cocotbext-axi host)")
    for key, label, cfg, env in runs:
        if args.only and key != args.only:
            continue
        show(label, cfg, run(label, cfg, env))


if __name__ == "__main__":
    main()
