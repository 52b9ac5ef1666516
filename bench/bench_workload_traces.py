"""ConMerge on the real keep-masks of the trained DiTs (``data/traces``: 64 tokens;
``data/traces256``: 256 tokens; see docs/workload.md).

numpy only (no torch): runs in the project venv. By default every committed trace folder is
read; ``--traces DIR`` reads one. For each mask kind (``ffn``: FFN-Reuse FC1 output masks,
tokens x FFN width, e.g. 64 x 512 with K = 128 or 256 x 576 with K = 144; ``eager``:
eager-prediction ``Q K^T`` masks, queries x keys per head, K = the head dimension) it reports

* element-level sparsity (fraction of outputs not computed);
* column-level sparsity per row group of ``rows`` tokens (a channel of a group is needed if any
  token of the group needs it; what condense can skip) and for the whole GEMM (a channel is
  skipped only if no token needs it: the column-granular baseline);
* with ``golden/conmerge.py`` and ``golden/cycle_model.py``: per strategy and merge degree
  1..4, blocks against the ideal ``ceil(required / (rows * cols))`` (efficiency = ideal /
  blocks) and SDUE compute cycles against the dense schedule;
* the comparison with the published column-granular cycle reduction for DiT, 12.4 %
  (arXiv 2606.00567).

Usage: ``python bench/bench_workload_traces.py [--traces DIR] [--all] [--max-masks N]
[--check] [--token-sort none|popcount|signature] [--rules] [--area] [--area-small]
[--json PATH]`` (``--json`` with several folders writes one object per folder name).
``--rules`` prints only the block efficiency of the CAU rules (greedy, window, bestfit, the
resident rule of the CAU's ``RESIDENT`` mode with first and best fit, ffd) at
merge degrees 2..4 on the ffn masks; ``--area`` (``--area-small``: on a 4 x 4 array) only
the CAU's synthesized area for some of them (Yosys).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exion.config import ExionConfig  # noqa: E402
from workload import paths, traces  # noqa: E402

try:
    from golden import conmerge, cycle_model  # noqa: E402
    from golden.schedule import check_schedule  # noqa: E402
except ImportError:  # the ConMerge golden model is not there yet
    conmerge = cycle_model = check_schedule = None

PUBLISHED_DIT_COLUMN_REDUCTION = 0.124  # arXiv 2606.00567: pure-transformer DiT, column level
DEGREES = (1, 2, 3, 4)
MERGING = ("greedy", "window", "bestfit", "ffd")
#: --rules: (label, strategy, open_blocks, sort_window); window W=1 without sort is greedy;
#: bestfit is the window with the best-fit slot choice (the CAU with cau_fit = 1).
RULES = (("greedy", "greedy", 1, 1), ("window W=2", "window", 2, 1),
         ("window W=4", "window", 4, 1), ("window W=2 sort 8", "window", 2, 8),
         ("window W=4 sort 8", "window", 4, 8), ("window W=4 sort 32", "window", 4, 32),
         ("window W=8", "window", 8, 1), ("bestfit W=2", "bestfit", 2, 1),
         ("bestfit W=4", "bestfit", 4, 1), ("bestfit W=4 sort 8", "bestfit", 4, 8),
         ("bestfit W=8", "bestfit", 8, 1), ("bestfit W=8 sort 8", "bestfit", 8, 8),
         ("resident W=1", "resident", 1, 1), ("resident W=4", "resident", 4, 1),
         ("resident W=8", "resident", 8, 1), ("resident best W=4", "resident best", 4, 1),
         ("resident best W=8", "resident best", 8, 1),
         ("resident best W=8 sort 8", "resident best", 8, 8),
         ("ffd", "ffd", 1, 1))
RULE_DEGREES = (2, 3, 4)


def column_sparsity(masks: np.ndarray, rows: int) -> tuple[float, float]:
    """(per-row-group, whole-GEMM) column-level sparsity of ``masks`` (count, M, N)."""
    c, m, n = masks.shape
    g = -(-m // rows)
    pad = np.zeros((c, g * rows, n), dtype=bool)
    pad[:, :m] = masks
    needed = pad.reshape(c, g, rows, n).any(axis=2)
    return 1.0 - float(needed.mean()), 1.0 - float(masks.any(axis=1).mean())


def pick(count: int, limit: int | None) -> np.ndarray:
    if limit is None or count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def conmerge_stats(masks, k: int, base: ExionConfig, token_sort: str, check: bool) -> dict:
    """Sum over masks of blocks, ideal blocks and cycles per (strategy, degree)."""
    out: dict[tuple[str, int], dict] = {}
    for mask in masks:
        ideal = conmerge.ideal_blocks(mask, base)
        for strategy in conmerge.STRATEGIES:
            degrees = DEGREES if strategy in MERGING else (1,)
            for d in degrees:
                cfg = base.replace(merge_degree=d)
                sched = conmerge.schedule(mask, cfg, strategy, token_sort=token_sort)
                if check:
                    check_schedule(sched, mask)
                nb = len(sched.blocks)
                e = out.setdefault((strategy, d), {"blocks": 0, "ideal": 0, "cycles": 0})
                e["blocks"] += nb
                e["ideal"] += ideal
                e["cycles"] += cycle_model.compute_cycles(nb, k, cfg)
    return out


def rule_table(kind: traces.MaskKind, cfg: ExionConfig, limit, token_sort, check) -> list:
    """Block efficiency (ideal / blocks, summed over masks) of the CAU rules of :data:`RULES`
    at merge degrees 2..4: every row group of every (sampled) mask."""
    masks = kind.masks()[pick(kind.count, limit)]
    t0 = time.time()
    tot: dict[tuple[str, int], int] = {}
    ideal = gideal = 0
    for mask in masks:
        ideal += conmerge.ideal_blocks(mask, cfg)
        gideal += group_ideal_blocks(mask, cfg, token_sort)
        for label, strategy, w, p in RULES:
            for d in RULE_DEGREES:
                c = cfg.replace(merge_degree=d)
                # "resident best": the resident rule with the best-fit block choice
                fit = "best" if strategy.endswith(" best") else "first"
                sched = conmerge.schedule(mask, c, strategy.split()[0], token_sort=token_sort,
                                          open_blocks=w, sort_window=p, fit=fit)
                if check:
                    check_schedule(sched, mask)
                tot[(label, d)] = tot.get((label, d), 0) + len(sched.blocks)
        for d in RULE_DEGREES:
            lb = conmerge.lower_bound_blocks(mask, cfg.replace(merge_degree=d), token_sort)
            tot[("lower bound", d)] = tot.get(("lower bound", d), 0) + lb
    print(f"\n== CAU rules on {kind.name}: {len(masks)} masks, every {cfg.rows}-token row group, "
          f"{cfg.rows}x{cfg.cols} SDUE, token sort {token_sort}"
          f"{', schedules checked' if check else ''}; ideal {ideal} blocks at every degree "
          f"({time.time() - t0:.1f} s); per-group ideal {gideal}")
    print(f"   {'rule':<24} " + " ".join(f"{'deg ' + str(d) + ' blocks':>13} {'effic.':>7} "
                                        f"{'grp eff':>7}" for d in RULE_DEGREES))
    rows = []
    for label in [r[0] for r in RULES] + ["lower bound"]:
        cells = []
        for d in RULE_DEGREES:
            nb = tot[(label, d)]
            cells.append(f"{nb:>13} {ideal / nb:>7.1%} {gideal / nb:>7.1%}")
            rows.append({"rule": label, "degree": d, "blocks": nb, "ideal": ideal,
                         "efficiency": ideal / nb, "group_ideal": gideal,
                         "group_efficiency": gideal / nb})
        print(f"   {label:<24} " + " ".join(cells))
    print("   effic. = ideal / blocks, ideal = ceil(required outputs / (rows * cols)) per mask;"
          "\n   grp eff = per-group ideal / blocks, per-group ideal = ceil(outputs of the row "
          "group / (rows * cols))\n   summed over the row groups (golden.sparse_iteration's "
          "ideal_blocks, bench/bench_sparse_iteration.py's effic);"
          "\n   window W=k: the greedy rule with k open blocks; bestfit W=k: the same with "
          "the best-fit\n   slot choice (cau_fit = 1); sort P: popcount-descending "
          "within\n   each aligned run of P channels; resident W=k: the resident rule (channel j "
          "only in slot\n   j % cols, stream (j // cols) % D; best: the fullest fitting block) (golden/conmerge.py, docs/conmerge.md); lower bound:\n   lower_bound_blocks, no merge schedule with this token order needs fewer blocks")
    return rows


#: --area: CAU configurations synthesized on an array (``exion`` preset overrides), as
#: (label, rows x cols and lanes or None for the preset's 16 x 16, merge_degree, cau_window,
#: cau_sort, cau_fit, cau_rate); each array's first point is its baseline (the preset's CAU).
SMALL = dict(rows=4, cols=4, lanes=4)
AREA_POINTS = (("4x4 greedy, D2", SMALL, 2, 1, 0, 0, 1),
               ("4x4 window W=4 sort, D2", SMALL, 2, 4, 1, 0, 1),
               ("4x4 bestfit W=4 sort, D2", SMALL, 2, 4, 1, 1, 1),
               ("4x4 window W=4 sort, D4", SMALL, 4, 4, 1, 0, 1),
               ("4x4 bestfit W=4 sort, D4", SMALL, 4, 4, 1, 1, 1),
               ("4x4 bestfit W=8 sort, D4", SMALL, 4, 8, 1, 1, 1),
               ("16x16 greedy, D2 (preset)", None, 2, 1, 0, 0, 1),
               ("16x16 window W=4 sort, D4", None, 4, 4, 1, 0, 1),
               ("16x16 bestfit W=4 sort, D4", None, 4, 4, 1, 1, 1),
               ("16x16 bestfit W=8 sort, D4", None, 4, 8, 1, 1, 1))
#: Total transistors of the 16 x 16 core at merge degree 2 (docs/synthesis.md, "Measured:
#: EXION 16 x 16"), the yardstick of the CAU's share.
CORE_TR_16X16 = 87.4e6


def area_table(small: bool) -> list:
    """CAU area (ASIC flow, ``exion_tools.synth.synth_report`` of top ``cau``, no ECP5, no
    standalone units) and WMEM read width per point of :data:`AREA_POINTS`: the 4 x 4 ones
    (``small``, about a minute each) or the 16 x 16 ones (about 3 CPU minutes each)."""
    from exion.config import preset
    from exion_tools.synth import synth_report

    print("\n== CAU area (Yosys generic gates, ASIC flow of docs/synthesis.md, top cau; the CAU "
          "alone, without the mask memory)")
    head = (f"   {'point':<30} {'cells':>9} {'FFs':>7} {'CAU Tr':>10} {'x base':>7} "
            f"{'of core':>7} {'WMEM bits/bank/cyc':>18}")
    print(head)
    rows, base = [], {}
    for label, arr, d, w, srt, fit, rate in AREA_POINTS:
        if small != (arr is not None):
            continue
        cfg = preset("exion", **(arr or {}), merge_degree=d, cau_window=w, cau_sort=srt,
                     cau_fit=fit, cau_rate=rate)
        t0 = time.time()
        rep = synth_report(cfg, "cau", jobs=1, ecp5=False, sparsity=False, standalone=False)
        a = rep["design"]["total"]["asic"]
        tr = a["total_tr"]
        b = base.setdefault(arr is None, tr)
        share = f"{tr / CORE_TR_16X16:>7.2%}" if arr is None else f"{'':>7}"
        wbits = d * cfg.lanes * cfg.data_width   # one weight per stream, lane and bank
        print(f"   {label:<30} {a.get('cells', 0):>9} {a.get('ffs', 0):>7} {tr:>10,.0f} "
              f"{tr / b:>6.2f}x {share} {wbits:>18}   ({time.time() - t0:.0f} s)", flush=True)
        rows.append({"point": label, "array": arr or "exion", "merge_degree": d,
                     "cau_window": w, "cau_sort": srt, "cau_fit": fit, "cau_rate": rate,
                     "cau_tr": tr, "wmem_read_bits_per_bank": wbits})
    print(f"   x base = against the array's first point; of core = CAU Tr / "
          f"{CORE_TR_16X16 / 1e6:.1f} M (the 16 x 16 core at D2, docs/synthesis.md); WMEM "
          "bits/bank/cyc = merge_degree * lanes * data_width")
    return rows


def group_ideal_blocks(mask, cfg: ExionConfig, token_sort: str) -> int:
    """``ceil(outputs / (rows * cols))`` per row group (in the ``token_sort`` order), summed:
    no schedule of these groups needs fewer blocks (``golden.sparse_iteration``'s ideal)."""
    gm = conmerge.group_masks(mask, conmerge.token_order(mask, cfg, token_sort), cfg.rows)
    return sum(-(-int(x) // cfg.dpus) for x in gm.sum(axis=(1, 2)))


def report_kind(kind: traces.MaskKind, cfg: ExionConfig, limit, token_sort, check) -> dict:
    masks_all = kind.masks()
    idx = pick(kind.count, limit)
    masks = masks_all[idx]
    k = int(kind.gemm.get("K", 1))
    elem = 1.0 - float(masks_all.mean())
    grp, whole = column_sparsity(masks_all, cfg.rows)
    print(f"\n== {kind.name}: {kind.count} masks of {kind.rows} x {kind.cols}, GEMM "
          f"M={kind.gemm.get('M')} K={k} N={kind.gemm.get('N')} ({kind.gemm.get('what', '')})")
    print(f"   element-level sparsity              {elem:7.2%}")
    print(f"   column-level, per group of {cfg.rows:2d} tokens   {grp:7.2%}")
    print(f"   column-level, whole GEMM ({kind.rows} tokens)  {whole:7.2%}")
    res = {"masks": kind.count, "element_sparsity": elem, "group_column_sparsity": grp,
           "gemm_column_sparsity": whole}
    if conmerge is None:
        print("   (golden/conmerge.py not available: no ConMerge figures)")
        return res
    t0 = time.time()
    st = conmerge_stats(masks, k, cfg, token_sort, check)
    dense = st[("dense", 1)]
    print(f"   ConMerge on {len(masks)} masks (token sort {token_sort}, {cfg.rows}x{cfg.cols} "
          f"SDUE, {cfg.lanes} lanes{', schedules checked' if check else ''}; "
          f"{time.time() - t0:.1f} s)")
    head = (f"   {'strategy':<16} {'deg':>3} {'blocks':>8} {'ideal':>8} {'effic.':>7} "
            f"{'cycles':>10} {'vs dense':>8} {'saved':>7}")
    print(head)
    rows = []
    for (s, d), e in st.items():
        eff = e["ideal"] / e["blocks"] if e["blocks"] else 1.0
        sp = dense["cycles"] / e["cycles"] if e["cycles"] else float("inf")
        saved = 1 - e["cycles"] / dense["cycles"] if dense["cycles"] else 0.0
        print(f"   {s:<16} {d:>3} {e['blocks']:>8} {e['ideal']:>8} {eff:>7.1%} "
              f"{e['cycles']:>10} {sp:>7.2f}x {saved:>7.1%}")
        rows.append({"strategy": s, "degree": d, **e, "efficiency": eff, "speedup": sp,
                     "cycles_saved": saved})
    col = st[("column", 1)]
    col_saved = 1 - col["cycles"] / dense["cycles"]
    print(f"   column-granular cycles saved here {col_saved:.1%} vs published DiT "
          f"{PUBLISHED_DIT_COLUMN_REDUCTION:.1%} (arXiv 2606.00567); condense per {cfg.rows}-token "
          f"group {1 - st[('condense', 1)]['cycles'] / dense['cycles']:.1%}, greedy ConMerge "
          f"(degree {cfg.merge_degree}) "
          f"{1 - st[('greedy', cfg.merge_degree)]['cycles'] / dense['cycles']:.1%}")
    res.update({"sampled_masks": len(masks), "token_sort": token_sort, "conmerge": rows,
                "column_cycles_saved": col_saved})
    return res


def report_dir(tdir: Path, args) -> dict | None:
    if not (tdir / "index.json").exists():
        print(f"no traces in {tdir}: run `python -m workload traces` in the workload venv")
        return None
    ts = traces.load_traces(tdir)
    cfg = ExionConfig()
    run = ts.info.get("run", {})
    sub = ts.info.get("subsampling")
    print(f"traces: {tdir.relative_to(ROOT) if tdir.is_relative_to(ROOT) else tdir} "
          f"({ts.info.get('model', {}).get('tokens')} tokens; FFN-Reuse N={run.get('ffn_n')} "
          f"s={run.get('target_sparsity')}, EP q_th={run.get('q_th')} k={run.get('k')}, "
          f"{run.get('iterations')} DDIM iterations, {len(ts.info.get('samples', []))} samples"
          + (f"; masks of one dense iteration in {sub['ffn_every_dense_iteration']} (ffn), "
             f"one iteration in {sub['eager_every_iteration']} (eager)" if sub else "") + ")")
    limit = None if args.all else args.max_masks
    if args.rules:
        return {"rules": rule_table(ts.kinds["ffn"], cfg, limit, args.token_sort, args.check)}
    return {k: report_kind(v, cfg, limit, args.token_sort, args.check)
            for k, v in ts.kinds.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--traces", default=None,
                   help="one trace folder (default: every committed one, data/traces*)")
    p.add_argument("--max-masks", type=int, default=48,
                   help="masks per kind scheduled (evenly spaced; sparsity uses all)")
    p.add_argument("--all", action="store_true", help="schedule every mask")
    p.add_argument("--check", action="store_true", help="prove every schedule correct")
    p.add_argument("--token-sort", default="none", choices=["none", "popcount", "signature"])
    p.add_argument("--rules", action="store_true",
                   help="only the CAU rule table (block efficiency) of the ffn masks")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--area", action="store_true",
                   help="only the CAU area of the rules on the 16 x 16 exion array (Yosys, "
                        "minutes per point)")
    p.add_argument("--area-small", action="store_true",
                   help="only the CAU area of the rules on a 4 x 4 array (Yosys)")
    args = p.parse_args(argv)
    if args.area or args.area_small:
        rows = area_table(small=args.area_small)
        if args.json:
            Path(args.json).write_text(json.dumps({"area": rows}, indent=1) + "\n")
        return 0
    if args.traces is not None:
        dirs = [Path(args.traces)]
    else:
        dirs = [paths.traces_for(m) for m in paths.MODELS]
        dirs = [d for d in dirs if (d / "index.json").exists()] or dirs[:1]
    out = {}
    for i, tdir in enumerate(dirs):
        if i:
            print()
        res = report_dir(tdir, args)
        if res is not None:
            out[tdir.name] = res
    if args.json and out:
        data = out[dirs[0].name] if len(dirs) == 1 else out
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
