"""CAU throughput against SDUE demand (prints a table).

For 256 x 4608 masks on the 16 x 16 array (merge degree 2, K = 1152): per row group the CAU
needs ``golden.cycle_model.cau_cycles`` cycles (exact for the RTL without output back-pressure:
``sum over beats of max(1, nonzero channels) + 1``; tests/test_cau.py checks it cycle for
cycle), while the SDUE spends ``blocks * II`` cycles on that group's blocks
(``golden.cycle_model.issue_interval``). A ratio CAU / SDUE below 1 means the CAU keeps ahead.
Run: ``python bench/bench_cau.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from exion.config import preset  # noqa: E402
from golden.conmerge import conflict_vectors, group_masks, schedule, synthetic_mask  # noqa: E402
from golden.cycle_model import cau_cycles, group_beats, issue_interval  # noqa: E402

K = 1152
M, N = 256, 4608


def measure(mask, cfg, beat, skip_empty=False):
    sched = schedule(mask, cfg, "greedy")
    ii = issue_interval(K, cfg)
    gm = group_masks(mask, sched.token_order, cfg.rows)
    per_group_blocks = np.bincount([b.group for b in sched.blocks], minlength=gm.shape[0])
    cau = sdue = 0
    worst = 0.0
    for g in range(gm.shape[0]):
        c = cau_cycles(group_beats(conflict_vectors(gm[g]).tolist(), beat,
                                   skip_empty=skip_empty))
        s = int(per_group_blocks[g]) * ii
        cau += c
        sdue += s
        worst = max(worst, c / s if s else 0.0)
    return len(sched.blocks), cau, sdue, worst


def main():
    cfg = preset("exion")
    print(f"16x16, D={cfg.merge_degree}, K={K}, II={issue_interval(K, cfg)}, mask {M}x{N}")
    print(f"{'mask':14s} {'blocks':>6s} {'SDUE cyc':>9s} | "
          + " | ".join(f"P={p:<2d} CAU cyc  ratio  worst" for p in (1, 8, 16)))
    for kind in ("uniform", "column"):
        for sp in (0.8, 0.9, 0.97):
            mask = synthetic_mask(M, N, sp, kind, seed=1)
            cols = []
            for p in (1, 8, 16):
                nb, cau, sdue, worst = measure(mask, cfg, p)
                cols.append(f"{cau:11d} {cau / sdue:6.3f} {worst:6.3f}")
            print(f"{kind + f' {sp:.0%}':14s} {nb:6d} {sdue:9d} | " + " | ".join(cols))
    print("ratio = CAU cycles / SDUE cycles over all groups; worst = the largest per-group ratio."
          "\nP = channels per input beat (P = 1: one channel per cycle). Generated default: P = 8.")


if __name__ == "__main__":
    main()
