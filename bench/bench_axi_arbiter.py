"""The AXI4 arbiter (hw/axi_arbiter.py) under Verilator: each master's share of the read
bandwidth and the R channel's utilization with 1, 2 and 4 DMA masters streaming reads at
once, and the arbiter's area (Yosys, the ASIC flow of ``exion synth``) for 2 and 4 masters.

    .venv/bin/python bench/bench_axi_arbiter.py               (a few minutes on 2 cores)
    .venv/bin/python bench/bench_axi_arbiter.py --no-synth    (bandwidth only)

Each master reads 8 KiB (:data:`CASES`: long bursts, and 512-byte bursts) from its own
window of cocotbext-axi's AxiRam (its own latency, no delay line, no pauses; the
``axi_arbiter<N>`` tops, sim/tb_axi_arbiter.py ``bandwidth``: the data are checked against
golden.dma and the grants against golden.axi_arbiter by that bench). Ideal: one R beat per
cycle on the shared port, each of N masters 1/N of it while all stream.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import INT_RANGES, ConfigError, preset  # noqa: E402

#: Each master's read, [row_bytes, rows, gap]: 8 KiB in 4 KB bursts (rows back to back), and
#: 8 KiB in bursts of 512 B (a one-word gap after each row, so each row is one burst).
CASES = ([2048, 4, 0], [512, 16, None])
MASTERS = (1, 2, 4)
AREA_MASTERS = (2, 4)


def bandwidth(cfg):
    import sim.runner as runner
    out = []
    with tempfile.TemporaryDirectory(prefix="exion-arbiter-bench-") as tmp:
        report = Path(tmp) / "arb.jsonl"
        for row_bytes, rows, gap in CASES:
            for n in MASTERS:
                read = [row_bytes, rows, cfg.bus_bytes if gap is None else gap]
                env = {"EXION_ARBITER_MASTERS": str(n), "EXION_ARBITER_REPORT": str(report),
                       "EXION_ARBITER_READ": json.dumps(read)}
                runner.run_bench(cfg, f"axi_arbiter{n}", "verilator", "sim.tb_axi_arbiter",
                                 testcase="bandwidth", extra_env=env)
        out = [json.loads(line) for line in report.read_text().splitlines()]
    return out


def area(cfg, n: int, tmp: Path) -> dict:
    """Per-unit ASIC figures of the ``axi_arbiter<n>`` top from ``exion synth``'s JSON."""
    folder = tmp / f"synth{n}"
    cmd = [sys.executable, "-m", "exion_tools.cli", "synth", "--preset", "exion", "--rows", "2",
           "--cols", "2", "--lanes", "2", "--bus-width", str(cfg.bus_width),
           "--top", f"axi_arbiter{n}", "--no-ecp5", "--no-sparsity", "--out", str(folder)]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    (report,) = folder.glob("*.json")
    return json.loads(report.read_text())["design"]["units"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lo, hi = INT_RANGES["bus_width"]
    p.add_argument("--bus-width", type=int, default=preset("exion").bus_width,
                   help=f"AXI data bits, a power of two in [{lo}, {hi}] (default: the exion "
                        f"preset's)")
    p.add_argument("--no-synth", action="store_true", help="skip the area (Yosys) part")
    args = p.parse_args(argv)
    try:
        cfg = preset("exion", rows=2, cols=2, lanes=2, bus_width=args.bus_width)
    except ConfigError as e:
        p.error(str(e))
    bb = cfg.bus_bytes
    rows = bandwidth(cfg)
    cmd = f".venv/bin/python bench/bench_axi_arbiter.py --bus-width {cfg.bus_width}"
    print(f"# AXI4 arbiter, Verilator: bus {cfg.bus_width} bits ({bb} B/beat), each master "
          f"reads 8 KiB; ideal: 1 R beat per cycle, 1/N of it per master")
    print(f"# command: {cmd}")
    print("# util: R beats / cycles from the first beat to the last; share: each master's "
          "beats while all still stream")
    print(f"{'row B':>6} {'gap':>4} {'masters':>7} {'beats':>6} {'cycles':>6} {'util':>6} "
          f"{'B/cycle':>8}  share (ideal 1/N each)")
    for r in rows:
        total, span = sum(r["beats"]), r["last"] - r["first"] + 1
        tot = sum(r["shared"])
        share = " ".join(f"{100 * s / tot:5.1f}%" for s in r["shared"])
        print(f"{r['row_bytes']:>6} {r['gap']:>4} {r['masters']:>7} {total:>6} {span:>6} "
              f"{100 * total / span:>5.1f}% "
              f"{bb * total / span:>8.2f}  {share}")
    if args.no_synth:
        return
    print(f"# area: exion synth --preset exion --rows 2 --cols 2 --lanes 2 --bus-width "
          f"{cfg.bus_width} --top axi_arbiter<N> --no-ecp5 --no-sparsity (ASIC flow, "
          f"docs/synthesis.md); ratio: arbiter / the N DMA masters")
    print(f"{'masters':>7} {'gates':>6} {'FFs':>5} {'total Tr':>9} {'DMA Tr':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="exion-arbiter-synth-") as tmp:
        for n in AREA_MASTERS:
            units = area(cfg, n, Path(tmp))
            a, d = units["arbiter"]["asic"], units["dma"]["asic"]
            print(f"{n:>7} {a['cells']:>6} {a['ffs']:>5} {a['total_tr']:>9} {d['total_tr']:>9} "
                  f"{100 * a['total_tr'] / d['total_tr']:>5.1f}%")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
