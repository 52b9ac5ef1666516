"""Whole-run dense GEMM MAC utilization with every operand and result through the core's AXI4
master port (``MEM`` commands, hw/core_dma.py), Verilator, against cocotbext-axi's AxiRam
(read latency 2 cycles, write response 2: sim/dma_harness.py), no pauses.

    .venv/bin/python bench/bench_core_dma.py [--config 4x4|exion] [--groups G] [--tiles T]
        [--bus-width BITS] [--no-pack]

The case is sim/tb_core_dma.py's ``throughput`` (weight-stationary: the next tile's weights,
the next group's tokens and the previous group's outputs move while the array computes; the
outputs and every register are checked against the golden model). The baseline is the same
case through the AXI-Streams (bench/bench_core.py, ``throughput``); the ideal is the SDUE with
every block back to back (golden.cycle_model.compute_cycles), the compute-bound cycle count, and
the bench prints the whole run's ratio to it. The whole run also holds, once, the host's
AXI4-Lite writes of the first GEMM, the last GEMM's drain and the last group's output read:
a run of more groups (``--groups 64``) spreads them thinner. The breakdown says where the
port's cycles go: R beats of token (IMEM) and weight (WMEM) bursts, W beats, cycles with both
loads' bursts in flight, and the SDUE's busy cycles (BUSY_CYCLES) against the wall.
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
from exion.limits import (CORE_MEM_WAYS, CORE_READ_BURST,  # noqa: E402
                          CORE_WRITE_OUTSTANDING, DMA_READ_OUTSTANDING)
from golden import core_mem, cycle_model, dma  # noqa: E402
from sim.runner import run_bench  # noqa: E402

CONFIGS = {
    "4x4": preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                  omem_bank_bytes=96, schedule_depth=16, name="exion"),
    "exion": preset("exion"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="exion",
                    help="core configuration (exion: the 16x16 preset; 4x4: the small test one)")
    ap.add_argument("--groups", type=int, default=6, help="row groups per weight tile (6)")
    ap.add_argument("--tiles", type=int, default=2, help="weight tiles (2)")
    ap.add_argument("--bus-width", type=int, default=None,
                    help="AXI data bits of the master port (the configuration's: 256)")
    ap.add_argument("--no-pack", action="store_true",
                    help="outputs one per bus-word row (READ_OMEM without PACK)")
    a = ap.parse_args(argv)
    if not 1 <= a.groups <= 64 or not 1 <= a.tiles <= 3:
        # (sim/tb_core_dma.py's memory layout: 3 weight tiles, 64 groups' tokens)
        print(f"bench_core_dma: groups = {a.groups} must be in [1, 64] and tiles = {a.tiles} "
              f"in [1, 3]", file=sys.stderr)
        return 2
    cfg = CONFIGS[a.config]
    if a.bus_width is not None:
        try:
            cfg = cfg.replace(bus_width=a.bus_width)
        except ValueError as e:
            print(f"bench_core_dma: {e}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "dma.json"
        env = {"EXION_CORE_REPORT": str(report), "EXION_CORE_PAUSE": "0",
               "EXION_CORE_GROUPS": str(a.groups), "EXION_CORE_TILES": str(a.tiles),
               "EXION_CORE_PACK": "0" if a.no_pack else "1"}
        t0 = time.perf_counter()
        print(f"[{a.config}] building (Verilator) and running the core ...", file=sys.stderr,
              flush=True)
        run_bench(cfg, "core", "verilator", "sim.tb_core_dma", testcase="throughput",
                  extra_env=env)
        print(f"[{a.config}] done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        r = json.loads(report.read_text())
    peak = cfg.rows * cfg.cols * cfg.lanes
    steps = r["groups"] * r["tiles"]
    sdue = cycle_model.compute_cycles(steps * r["blocks"], r["k"], cfg)
    ib = -(-cfg.lanes * cfg.data_width // 8)
    print(f"## {a.config}: {cfg.rows}x{cfg.cols}, {cfg.lanes} lanes, bus {cfg.bus_width} bits "
          f"({cfg.bus_bytes} B/beat), load item {ib} B, memory latency 2 cycles (AxiRam)")
    wall = r["wall"]
    print(f"dense GEMM {r['groups'] * cfg.rows} tokens x K {r['k']} x N {r['tiles'] * r['n']}: "
          f"{r['tiles']} tiles x {r['groups']} groups = {steps} GEMMs of {r['blocks']} blocks, "
          f"all data through m_axi; outputs {'packed (PACK)' if r['pack'] else 'one per row'}")
    print(f"  whole run: {r['wall']} cycles, MAC utilization "
          f"{r['macs'] / (r['wall'] * peak):.1%}; ideal (compute-bound, the SDUE alone): "
          f"{sdue} cycles, {r['macs'] / (sdue * peak):.1%}; ideal / whole run "
          f"{sdue / r['wall']:.1%} ({r['wall'] - sdue} cycles over)")
    print(f"  port bytes in {r['bytes_in']}, out {r['bytes_out']} "
          f"({(r['bytes_in'] + r['bytes_out']) / r['wall']:.1f} B/cycle); write bursts in "
          f"flight {CORE_WRITE_OUTSTANDING}, read {DMA_READ_OUTSTANDING} x {CORE_READ_BURST} "
          f"beats per read engine")
    r_beats = r["r_token"] + r["r_weight"]
    print(f"  where the cycles go (of {wall}): SDUE busy {r['sdue_busy']} "
          f"({r['sdue_busy'] / wall:.1%}); R beats {r_beats} ({r_beats / wall:.1%}: tokens "
          f"{r['r_token']}, weights {r['r_weight']}); W beats {r['w']} ({r['w'] / wall:.1%}); "
          f"both loads in flight {r['both_in_flight']} ({r['both_in_flight'] / wall:.1%})")
    # each command alone (golden.core_mem: the cycles MEM_RD_CYCLES / MEM_WR_CYCLES would show)
    kc, ob = r["k"] // cfg.lanes, -(-cfg.rows * cfg.data_width // 8)
    bb, lat = cfg.bus_bytes, 2 + core_mem.READ_FIFO_DELAY
    row = lambda nbytes: -(-nbytes // bb) * bb                    # noqa: E731
    x_load = core_mem.load_cycles(dma.Descriptor(0, kc * ib, cfg.rows, row(kc * ib)), bb, ib,
                                  kc, lat, max_burst=CORE_READ_BURST, ways=CORE_MEM_WAYS)
    w_load = core_mem.load_cycles(dma.Descriptor(0, r["blocks"] * kc * ib, cfg.cols,
                                                 row(r["blocks"] * kc * ib)), bb, ib,
                                  r["blocks"] * kc, lat, max_burst=CORE_READ_BURST)
    y_read = (core_mem.read_cycles(dma.Descriptor(0, r["n"] * ob, 1, 0), bb, 2, ob, r["n"],
                                   CORE_MEM_WAYS) if r["pack"] else
              core_mem.read_cycles(dma.Descriptor(0, ob, r["n"], row(ob)), bb, 2))
    gemm = cycle_model.compute_cycles(r["blocks"], r["k"], cfg)
    print(f"  per GEMM, each alone: compute {gemm} cycles; its tokens' MEM load {x_load} "
          f"({x_load / gemm:.2f} x); its outputs' MEM read {y_read} ({y_read / gemm:.2f} x); "
          f"a weight tile's load {w_load} ({w_load / (gemm * r['groups']):.2f} x the "
          f"{r['groups']} GEMMs it serves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
