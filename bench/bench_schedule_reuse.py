"""Schedule reuse: a sparse FC1 iteration with its ConMerge vectors reloaded from memory
(``LOAD_SMEM``) instead of re-scheduled by the CAU, against the same iteration with the CAU in
the loop and against the physical limit (``golden.schedule_reuse``, ``golden.sparse_bound``).

For the FC1 keep-masks of ``data/traces`` (64 x 512, K 128), ``data/traces256`` (256 x 576,
K 144) and the DiT-XL/2 FC1 shape (256 x 4608 tiled from ``data/traces256``, K 1152) on the
16 x 16 ``exion`` preset with the CAU's best-fit rule (``cau_window`` ``--window``, ``cau_fit``
1, ``cau_sort`` 1, ``cau_rate`` 4), per off-chip bandwidth and merge degree:

* ``in loop`` / ``reused``: the faster dense order's cycles over the sparse iteration's, over
  the ideal ``1 / (1 - s)`` (the iteration's share of the ideal, weight fetch included), with
  every group's ``SCHEDULE`` on the CAU (``golden.sparse_iteration.core_iteration``'s
  gathered order) and with its blocks reloaded;
* ``effic``: the rule's block efficiency, ideal blocks over blocks;
* ``limit``: the most of the ideal any design reaches at that bandwidth
  (``golden.sparse_bound.IterationBound.limit``);
* ``B/min``: bytes the reused iteration moves (gathered weight rows and the blocks) over the
  minimum (every needed weight row once); ``SMEM %``: the blocks' share of them;
* ``period``: one FFN-Reuse period (the dense iteration with its ``SCHEDULE`` and
  ``STORE_SMEM`` beside it, then ``ffn_reuse_n`` sparse ones) against as many dense
  iterations, and the same period's ideal ``(n + 1) / (1 + n (1 - s))``.

    .venv/bin/python bench/bench_schedule_reuse.py [--max-masks N] [--bandwidth B ...]
        [--degree D ...] [--window W]          (~20 s with the defaults)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_sparse_bound import mask_sets  # noqa: E402
from exion.config import preset  # noqa: E402
from golden.schedule_reuse import core_iteration_reused  # noqa: E402
from golden.sparse_bound import iteration_bound  # noqa: E402
from golden.sparse_resident import dense_window_cycles  # noqa: E402


def table(label, masks, k, base, bandwidths, degrees, window):
    m, n = masks[0].shape
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    nr = base.ffn_reuse_n
    print(f"\n## {label}: {len(masks)} masks of {m} x {n}, K {k}, sparsity {s:.1%}, ideal "
          f"{1 / (1 - s):.2f}x; period ideal {(nr + 1) / (1 + nr * (1 - s)):.2f}x "
          f"(ffn_reuse_n {nr})")
    head = (f"{'B/cycle':>8} {'D':>2} {'dense':>10} {'in loop':>10} {'of ideal':>8} "
            f"{'reused':>10} {'of ideal':>8} {'effic':>6} {'limit':>6} {'B/min':>6} "
            f"{'SMEM %':>6} {'period':>6}")
    print(head)
    print("-" * len(head))
    for bw in bandwidths:
        for deg in degrees:
            cfg = base.replace(offchip_bytes_per_cycle=bw, merge_degree=deg,
                               cau_window=window, cau_fit=1, cau_sort=1, cau_rate=4)
            rs = [core_iteration_reused(mk, k, cfg) for mk in masks]
            # the faster dense order: per row group (core_iteration) or per channel window
            dwin = dense_window_cycles(m, n, k, cfg)[0]
            dense = sum(min(r.dense, dwin) for r in rs)
            sched = sum(r.dense_scheduled - r.dense + min(r.dense, dwin) for r in rs)
            loop = sum(r.cau_in_loop for r in rs)
            reused = sum(r.sparse for r in rs)
            bs = [iteration_bound(mk, k, cfg) for mk in masks]
            limit = sum(x.dense_bound for x in bs) * (1 - s) / sum(x.sparse_bound for x in bs)
            moved = sum(r.gather_bytes + r.smem_bytes for r in rs)
            least = sum(r.min_bytes for r in rs)
            period = (nr + 1) * dense / (sched + nr * reused)
            effic = sum(r.ideal_blocks for r in rs) / max(1, sum(r.blocks for r in rs))
            print(f"{bw:>8g} {deg:>2} {dense:>10,} {loop:>10,} {dense / loop * (1 - s):>8.2f} "
                  f"{reused:>10,} {dense / reused * (1 - s):>8.2f} {effic:>6.1%} {limit:>6.2f} "
                  f"{moved / least:>6.2f} {100 * sum(r.smem_bytes for r in rs) / moved:>6.1f} "
                  f"{period:>6.2f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-masks", type=int, default=8, help="masks per folder (default 8)")
    p.add_argument("--bandwidth", type=float, nargs="+", default=[32, 256, 1024, 2048],
                   help="off-chip bytes per cycle (default 32 256 1024 2048)")
    p.add_argument("--degree", type=int, nargs="+", default=[2, 3, 4],
                   help="merge degrees (default 2 3 4)")
    p.add_argument("--window", type=int, default=8, help="cau_window (default 8)")
    args = p.parse_args(argv)
    base = preset("exion")
    try:
        if args.max_masks < 1:
            raise ValueError(f"max_masks = {args.max_masks} must be >= 1")
        for bw in args.bandwidth:
            base.replace(offchip_bytes_per_cycle=bw)
        for d in args.degree:
            base.replace(merge_degree=d)
        base.replace(cau_window=args.window)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    for label, masks, k in mask_sets(args.max_masks):
        table(label, masks, k, base, args.bandwidth, args.degree, args.window)
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
