"""ConMerge efficiency and scheduling time on DiT-XL-sized FFN masks.

Prints, per mask kind (uniform random / column-structured) and sparsity (80, 90, 95, 97 %):
blocks per strategy and merge degree 1..4 against the ideal ``ceil(outputs / (rows * cols))``
and the merge lower bound, the block ratio against ``dense`` (computed in this run), the
effect of token sorting, and the scheduling time of each strategy on the 256 x 4608 mask.
Every schedule is proven exact with ``check_schedule``.

    python bench/bench_conmerge.py [--plot] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exion.config import ExionConfig  # noqa: E402
from golden.conmerge import (STRATEGIES, ideal_blocks, lower_bound_blocks,  # noqa: E402
                             schedule, synthetic_mask)
from golden.schedule import check_schedule  # noqa: E402

M, N, K = 256, 4608, 1152  # DiT-XL FFN first layer: 256 tokens, 1152 -> 4608
SPARSITIES = (0.80, 0.90, 0.95, 0.97)
KINDS = ("uniform", "column")
DEGREES = (1, 2, 3, 4)
MERGING = ("greedy", "ffd")
# independent of merge degree; window (degree-dependent) is measured by
# bench/bench_workload_traces.py --rules
FIXED = tuple(s for s in STRATEGIES if s not in MERGING + ("window",))


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(quick: bool = False):
    base = ExionConfig()  # 16 x 16
    sparsities = SPARSITIES[::3] if quick else SPARSITIES
    results = {}  # (kind, sparsity) -> dict
    t0 = time.perf_counter()
    for kind in KINDS:
        for sp in sparsities:
            progress(f"[{time.perf_counter() - t0:5.1f}s] {kind} {sp:.0%}")
            mask = synthetic_mask(M, N, sp, kind, seed=int(sp * 100))
            row = {"ideal": ideal_blocks(mask, base), "blocks": {}, "lb": {}, "sort": {}}
            scheds = {}
            for s in FIXED:
                sched = scheds[s] = schedule(mask, base, s)
                check_schedule(sched, mask)
                row["blocks"][s] = len(sched.blocks)
            condense1 = schedule(mask, base.replace(merge_degree=1), "condense")
            for d in DEGREES:
                cfg = base.replace(merge_degree=d)
                row["lb"][d] = lower_bound_blocks(mask, cfg)
                for s in MERGING:
                    sched = schedule(mask, cfg, s)
                    if s == "greedy" and d == 1:
                        # the CAU rule with D = 1 is condense, block for block (checked below)
                        assert sched.blocks == condense1.blocks
                    else:
                        check_schedule(sched, mask)
                    row["blocks"][(s, d)] = len(sched.blocks)
            # condense with D = 1 is condense with D = 2 minus the unused stream 1 (checked)
            assert all(np.array_equal(a.slots, b.slots[:, :1]) and np.array_equal(a.sel, b.sel)
                       for a, b in zip(condense1.blocks, scheds["condense"].blocks))
            assert len(condense1.blocks) == len(scheds["condense"].blocks)
            for sort in ("popcount", "signature"):
                for s in MERGING:
                    sched = schedule(mask, base, s, token_sort=sort)
                    check_schedule(sched, mask)
                    row["sort"][(s, sort)] = len(sched.blocks)
                row["sort"][("lb", sort)] = lower_bound_blocks(mask, base, token_sort=sort)
            results[(kind, sp)] = row
    return results, sparsities


def timing():
    mask = synthetic_mask(M, N, 0.80, "uniform", seed=80)
    cfg = ExionConfig()
    out = {}
    for s in STRATEGIES:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            sched = schedule(mask, cfg, s)
            best = min(best, time.perf_counter() - t)
        check_schedule(sched, mask)
        out[s] = best
    for sort in ("popcount", "signature"):
        t = time.perf_counter()
        sched = schedule(mask, cfg, "greedy", token_sort=sort)
        out[f"greedy+{sort}"] = time.perf_counter() - t
        check_schedule(sched, mask)
    return out


def report(results, sparsities):
    print(f"ConMerge blocks, {M} x {N} output mask (K = {K}), 16 x 16 SDUE.")
    print("eff = ideal / blocks, ideal = ceil(outputs / 256); x = dense blocks / blocks; "
          "LB = merge lower bound (see golden/conmerge.py)\n")
    for kind in KINDS:
        print(f"== {kind} masks")
        head = f"{'strategy':<16}" + "".join(f"{f'{sp:.0%} blocks':>12}{'eff':>7}{'x':>7}"
                                              for sp in sparsities)
        print(head)
        rows = [(s, s) for s in FIXED] + [(f"{s} D={d}", (s, d)) for s in MERGING
                                          for d in DEGREES]
        rows += [(f"LB D={d}", ("lb", d)) for d in DEGREES]
        print(f"{'ideal':<16}" + "".join(
            f"{results[(kind, sp)]['ideal']:>12}{1:>7.2f}"
            f"{results[(kind, sp)]['blocks']['dense'] / results[(kind, sp)]['ideal']:>7.1f}"
            for sp in sparsities))
        for label, key in rows:
            line = f"{label:<16}"
            for sp in sparsities:
                r = results[(kind, sp)]
                b = r["lb"][key[1]] if isinstance(key, tuple) and key[0] == "lb" \
                    else r["blocks"][key]
                line += f"{b:>12}{r['ideal'] / b if b else 1:>7.2f}" \
                        f"{r['blocks']['dense'] / b if b else float('inf'):>7.1f}"
            print(line)
        print()
    print("== token sorting (merge degree 2): blocks with none / popcount / signature")
    print(f"{'mask':<16}{'strategy':<10}{'none':>8}{'popcount':>10}{'signature':>11}")
    for kind in KINDS:
        for sp in sparsities:
            r = results[(kind, sp)]
            for s in MERGING + ("lb",):
                none = r["lb"][2] if s == "lb" else r["blocks"][(s, 2)]
                print(f"{kind + f' {sp:.0%}':<16}{s:<10}{none:>8}"
                      f"{r['sort'][(s, 'popcount')]:>10}{r['sort'][(s, 'signature')]:>11}")
    print()


def plot(results, sparsities, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, kind in zip(axes, KINDS):
        xs = [100 * s for s in sparsities]
        for key, label in [(s, s) for s in FIXED] + [((s, 2), f"{s} D=2") for s in MERGING] \
                + [(("ffd", 4), "ffd D=4")]:
            ax.plot(xs, [results[(kind, s)]["ideal"] / results[(kind, s)]["blocks"][key]
                         for s in sparsities], marker="o", label=label)
        ax.set_title(f"{kind} masks, {M} x {N}")
        ax.set_xlabel("output sparsity (%)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("ConMerge efficiency (ideal / blocks)")
    axes[1].legend(fontsize=8, loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", action="store_true", help="write build/bench_conmerge.png")
    ap.add_argument("--quick", action="store_true", help="80 %% and 97 %% only")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results, sparsities = run(args.quick)
    report(results, sparsities)
    progress("timing")
    times = timing()
    print(f"== scheduling time, {M} x {N} uniform 80 % mask, 16 x 16, D = 2 (best of 3)")
    for s, t in times.items():
        print(f"{s:<20}{t * 1e3:>9.1f} ms")
    if args.plot:
        plot(results, sparsities,
             Path(__file__).resolve().parent.parent / "build" / "bench_conmerge.png")
    print(f"\ntotal bench time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
