"""The N-core top (hw/multicore.py) under Verilator: how sharing one memory port through the
arbiter slows each core, and the area the N-core glue (AXI4-Lite demultiplexer and arbiter)
adds.

    .venv/bin/python bench/bench_multicore.py                 (a few minutes on 2 cores)
    .venv/bin/python bench/bench_multicore.py --no-synth      (cycles only)

Each core runs the same job as sim/tb_multicore.py ``shared_memory_port`` (no pauses): a
weight tile and one row group loaded through the master port, one dense GEMM, its outputs
written back, all cores at once on one cocotbext-axi AxiRam. Printed per configuration, as a
mean over the cores: ``span``, the cycles from a core's first AR to its last B on the shared
port (its ID's upper bits name the core; the memory holds AR until every core has its four
commands queued, so that the one host driving them does not stagger them), and its slowdown against one core alone with the
same bus (the ideal is 1.00: no interference); ``wall``, from its first command to its idle
STATUS (this includes the one AXI4-Lite host driving every core, which serializes commands
and polls: a test-bench cost, not the arbiter's); MAC utilization of a core over ``span``
(the job is load-bound: a small GEMM); and the port's payload bytes per cycle from the first AR to the
last B of all cores against the port's limit: one bus word per cycle on R and one on W
(AXI's read and write data channels run at once).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402

CORES = (1, 2, 4)
BUSES = (256, 32)
#: The core bench's 4x4 core (tests/test_multicore.py)
SMALL = dict(rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
             omem_bank_bytes=96, schedule_depth=16, name="exion")


def cycles(kc: int) -> list[dict]:
    import sim.runner as runner
    with tempfile.TemporaryDirectory(prefix="exion-multicore-bench-") as tmp:
        report = Path(tmp) / "mc.jsonl"
        for bus in BUSES:
            for n in CORES:
                cfg = preset("exion", **SMALL, cores=n, bus_width=bus)
                env = {"EXION_MULTICORE_REPORT": str(report), "EXION_CORE_PAUSE": "0",
                       "EXION_MULTICORE_KC": str(kc)}
                print(f"  simulating {n} core(s), {bus}-bit bus ...", file=sys.stderr, flush=True)
                runner.run_bench(cfg, "multicore", "verilator", "sim.tb_multicore",
                                 testcase="shared_memory_port", extra_env=env)
        return [json.loads(line) for line in report.read_text().splitlines()]


def area(n: int, tmp: Path) -> dict:
    """Total transistors of the ``multicore`` top with ``n`` small cores, and of its glue."""
    folder = tmp / f"synth{n}"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items() if k != "name"]
    cmd = [sys.executable, "-m", "exion_tools.cli", "synth", "--preset", "exion", *args,
           f"--cores={n}", "--top", "multicore", "--no-ecp5", "--no-sparsity", "--out",
           str(folder)]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    (report,) = folder.glob("*.json")
    return json.loads(report.read_text())["design"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-synth", action="store_true", help="skip the area figures")
    p.add_argument("--kc", type=int, default=4, help="lane chunks of the job's GEMM (1..24)")
    args = p.parse_args(argv)
    if not 1 <= args.kc <= 24:
        print(f"error: --kc = {args.kc} is out of range [1, 24]", file=sys.stderr)
        return 2
    rows = cycles(args.kc)
    print(f"{'bus':>5} {'cores':>5} {'span':>6} {'x alone':>8} {'wall':>6} {'x alone':>8} "
          f"{'MAC util':>9} {'port B/cycle':>13} {'of R+W':>7}")
    alone = {}
    for bus in BUSES:
        for n in CORES:
            mine = [r for r in rows if r["bus_width"] == bus and r["cores"] == n]
            wall = sum(r["wall"] for r in mine) / len(mine)
            sp = sum(r["port_span"] for r in mine) / len(mine)
            a_sp, a_wall = alone.setdefault(bus, (sp, wall))
            util = sum(r["macs"] for r in mine) / len(mine) / (sp * 4 * 4 * 4)
            union = max(r["last"] for r in mine) - min(r["first"] for r in mine) + 1
            rate = sum(r["bytes"] for r in mine) / union
            print(f"{bus:>5} {n:>5} {sp:>6.0f} {sp / a_sp:>8.2f} {wall:>6.0f} "
                  f"{wall / a_wall:>8.2f} {util:>8.1%} {rate:>13.1f} {rate / (2 * bus // 8):>6.1%}")
    if not args.no_synth:
        print(f"{'cores':>5} {'total transistors':>18} {'per core':>10} {'arbiter':>9} "
              f"{'arbiter share':>14}")
        with tempfile.TemporaryDirectory(prefix="exion-multicore-synth-") as tmp:
            for n in (1, 2, 4):
                print(f"  synthesizing the {n}-core top ...", file=sys.stderr, flush=True)
                d = area(n, Path(tmp))
                tot = d["total"]["asic"]["total_tr"]
                arb = d["units"].get("arbiter", {}).get("asic", {}).get("total_tr", 0)
                print(f"{n:>5} {tot:>18,} {tot / n:>10,.0f} {arb:>9,} {arb / tot:>13.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
