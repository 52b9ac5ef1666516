"""Read bandwidth of the AXI4 master (hw/dma.py) under Verilator: bytes per cycle against the
bus width (the ideal, one full beat per cycle), for a few row lengths and memory latencies.

    .venv/bin/python bench/bench_dma.py                  (about 1 minute on 2 cores)
    .venv/bin/python bench/bench_dma.py --bus-width 128

Each read moves 8 KiB as rows, one descriptor (rows back to back, or with a one-word gap so
that every row is its own bursts), from
cocotbext-axi's AxiRam behind a fixed-latency delay line, with no pauses (sim/tb_dma.py,
``bandwidth``). Cycles run from the descriptor's handshake to the last word's, so the start-up
latency is included. Every measured cycle count is also checked against
``golden.dma.read_timing`` by the bench it comes from; the "golden" column is that model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import INT_RANGES, ConfigError, preset  # noqa: E402
from exion.limits import DMA_READ_OUTSTANDING  # noqa: E402

TOTAL = 8192
ROW_BYTES = (64, 256, 1024, 8192)
#: Delays of the memory model's delay line (cycles); the latency adds AxiRam's own.
DELAYS = (0, 30, 126)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lo, hi = INT_RANGES["bus_width"]
    p.add_argument("--bus-width", type=int, default=preset("exion").bus_width,
                   help=f"AXI data bits, a power of two in [{lo}, {hi}] (default: the exion "
                        f"preset's)")
    args = p.parse_args(argv)
    try:
        cfg = preset("exion", rows=2, cols=2, lanes=2, bus_width=args.bus_width)
    except ConfigError as e:
        p.error(str(e))
    bb = cfg.bus_bytes
    # Rows back to back (one run of bursts) and rows with a one-word gap (bursts per row).
    cases = [[rb, TOTAL // rb, d, gap] for d in DELAYS for gap in (0, bb) for rb in ROW_BYTES
             if not (gap and rb == TOTAL)]
    import sim.runner as runner
    with tempfile.TemporaryDirectory(prefix="exion-dma-bench-") as tmp:
        report = Path(tmp) / "dma.jsonl"
        env = {"EXION_DMA_CASES": json.dumps(cases), "EXION_DMA_REPORT": str(report)}
        runner.run_bench(cfg, "dma", "verilator", "sim.tb_dma", testcase="bandwidth",
                         extra_env=env)
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    print(f"# AXI4 master read bandwidth, Verilator: bus {cfg.bus_width} bits ({bb} B/beat, "
          f"ideal {bb} B/cycle), {DMA_READ_OUTSTANDING} read bursts outstanding, "
          f"{TOTAL} B per read")
    print(f"# command: .venv/bin/python bench/bench_dma.py --bus-width {cfg.bus_width}")
    print("# whole: from the descriptor's handshake; steady: from the first data word")
    print(f"{'row bytes':>9} {'gap':>4} {'rows':>5} {'latency':>7} {'cycles':>7} {'golden':>7} "
          f"{'B/cycle':>8} {'whole':>7} {'steady':>7}")
    for r in rows:
        bpc = r["bytes"] / r["cycles"]
        steady = r["bytes"] / bb / (r["cycles"] - r["first"])
        print(f"{r['row_bytes']:>9} {r['gap']:>4} {r['rows']:>5} {r['latency']:>7} "
              f"{r['cycles']:>7} {r['golden_cycles']:>7} {bpc:>8.2f} {100 * bpc / bb:>6.1f}% "
              f"{100 * steady:>6.1f}%")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
