"""Loop orders for weights that do not fit WMEM: DiT-XL/2 FC1 on keep-masks of the real traces.

DiT-XL/2's FC1 is ``(256 x 1152) @ (1152 x 4608)``: 7.96 MB of INT12 weights against one
WMEM buffer of 192 KB (576 KB with its three buffers). ``golden.sparse_iteration.loop_order``
models two orders:

* **per row group** over all channels (window = 4608): each group merges over every channel
  (full merge freedom) but fetches the weights of every channel it needs again;
* **per channel window** (the window's weights resident in one WMEM buffer while all 16
  groups pass; merging only within the window): weights once, activations once per window.

The masks: the trained DiTs' FFN-Reuse FC1 keep-masks (``data/traces``: 64 x 512 each;
``data/traces256``: 256 x 576 each) tiled to 256 x 4608 (4 x 9 and 1 x 8 masks in stored
order; a stand-in for the bigger layer: real per-token structure, not a real DiT-XL/2 mask).
Time = ``max(SDUE, CAU, memory)`` (SCHEDULE overlapped with compute, transfers with both) at
the configuration's ``offchip_bytes_per_cycle``; ideal = the dense time / (1 - s).

    .venv/bin/python bench/bench_loop_order.py [--masks N] [--window W] [--bandwidth B]
        (~20 s per composite mask and trace folder on one core)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from golden.sparse_iteration import loop_order, window_capacity  # noqa: E402
from workload import traces  # noqa: E402

M, K, N = 256, 1152, 4608          # DiT-XL/2 FC1 (256 tokens at 256 x 256 px, hidden 1152)
RULES = (("dense", "dense", 1), ("greedy (CAU W=1)", "cau", 1), ("CAU W=2", "cau", 2),
         ("CAU W=4 sort", "cau", 4), ("ffd (host)", "ffd", 1))


#: Off-chip bytes per cycle of the bandwidth table: the preset's 32, EXION4's 85 (shared by 4
#: cores), and what the per-row-group order needs to be compute-bound (about 700).
BANDWIDTHS = (32.0, 85.0, 256.0, 1024.0)


def composite_masks(kind, count: int) -> list[np.ndarray]:
    """Up to ``count`` masks of ``M x N`` tiled from consecutive masks of ``kind``."""
    down, across = -(-M // kind.rows), -(-N // kind.cols)
    per = down * across
    out = []
    for c in range(min(count, kind.count // per)):
        tiles = [kind.mask(c * per + i) for i in range(per)]
        rows = [np.concatenate(tiles[r * across:(r + 1) * across], axis=1) for r in range(down)]
        out.append(np.concatenate(rows, axis=0)[:M, :N])
    return out


def table(masks, cfg, windows):
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    print(f"{len(masks)} masks, sparsity {s:.1%}; ideal speedup 1/(1-s) = {1 / (1 - s):.2f}x; "
          f"{cfg.offchip_bytes_per_cycle:g} B/cycle; one WMEM buffer holds "
          f"{window_capacity(K, cfg)} channels of K {K}")
    head = (f"{'window':>6} {'WMEM':>5} {'rule':<17} {'blocks':>6} {'effic':>6} {'SDUE':>8} "
            f"{'CAU':>7} {'W MB':>6} {'X MB':>6} {'memory':>8} {'total':>8} {'x dense':>7} "
            f"{'x best':>6} {'of ideal':>8} {'B/cyc':>6}")
    print(head)
    print("-" * len(head))
    rows = {}
    for w in windows:
        for label, strat, win in RULES:
            c = cfg.replace(cau_window=win, cau_sort=int(label.endswith("sort")))
            reps = [loop_order(mk, K, c, w, strategy=strat) for mk in masks]
            rows[(w, label)] = reps
    best_dense = min(sum(r.total for r in rows[(w, "dense")]) for w in windows)
    for w in windows:
        dense = sum(r.total for r in rows[(w, "dense")])
        for label, _, _ in RULES:
            reps = rows[(w, label)]
            tot = lambda a: sum(getattr(r, a) for r in reps)  # noqa: E731
            total = tot("total")
            need = tot("offchip_bytes") / max(tot("compute"), tot("cau"))
            print(f"{reps[0].window:>6} {'fits' if reps[0].resident else 'no':>5} {label:<17} "
                  f"{tot('blocks'):>6} {tot('ideal_blocks') / tot('blocks'):>6.1%} "
                  f"{tot('compute'):>8} {tot('cau'):>7} {tot('weight_bytes') / 1e6:>6.1f} "
                  f"{tot('act_bytes') / 1e6:>6.1f} {tot('memory'):>8} {total:>8} "
                  f"{dense / total:>6.2f}x {best_dense / total:>5.2f}x "
                  f"{best_dense / total * (1 - s):>8.1%} {need:>6.0f}")
        print()
    return rows, s


def bandwidth_table(rows, s, windows, bandwidths):
    """Per rule, the best window at each bandwidth (memory cycles rescaled from the bytes):
    its total, x vs the best dense order at that bandwidth, and the share of 1/(1-s)."""
    def total(reps, bw):
        return sum(max(r.compute, r.cau, -(-r.offchip_bytes // bw)) for r in reps)
    print(f"best window per rule and bandwidth (cell: window, speedup vs the best dense order, "
          f"share of the ideal {1 / (1 - s):.2f}x)")
    print(f"{'rule':<17}" + "".join(f" {f'{bw:g} B/cycle':>24}" for bw in bandwidths))
    for label, _, _ in RULES:
        cells = []
        for bw in bandwidths:
            dense = min(total(rows[(w, "dense")], bw) for w in windows)
            t, w = min((total(rows[(w, label)], bw), w) for w in windows)
            cells.append(f"{w:>5} {dense / t:>6.2f}x {dense / t * (1 - s):>8.1%}")
        print(f"{label:<17}" + "".join(f" {c:>24}" for c in cells))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--masks", type=int, default=1, help="composite masks per trace folder")
    p.add_argument("--window", type=int, action="append", default=None,
                   help="channel window (repeatable; default 4608, 1152, 576, one WMEM buffer in whole column tiles, 64)")
    p.add_argument("--bandwidth", type=float, default=None,
                   help="off-chip bytes per cycle (default: the exion preset's)")
    args = p.parse_args(argv)
    cfg = preset("exion")
    if args.bandwidth is not None:
        cfg = cfg.replace(offchip_bytes_per_cycle=args.bandwidth)
    cap = window_capacity(K, cfg) // cfg.cols * cfg.cols    # whole tiles of columns
    windows = args.window or [N, 1152, 576, cap, 64]
    print(f"# DiT-XL/2 FC1 ({M} x {K}) @ ({K} x {N}), 16 x 16 array, merge degree "
          f"{cfg.merge_degree}, token order none")
    for folder in ("traces", "traces256"):
        kind = traces.load_traces(ROOT / "data" / folder)["ffn"]
        print(f"\n## data/{folder}: {kind.rows} x {kind.cols} masks tiled to {M} x {N}")
        rows, s = table(composite_masks(kind, args.masks), cfg, windows)
        bandwidth_table(rows, s, windows, BANDWIDTHS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
