"""Sweep wall time on a Dask LocalCluster of 1 and of 2 worker processes, same points.

For each worker count a fresh LocalCluster (one thread per worker) runs the same points
through ``exion_tools.sweep.run_sweep`` into an empty cache (nothing is taken from a previous
run). Prints the cluster start time, the sweep wall time, the ratio 1 worker / 2 workers and
its ideal (2.0 on two free cores; a machine shared with other jobs gets less).

Usage: ``python bench/bench_sweep.py [--area model|synth] [--masks N] [--vary FIELD=V1,...]``
(default: 12 points, rows and cols 2 / 4 / 8 x merge degree 1 / 2, 4 lanes, area model, all
136 FFN keep-masks per point).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exion_tools.sweep import build_points, parse_assign, run_sweep  # noqa: E402

DEFAULT_VARY = ("rows=2,4,8", "cols=2,4", "merge_degree=1,2")


def one(workers: int, points, opts) -> tuple[float, float, dict]:
    from distributed import Client, LocalCluster
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="exion-bench-sweep-") as out:
            rows, failed, counts = run_sweep(points, opts, Path(out), client)
        t2 = time.perf_counter()
    if failed:
        raise SystemExit(f"bench_sweep: {len(failed)} points failed: {failed[0]['error']}")
    counts["task_s"] = sum(r["seconds"] for r in rows)
    return t1 - t0, t2 - t1, counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", choices=("model", "synth"), default="model")
    ap.add_argument("--masks", type=int, default=0)
    ap.add_argument("--vary", action="append", default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per worker count, alternating 1, 2, 1, 2, ...; the best counts")
    args = ap.parse_args(argv)
    varies = dict(parse_assign("--vary", v, many=True) for v in (args.vary or DEFAULT_VARY))
    opts = {"objectives": ["area", "cycles"], "area": args.area, "masks": args.masks}
    points = build_points("exion", {"lanes": 4}, varies, opts=opts)
    print(f"bench_sweep: {len(points)} points ({', '.join(args.vary or DEFAULT_VARY)}, lanes 4), "
          f"area {args.area}, masks {args.masks or 'all'}")
    walls: dict[int, float] = {}
    for _ in range(max(1, args.repeat)):
        for workers in (1, 2):
            start, wall, counts = one(workers, points, opts)
            walls[workers] = min(wall, walls.get(workers, wall))
            print(f"  {workers} worker{'s' if workers > 1 else ' '}: sweep {wall:6.1f} s wall "
                  f"(cluster start {start:.1f} s; {counts['computed']} points computed, "
                  f"{counts['task_s']:.1f} s summed over the tasks)")
    print(f"  best of {max(1, args.repeat)}: 1 worker {walls[1]:.1f} s, 2 workers {walls[2]:.1f} s")
    print(f"  ratio 1 worker / 2 workers: {walls[1] / walls[2]:.2f} (ideal 2.00 on two free cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
