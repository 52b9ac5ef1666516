"""The host runtime (exion_tools/runtime) on a trained DiT: per mode, whole-run core cycles,
utilization, SCHEDULE / PREDICT cycles, MACs skipped and energy per image, each against mode
``base``, and the wall time of the run (command-level model backend).

    .venv/bin/python bench/bench_runtime.py [--model dit64] [--iterations 100] [--modes ...]
                                            [--cfse host,chip]

Same as ``exion run --model M --mode X --cfse C --iterations T`` on the ``exion`` preset (16 x 16,
16 lanes), one image of class 0, seed 0; docs/runtime.md has the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from exion_tools.runtime import report  # noqa: E402
from exion_tools.runtime.backend import make_backend  # noqa: E402
from exion_tools.runtime.cli import MODELS  # noqa: E402
from exion_tools.runtime.counts import Stats  # noqa: E402
from exion_tools.runtime.dit import load_npz  # noqa: E402
from exion_tools.runtime.lower import Host  # noqa: E402
from exion_tools.runtime.model import CFSE_PLACES, MODES, DiTRuntime  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="dit64", choices=sorted(MODELS))
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--cfse", default="chip",
                   help="comma-separated places of the CFSE work: chip, host (default chip)")
    a = p.parse_args(argv)
    places = a.cfse.split(",")
    bad = [c for c in places if c not in CFSE_PLACES]
    if bad:
        p.error(f"--cfse = {bad[0]!r} is not one of {', '.join(CFSE_PLACES)}")
    cfg = preset("exion", iterations=a.iterations)
    w = load_npz(MODELS[a.model])
    rows = []
    for place in places:
        for mode in a.modes.split(","):
            t0 = time.perf_counter()
            st = Stats(cfg)
            DiTRuntime(w, cfg, mode, Host(cfg, make_backend("model", cfg), st),
                       cfse=place).sample([0], 0)
            wall = time.perf_counter() - t0
            t = st.totals()
            e = report.energy_report(st, cfg).total_pj * 1e-6
            rows.append((f"{mode}/{place}", t, e, wall))
            print(f"  {mode} cfse {place}: {wall:.1f} s", file=sys.stderr, flush=True)
    base = rows[0]
    print(f"{a.model}, {a.iterations} iterations, 1 image, {cfg.rows}x{cfg.cols} x {cfg.lanes} "
          f"lanes at {cfg.clock_mhz:g} MHz (vs {base[0]})")
    print(f"{'mode/cfse':<11}{'cycles':>12}{'x':>7}{'util':>7}{'SCHEDULE':>10}{'PREDICT':>10}"
          f"{'CFSE':>7}{'staging':>8}{'host el':>12}{'skipped':>9}{'uJ/image':>11}{'x':>7}"
          f"{'wall s':>8}")
    for mode, t, e, wall in rows:
        sk = t["macs_skipped"] / max(1, t["macs_done"] + t["macs_skipped"])
        cyc = max(1, t["cycles"])
        print(f"{mode:<11}{t['cycles']:>12,}{t['cycles'] / base[1]['cycles']:>7.2f}"
              f"{t['utilization']:>7.1%}{t['schedule_cycles']:>10,}{t['predict_cycles']:>10,}"
              f"{t['cfse_cycles'] / cyc:>7.1%}{t['staging_cycles'] / cyc:>8.1%}"
              f"{t['host_elements']:>12,}{sk:>9.1%}{e:>11.1f}{e / base[2]:>7.2f}{wall:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
