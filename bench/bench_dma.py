"""Read bandwidth of the AXI4 master (hw/dma.py) under Verilator: bytes per cycle against the
bus width (the ideal, one full beat per cycle), for a few row lengths and memory latencies.

    .venv/bin/python bench/bench_dma.py                  (about 1 minute on 2 cores)
    .venv/bin/python bench/bench_dma.py --bus-width 128

Each read moves 16 KiB as contiguous rows (stride = row length), one descriptor, from
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

TOTAL = 16384
ROW_BYTES = (64, 256, 1024, 4096, 16384)
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
    cases = [[rb, TOTAL // rb, d] for d in DELAYS for rb in ROW_BYTES]
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
    print(f"{'row bytes':>9} {'rows':>5} {'latency':>7} {'cycles':>7} {'golden':>7} "
          f"{'B/cycle':>8} {'of ideal':>8}")
    for r in rows:
        bpc = r["bytes"] / r["cycles"]
        print(f"{r['row_bytes']:>9} {r['rows']:>5} {r['latency']:>7} {r['cycles']:>7} "
              f"{r['golden_cycles']:>7} {bpc:>8.2f} {100 * bpc / bb:>7.1f}%")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
