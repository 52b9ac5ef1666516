"""A sparse FFN-Reuse FC1 iteration with ConMerge serial vs overlapped with compute.

``golden.sparse_iteration``: per row group the CAU's ``SCHEDULE`` (``schedule_cycles``) and the
SDUE's blocks (``II`` each). Serial (today's core: one SMEM, so ``SCHEDULE`` and ``GEMM``
alternate) = ``sum(SCHEDULE + GEMM)``; overlapped (two SMEM and mask-memory halves: the CAU
schedules group ``g + 1`` while the SDUE runs group ``g``) = the two-stage pipeline of
``overlapped_cycles``, ``max(SDUE, CAU)`` per group in the steady state. Against the dense
GEMM (every tile, back to back) and the ideal ``dense * (1 - s)``.

Masks: every FFN-Reuse FC1 keep-mask of ``data/traces`` (64 x 512) and ``data/traces256``
(256 x 576) on the 16 x 16 ``exion`` array, at the trace's own K (128 / 144), at K = 384 (the
core bench's, ``bench/bench_core.py``) and at DiT-XL/2's 1152.

    .venv/bin/python bench/bench_sparse_iteration.py [--max-masks N]   (~1 min on one core)
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
from golden.sparse_iteration import iteration  # noqa: E402
from workload import traces  # noqa: E402

RULES = (("greedy (W=1)", 1, 0), ("W=2", 2, 0), ("W=4 sort", 4, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-masks", type=int, default=0,
                   help="masks per folder, evenly spaced (default 0: all)")
    args = p.parse_args(argv)
    base = preset("exion")
    print(f"# sparse FC1 iteration, {base.rows} x {base.cols} array, merge degree "
          f"{base.merge_degree}: cycles summed over the masks; x = dense / cycles")
    for folder in ("traces", "traces256"):
        kind = traces.load_traces(ROOT / "data" / folder)["ffn"]
        idx = np.arange(kind.count)
        if args.max_masks:
            idx = np.unique(np.linspace(0, kind.count - 1, args.max_masks).astype(int))
        masks = [kind.mask(int(i)) for i in idx]
        s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
        print(f"\n## data/{folder}: {len(masks)} masks of {kind.rows} x {kind.cols} "
              f"({-(-kind.rows // base.rows)} row groups each), sparsity {s:.1%}, ideal "
              f"{1 / (1 - s):.2f}x")
        head = (f"{'K':>5} {'rule':<13} {'blocks':>7} {'SDUE':>8} {'CAU':>8} {'dense':>9} "
                f"{'serial':>9} {'x':>6} {'overlap':>9} {'x':>6} {'steady':>9} {'x':>6} "
                f"{'ideal x':>7}")
        print(head)
        print("-" * len(head))
        for k in (int(kind.gemm.get("K", 128)), 384, 1152):
            for label, w, srt in RULES:
                cfg = base.replace(cau_window=w, cau_sort=srt)
                reps = [iteration(mk, k, cfg) for mk in masks]
                tot = {a: sum(getattr(r, a) for r in reps)
                       for a in ("blocks", "sdue", "cau", "dense", "serial", "overlapped",
                                 "steady")}
                steady = tot["steady"]
                d = tot["dense"]
                print(f"{k:>5} {label:<13} {tot['blocks']:>7} {tot['sdue']:>8} {tot['cau']:>8} "
                      f"{d:>9} {tot['serial']:>9} {d / tot['serial']:>5.2f}x "
                      f"{tot['overlapped']:>9} {d / tot['overlapped']:>5.2f}x {steady:>9} "
                      f"{d / steady:>5.2f}x {1 / (1 - s):>6.2f}x")
    print("\nsteady = max(SCHEDULE, blocks * II) summed over every group: the pipeline without "
          "its fill (the first group's SCHEDULE) and drain, what consecutive layers or "
          "iterations queued back to back approach")
    return 0


if __name__ == "__main__":
    sys.exit(main())
