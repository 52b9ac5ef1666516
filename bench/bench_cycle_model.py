"""SDUE cycles, utilization and off-chip traffic per ConMerge strategy on DiT-XL-sized FFN GEMMs.

For each mask kind (uniform / column-structured) and sparsity (80, 90, 95, 97 %), the first FFN
layer of DiT-XL ``(256 x 1152) @ (1152 x 4608)`` is scheduled with every strategy on the default
16 x 16 EXION core (merge degree 2, 32 B/cycle off-chip) and run through
``golden.cycle_model.evaluate``. Ratios are against ``dense`` computed in the same run. Then:
the bandwidth each strategy needs to stay compute-bound, a bandwidth sweep, and the
column-granular baseline (published characterization: column-granular skipping alone cuts DiT
cycles by only 12.4 %, arXiv 2606.00567).

    python bench/bench_cycle_model.py [--plot] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exion.config import ExionConfig  # noqa: E402
from golden.conmerge import STRATEGIES, schedule, synthetic_mask  # noqa: E402
from golden.cycle_model import evaluate, format_table  # noqa: E402
from golden.schedule import check_schedule  # noqa: E402

M, N, K = 256, 4608, 1152
SPARSITIES = (0.80, 0.90, 0.95, 0.97)
KINDS = ("uniform", "column")
BANDWIDTHS = (32, 128, 512, 2048)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", action="store_true", help="write build/bench_cycle_model.png")
    ap.add_argument("--quick", action="store_true", help="80 %% and 97 %% only")
    args = ap.parse_args(argv)
    sparsities = SPARSITIES[::3] if args.quick else SPARSITIES
    cfg = ExionConfig()
    t0 = time.perf_counter()
    print(f"DiT-XL FFN1 GEMM ({M} x {K}) @ ({K} x {N}), {cfg.rows} x {cfg.cols} SDUE, "
          f"{cfg.lanes} lanes, merge degree {cfg.merge_degree}, "
          f"{cfg.offchip_bytes_per_cycle:g} B/cycle off-chip, {cfg.clock_mhz:g} MHz.")
    print("x comp = dense compute cycles / compute cycles; x total = dense total / total "
          "(total = max(compute, memory), double buffering).\n")

    results = {}
    scheds = {}
    for kind in KINDS:
        for sp in sparsities:
            progress(f"[{time.perf_counter() - t0:5.1f}s] {kind} {sp:.0%}")
            mask = synthetic_mask(M, N, sp, kind, seed=int(sp * 100))
            reps = []
            for s in STRATEGIES:
                sched = schedule(mask, cfg, s)
                reps.append(evaluate(sched, mask, K, check=True, token_sort="none"))
                scheds[(kind, sp, s)] = (sched, mask)
            results[(kind, sp)] = reps
            print(f"== {kind} mask, {sp:.0%} sparse")
            print(format_table(reps))
            need = ", ".join(f"{r.strategy} {r.offchip_bytes / r.compute_cycles:.0f}"
                             for r in reps)
            print(f"bandwidth to stay compute-bound (B/cycle): {need}\n")

    # Bandwidth sweep: the same schedules with more off-chip bandwidth, and resident weights.
    print("== bandwidth sweep (90 % / last sparsity), total-cycle speedup vs dense")
    sp = 0.90 if 0.90 in sparsities else sparsities[-1]
    sweep_strats = ("dense", "column", "condense", "greedy", "ffd")
    print(f"{'mask':<10}{'B/cycle':>9}" + "".join(f"{s:>10}" for s in sweep_strats)
          + f"{'bound (greedy)':>16}")
    variants = [(bw, cfg.replace(offchip_bytes_per_cycle=bw)) for bw in BANDWIDTHS]
    variants.append(("W res.", cfg.replace(wmem_bank_bytes=1 << 20)))  # W fits one buffer
    for kind in KINDS:
        for label, vcfg in variants:
            tot = {}
            bound = ""
            for s in sweep_strats:
                sched, mask = scheds[(kind, sp, s)]
                r = evaluate(dataclasses.replace(sched, cfg=vcfg), mask, K, check=False)
                tot[s] = r.total_cycles
                if s == "greedy":
                    bound = r.bound
            print(f"{kind:<10}{label:>9}" + "".join(f"{tot['dense'] / tot[s]:>10.2f}"
                                                     for s in sweep_strats) + f"{bound:>16}")
    print("('W res.': 32 B/cycle but WMEM banks of 1 MB so the whole W is fetched once.)\n")

    # Column-granular baseline against the published characterization.
    print("== column-granular skipping vs ConMerge (cycles cut vs dense, this run)")
    print(f"{'mask':<16}{'column comp':>12}{'column total':>13}{'greedy comp':>12}"
          f"{'greedy total':>13}{'ffd comp':>10}{'ffd total':>10}")
    for kind in KINDS:
        for sp in sparsities:
            by = {r.strategy: r for r in results[(kind, sp)]}
            d = by["dense"]

            def cut(r, attr):
                return 1 - getattr(r, attr) / getattr(d, attr)
            print(f"{kind + f' {sp:.0%}':<16}"
                  f"{cut(by['column'], 'compute_cycles'):>12.1%}"
                  f"{cut(by['column'], 'total_cycles'):>13.1%}"
                  f"{cut(by['greedy'], 'compute_cycles'):>12.1%}"
                  f"{cut(by['greedy'], 'total_cycles'):>13.1%}"
                  f"{cut(by['ffd'], 'compute_cycles'):>10.1%}"
                  f"{cut(by['ffd'], 'total_cycles'):>10.1%}")
    print("published (arXiv 2606.00567): column-granular skipping alone cuts DiT cycles by 12.4 %")

    # One detailed report.
    sched, mask = scheds[(KINDS[0], sparsities[0], "greedy")]
    check_schedule(sched, mask)
    print("\n" + evaluate(sched, mask, K, check=False, token_sort="none").summary())

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, kind in zip(axes, KINDS):
            xs = [100 * s for s in sparsities]
            for s in STRATEGIES:
                ax.plot(xs, [results[(kind, p)][0].compute_cycles
                             / next(r for r in results[(kind, p)] if r.strategy == s)
                             .compute_cycles for p in sparsities], marker="o", label=s)
            ax.set_title(f"{kind} masks: compute speedup vs dense")
            ax.set_xlabel("output sparsity (%)")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("dense compute cycles / cycles")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        path = Path(__file__).resolve().parent.parent / "build" / "bench_cycle_model.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        print(f"plot written to {path}")
    print(f"\ntotal bench time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
