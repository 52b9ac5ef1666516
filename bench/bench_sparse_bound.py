"""Physical limits of a sparse FFN-Reuse FC1 iteration with its weight fetch, and how close the
loop orders get (``golden.sparse_bound``).

For the FC1 keep-masks of ``data/traces`` (64 x 512, K 128), ``data/traces256`` (256 x 576,
K 144) and DiT-XL/2's FC1 shape (256 x 4608 tiled from ``data/traces256``, K 1152) on the
16 x 16 ``exion`` preset:

* ``limit``: the most of the ideal ``1 / (1 - s)`` any order reaches once every needed weight
  row and token crosses the bus at least once, per off-chip bandwidth (``--bandwidth``), and
  the bandwidth at which that limit reaches 0.6;
* ``degree``: the block efficiency the merge degree allows (a block streams at most
  ``cols * merge_degree`` weight rows); ``resident``: the block efficiency the resident weight
  layout allows per window size (one weight word per WMEM RAM per cycle), and with a crossbar
  from the RAMs to the slots (not built);
* bytes over the minimum of the two stationary loop orders with the preset's WMEM / IMEM, and
  the ``imem_bank_bytes`` at which the tokens stay on chip;
* with ``--measured``: the loop orders of ``golden.sparse_resident`` / ``golden.
  sparse_iteration`` on the same masks (resident and gathered, ``--degree`` / ``--window``,
  best fit), their share of the ideal and how far their time is from the sparse floor;
* with ``--crossbar``: at the DiT-XL/2 shape with every row group's tokens in IMEM (GEMM
  ``ibase``; ``imem_bank_bytes`` sized to hold them), the resident rule against the same
  layout read through a crossbar (``rule="crossbar"``, a design not built), merge degree 2 / 3
  / 4, windows of one and two WMEM buffers.

    .venv/bin/python bench/bench_sparse_bound.py [--max-masks N] [--bandwidth B ...]
        [--measured] [--degree D ...] [--window W] [--crossbar]
        (bounds: ~10 s; --measured: several minutes on one core; --crossbar: ~30 s)
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

from bench_loop_order import composite_masks  # noqa: E402
from exion.config import preset  # noqa: E402
from golden.sparse_bound import (imem_bank_bytes_for, iteration_bound,  # noqa: E402
                                 resident_blocks_bound, stationary_bytes)
from golden.sparse_iteration import core_iteration  # noqa: E402
from golden.sparse_resident import (dense_window_cycles, resident_iteration,  # noqa: E402
                                    resident_window)
from workload import traces  # noqa: E402

DIT_K = 1152


def mask_sets(max_masks: int):
    """``(label, masks, k)``: the traces at their own K and the DiT-XL/2 FC1 shape."""
    out = []
    for folder in ("traces", "traces256"):
        kind = traces.load_traces(ROOT / "data" / folder)["ffn"]
        idx = np.unique(np.linspace(0, kind.count - 1, max_masks).astype(int))
        out.append((f"data/{folder}", [kind.mask(int(i)) for i in idx],
                    int(kind.gemm.get("K", 128))))
    kind = traces.load_traces(ROOT / "data" / "traces256")["ffn"]
    out.append(("DiT-XL/2 FC1 (traces256 tiled)", composite_masks(kind, 1), DIT_K))
    return out


def limits(label, masks, k, base, bandwidths):
    m, n = masks[0].shape
    b0 = [iteration_bound(mk, k, base) for mk in masks]
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    tot = {a: sum(getattr(x, a) for x in b0) for a in
           ("dense_compute", "ideal_compute", "weight_bytes", "needed_weight_bytes",
            "token_bytes", "needed_token_bytes")}
    print(f"\n## {label}: {len(masks)} masks of {m} x {n}, K {k}, sparsity {s:.1%}, ideal "
          f"{1 / (1 - s):.2f}x")
    print(f"dense SDUE {tot['dense_compute']:,} cycles, ideal {tot['ideal_compute']:,.0f}; "
          f"weights {tot['weight_bytes'] / 2**20:.2f} MiB ({tot['needed_weight_bytes'] / tot['weight_bytes']:.1%} "
          f"needed), tokens {tot['token_bytes'] / 2**10:.0f} KiB")
    head = f"{'B/cycle':>8} {'dense floor':>12} {'sparse floor':>13} {'limit':>6}  binds"
    print(head)
    print("-" * len(head))
    for bw in bandwidths:
        cfg = base.replace(offchip_bytes_per_cycle=bw)
        bs = [iteration_bound(mk, k, cfg) for mk in masks]
        d = sum(x.dense_bound for x in bs)
        sp = sum(x.sparse_bound for x in bs)
        mem = sum(x.sparse_bytes for x in bs) / bw > tot["ideal_compute"]
        print(f"{bw:>8g} {d:>12,.0f} {sp:>13,.0f} {d * (1 - s) / sp:>6.2f}  "
              f"{'memory' if mem else 'array'}")
    need = max(x.bandwidth_for(0.6) for x in b0)
    print(f"limit >= 0.6 from {need:.0f} B/cycle (every mask; the preset: "
          f"{base.offchip_bytes_per_cycle:g})")
    print("block efficiency allowed (ideal blocks / least blocks):")
    for deg in (2, 3, 4):
        cfg = base.replace(merge_degree=deg)
        bs = [iteration_bound(mk, k, cfg) for mk in masks]
        ideal = sum(x.ideal_blocks for x in bs)
        row = [f"  degree {deg}: merge degree {ideal / sum(x.degree_blocks for x in bs):.1%}"]
        for nb in (1, 2, 3):
            w = nb * resident_window(k, cfg)
            if w >= n and nb > 1:
                break
            rb = sum(resident_blocks_bound(mk, cfg, w) for mk in masks)
            xb = sum(resident_blocks_bound(mk, cfg, w, crossbar=True) for mk in masks)
            row.append(f"resident window {w} ({nb} buf) {ideal / rb:.1%} "
                       f"(crossbar {ideal / xb:.1%})")
        print(", ".join(row))
    ws = ts = least = 0
    for mk in masks:
        a, b = stationary_bytes(mk, k, base)
        ws, ts = ws + a, ts + b
        least += iteration_bound(mk, k, base).sparse_bytes
    print(f"bytes / minimum with the preset's memories: weights stationary {ws / least:.2f}, "
          f"tokens stationary {ts / least:.2f}; IMEM holds all {m} tokens at "
          f"imem_bank_bytes >= {imem_bank_bytes_for(m, k, base):,} (preset "
          f"{base.imem_bank_bytes:,})")
    return s


def measured(label, masks, k, base, s, bandwidths, degrees, window):
    m, n = masks[0].shape
    print(f"measured ({label}): resident / gathered order, best fit, window {window}; "
          f"of ideal = the faster dense order / cycles * (1 - s); of floor = the sparse floor / "
          f"cycles")
    head = (f"{'B/cycle':>8} {'D':>2} {'resident':>9} {'of ideal':>8} {'of floor':>8} "
            f"{'B/min':>6} {'gathered':>9} {'of ideal':>8} {'of floor':>8}")
    print(head)
    print("-" * len(head))
    for bw in bandwidths:
        for deg in degrees:
            cfg = base.replace(offchip_bytes_per_cycle=bw, merge_degree=deg,
                               cau_window=window, cau_fit=1, cau_rate=4)
            res = [resident_iteration(mk, k, cfg) for mk in masks]
            core = [core_iteration(mk, k, cfg) for mk in masks]
            bs = [iteration_bound(mk, k, cfg) for mk in masks]
            dense = sum(min(c.dense, dense_window_cycles(m, n, k, cfg)[0]) for c in core)
            floor = sum(x.sparse_bound for x in bs)
            r = sum(x.cycles for x in res)
            g = sum(c.gathered for c in core)
            least = sum(x.sparse_bytes for x in bs)
            print(f"{bw:>8g} {deg:>2} {r:>9,} {dense / r * (1 - s):>8.2f} "
                  f"{floor / r:>8.2f} "
                  f"{sum(x.offchip_bytes for x in res) / least:>6.2f} {g:>9,} "
                  f"{dense / g * (1 - s):>8.2f} {floor / g:>8.2f}", flush=True)


def crossbar(label, masks, k, base, bandwidths, window):
    m, n = masks[0].shape
    ibytes = imem_bank_bytes_for(m, k, base)        # every row group's tokens in IMEM
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    print(f"\n## crossbar ({label}): tokens resident (imem_bank_bytes {ibytes:,}), best fit, "
          f"window {window}; effic = ideal blocks / blocks; of ideal = the dense window order "
          f"(tokens resident too) / cycles * (1 - s); of floor = sparse floor / cycles")
    head = (f"{'B/cycle':>8} {'D':>2} {'WMEM':>4} {'rule':<9} {'effic':>6} {'cycles':>9} "
            f"{'of ideal':>8} {'of floor':>8} {'B/min':>6}")
    print(head)
    print("-" * len(head))
    for bw in bandwidths:
        for deg in (2, 3, 4):
            for nb in (1, 2):
                cfg = base.replace(offchip_bytes_per_cycle=bw, merge_degree=deg,
                                   cau_window=window, cau_fit=1, imem_bank_bytes=ibytes)
                w = nb * resident_window(k, cfg)
                bs = [iteration_bound(mk, k, cfg) for mk in masks]
                dense = len(masks) * dense_window_cycles(m, n, k, cfg, nb,
                                                         acts_resident=True)[0]
                for rule in ("resident", "crossbar"):
                    rs = [resident_iteration(mk, k, cfg, w, rule=rule, acts_resident=True)
                          for mk in masks]
                    cyc = sum(r.cycles for r in rs)
                    print(f"{bw:>8g} {deg:>2} {nb:>4} {rule:<9} "
                          f"{sum(x.ideal_blocks for x in bs) / sum(r.blocks for r in rs):>6.1%} "
                          f"{cyc:>9,} {dense / cyc * (1 - s):>8.2f} "
                          f"{sum(x.sparse_bound for x in bs) / cyc:>8.2f} "
                          f"{sum(r.offchip_bytes for r in rs) / sum(x.sparse_bytes for x in bs):>6.2f}",
                          flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-masks", type=int, default=8, help="masks per folder (default 8)")
    p.add_argument("--bandwidth", type=float, nargs="+", default=[32, 64, 128, 256, 1024],
                   help="off-chip bytes per cycle (default 32 64 128 256 1024)")
    p.add_argument("--measured", action="store_true",
                   help="also run the resident and gathered orders (minutes)")
    p.add_argument("--degree", type=int, nargs="+", default=[2, 4],
                   help="--measured: merge degrees (default 2 4)")
    p.add_argument("--window", type=int, default=8,
                   help="--measured / --crossbar: cau_window (default 8)")
    p.add_argument("--crossbar", action="store_true",
                   help="the resident rule against a crossbar from the WMEM RAMs to the slots "
                        "(not built), tokens resident, DiT-XL/2 shape")
    args = p.parse_args(argv)
    base = preset("exion")
    try:
        if args.max_masks < 1:
            raise ValueError(f"max_masks = {args.max_masks} must be >= 1")
        for bw in args.bandwidth:
            base.replace(offchip_bytes_per_cycle=bw)
        for d in args.degree:
            base.replace(merge_degree=d, cau_window=args.window)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    print(f"# physical limits of a sparse FC1 iteration, {base.rows} x {base.cols} "
          f"array, {base.lanes} lanes: floors = max(array, bytes / bandwidth); limit = dense "
          f"floor * (1 - s) / sparse floor")
    sets = mask_sets(args.max_masks)
    for label, masks, k in sets:
        s = limits(label, masks, k, base, args.bandwidth)
        if args.measured:
            measured(label, masks, k, base, s, args.bandwidth, args.degree, args.window)
    if args.crossbar:
        crossbar(*sets[-1], base, args.bandwidth, args.window)
    print(f"\n({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
