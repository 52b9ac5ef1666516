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

The sweep (``--part sweep``) adds the weight fetch: per CAU rate (``cau_rate``) 1 / 2 / 4,
merge degree 2 / 3 / 4 and window (``cau_window``) 1 / 2 / 4, ``golden.sparse_iteration.
loop_order`` gives the CAU / SDUE pipeline (``overlapped_cycles`` over every row group), the
off-chip bytes at ``offchip_bytes_per_cycle`` (``--bandwidth``; the preset's 32 B/cycle) and
the minimum bytes; iteration = ``max(pipeline, memory)`` against the dense order's
``max(SDUE, memory)``. At the trace's K the weights fit WMEM (one window, fetched once); at
K = 1152 (DiT-XL/2's FC1 reduction) they do not, so the order is per channel window of one
WMEM buffer (``window_capacity``, whole column tiles), activations once per window.

The core part (``--part core``) runs the whole FC1 iteration as the core does it, row group by
row group (``golden.sparse_iteration.core_iteration``): the ``SCHEDULE`` of group g + 1 (SMEM
and mask-memory halves) beside the sparse ``GEMM`` of group g, and each group's weights
gathered from memory by its SMEM vectors (``LOAD_WMEM`` with ``GATHER``) at the off-chip
bandwidth, against the dense GEMM (weights fetched once when they fit one WMEM buffer); per
merge degree / window (``--degree`` / ``--window``, at ``--rate``, default 4) on
``--max-masks`` FC1 masks (default 8) of ``data/traces`` and ``data/traces256``, every
16-token row group of each.
The per-command cycles it composes (``schedule_cycles``, ``compute_cycles``) are those the RTL
equals (tests/test_core_sparse_iter.py, tests/test_core_overlap.py).

The resident part (``--part resident``) runs the resident loop order
(``golden.sparse_resident.resident_iteration``): per channel window of one WMEM buffer in the
resident layout (``resident_window``), its weights fetched once and read in place, every row
group's blocks from the CAU's resident rule (a ``SCHEDULE`` with ``RESIDENT``), activations
fetched again per window; against, in the same run, the per-group gather order
(``core_iteration``'s ``gathered``) and the weights on chip (its ``compute``), both with the
CAU's unconstrained rule, and the dense GEMM with its weight fetch; per merge degree, window
and slot choice (``--degree`` / ``--window``, first and best fit) on ``--max-masks`` FC1
masks of ``data/traces`` and ``data/traces256`` at their own K and K = 1152, and on
``--composite`` 256 x 4608 masks tiled from ``data/traces256`` (bench/bench_loop_order.py's
``composite_masks``) at K = 1152: DiT-XL/2's FC1 shape. The dense baseline ``dense*`` is the
faster of the per-group dense order (``--part core``'s, ``dense+w``) and the dense GEMM in the
window order (``dense_window_cycles``); ``--window-buffers 2`` puts a window in two WMEM
buffers (both orders), ``--permute`` stores each window's channels in
``golden.sparse_resident.resident_permutation``'s order.

``--part resident --acts-resident`` prints instead one table at the DiT-XL/2 shape
(``--composite`` masks, K = 1152): the resident order with every row group's activations
fetched again per window (today's ``GEMM``s, tokens at IMEM word 0) against activations
resident (``resident_iteration(..., acts_resident=True)``: the groups' token tiles side by side
in IMEM, each ``GEMM`` at its group's ``ibase``, every token fetched once), the dense GEMM in
the same window order likewise (``dense_window_cycles``), for the preset and for the preset
with the smallest ``imem_bank_bytes`` whose IMEM holds every group
(``golden.sparse_resident.imem_groups``: ``imem_buffers * floor(words("imem") / kc)`` >= row
groups); per configuration its IMEM and its on-chip IMEM + WMEM + OMEM bytes
(``rows * imem_buffers * imem_bank_bytes + cols * wmem_buffers * wmem_bank_bytes + rows *
omem_buffers * omem_bank_bytes``, the ``mem_bits`` of ``exion_tools.sweep_point.area_model``;
SMEM and the mask memory left out).

    .venv/bin/python bench/bench_sparse_iteration.py [--max-masks N] [--part P] [--bandwidth B]
        [--degree D ...] [--window W ...] [--window-buffers 1|2] [--permute] [--composite N]
        [--acts-resident]
        (pipeline part ~1 min, sweep ~8 min with every mask, core ~10 s, resident ~3 min with
        the default 8 masks, degrees 2 4 and windows 1 4 8, on one core)
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
from golden.core_mem import item_bytes  # noqa: E402
from golden.sparse_bound import imem_bank_bytes_for  # noqa: E402
from golden.sparse_iteration import (core_iteration, iteration, loop_order,  # noqa: E402
                                     window_capacity)
from golden.sparse_resident import (dense_window_cycles, imem_groups,  # noqa: E402
                                    resident_iteration, resident_permutation, resident_window)
from workload import traces  # noqa: E402

RULES = (("greedy (W=1)", 1, 0, 1), ("W=2", 2, 0, 1), ("W=4 sort", 4, 1, 1),
         ("W=2 rate 2", 2, 0, 2), ("W=2 rate 4", 2, 0, 4))
RATES, DEGREES, WINDOWS = (1, 2, 4), (2, 3, 4), (1, 2, 4)
DIT_K = 1152                        # DiT-XL/2 FC1 reduction (hidden size)


def sweep(masks, k: int, base, s: float) -> None:
    """One table: every (merge degree, window, rate) on ``masks`` at reduction ``k``."""
    cap = window_capacity(k, base) // base.cols * base.cols
    win = None if cap >= masks[0].shape[1] else cap
    dense = [loop_order(mk, k, base, win, strategy="dense") for mk in masks]
    d_time = sum(r.iteration for r in dense)
    d_sdue = sum(r.compute for r in dense)
    order = ("one window, weights fetched once" if win is None else
             f"channel windows of {win} (one WMEM buffer), activations once per window")
    print(f"\nK {k}: {order}; "
          f"{base.offchip_bytes_per_cycle:g} B/cycle; dense {d_time} cycles (SDUE {d_sdue}, "
          f"memory {sum(r.memory for r in dense)}), ideal {1 / (1 - s):.2f}x")
    head = (f"{'D':>2} {'W':>2} {'rate':>4} {'blocks':>7} {'effic':>6} {'SDUE':>8} {'CAU':>8} "
            f"{'pipeline':>9} {'memory':>9} {'bytes/min':>9} {'iter':>9} {'x dense':>7} "
            f"{'of ideal':>8} {'x SDUE':>7} {'of ideal':>8} {'B/cyc':>6}")
    print(head)
    print("-" * len(head))
    for deg in DEGREES:
        for w in WINDOWS:
            for rate in RATES:
                cfg = base.replace(merge_degree=deg, cau_window=w, cau_rate=rate)
                reps = [loop_order(mk, k, cfg, win) for mk in masks]
                tot = {a: sum(getattr(r, a) for r in reps)
                       for a in ("blocks", "ideal_blocks", "compute", "cau", "pipeline",
                                 "memory", "offchip_bytes", "min_bytes", "iteration")}
                x = d_time / tot["iteration"]
                xp = d_sdue / tot["pipeline"]     # compute side alone (weights on chip)
                print(f"{deg:>2} {w:>2} {rate:>4} {tot['blocks']:>7} "
                      f"{tot['ideal_blocks'] / tot['blocks']:>6.1%} {tot['compute']:>8} "
                      f"{tot['cau']:>8} {tot['pipeline']:>9} {tot['memory']:>9} "
                      f"{tot['offchip_bytes'] / tot['min_bytes']:>9.3f} {tot['iteration']:>9} "
                      f"{x:>6.2f}x {x * (1 - s):>8.1%} {xp:>6.2f}x {xp * (1 - s):>8.1%} "
                      f"{tot['offchip_bytes'] / tot['pipeline']:>6.0f}")


def core_part(base, folder: str, max_masks: int, degrees, windows, rate: int) -> None:
    """The core's whole FC1 iteration (``core_iteration``) per merge degree and window."""
    kind = traces.load_traces(ROOT / "data" / folder)["ffn"]
    idx = np.unique(np.linspace(0, kind.count - 1, max_masks or kind.count).astype(int))
    masks = [kind.mask(int(i)) for i in idx]
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    print(f"\n## core: data/{folder}, {len(masks)} FC1 masks of {kind.rows} x {kind.cols} "
          f"({-(-kind.rows // base.rows)} row groups each), sparsity {s:.1%}, ideal "
          f"{1 / (1 - s):.2f}x; CAU rate {rate}; {base.offchip_bytes_per_cycle:g} B/cycle")
    print("compute: SCHEDULE g+1 beside GEMM g, weights on chip (overlapped_cycles); fill = "
          "compute - steady (first SCHEDULE, last drain); gathered: every group's weights "
          "gathered from memory (fetch_pipeline_cycles) against the dense GEMM with its "
          "weight fetch; bytes/min = gathered bytes / every needed weight row once; "
          "B/cyc = bandwidth at which the gather stops binding")
    head = (f"{'K':>5} {'D':>2} {'W':>2} {'blocks':>6} {'effic':>6} {'CAU':>6} {'SDUE':>7} "
            f"{'steady':>7} {'fill':>5} {'compute':>7} {'dense':>7} {'x':>6} {'of ideal':>8} "
            f"{'gathered':>8} {'dense+w':>8} {'x':>6} {'of ideal':>8} {'bytes/min':>9} "
            f"{'B/cyc':>6}")
    for k in (int(kind.gemm.get("K", 128)), DIT_K):
        print()
        print(head)
        print("-" * len(head))
        for deg in degrees:
            for w in windows:
                cfg = base.replace(merge_degree=deg, cau_window=w, cau_rate=rate)
                reps = [core_iteration(mk, k, cfg) for mk in masks]
                t = {a: sum(getattr(r, a) for r in reps)
                     for a in ("blocks", "ideal_blocks", "cau", "sdue", "steady", "compute",
                               "dense_compute", "dense", "gathered", "gather_bytes",
                               "min_bytes")}
                x = t["dense_compute"] / t["compute"]
                xg = t["dense"] / t["gathered"]
                print(f"{k:>5} {deg:>2} {w:>2} {t['blocks']:>6} "
                      f"{t['ideal_blocks'] / t['blocks']:>6.1%} {t['cau']:>6} {t['sdue']:>7} "
                      f"{t['steady']:>7} {t['compute'] - t['steady']:>5} {t['compute']:>7} "
                      f"{t['dense_compute']:>7} {x:>5.2f}x {x * (1 - s):>8.2f} "
                      f"{t['gathered']:>8} {t['dense']:>8} {xg:>5.2f}x {xg * (1 - s):>8.2f} "
                      f"{t['gather_bytes'] / t['min_bytes']:>9.2f} "
                      f"{t['gather_bytes'] / t['compute']:>6.0f}")


def resident_part(base, label: str, masks, ks, degrees, windows, rate: int, sort: int,
                  buffers: int = 1, permute: bool = False) -> None:
    """The resident loop order against the per-group gather and weights on chip, per merge
    degree, window and slot choice, on ``masks`` at each reduction of ``ks``."""
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    print(f"\n## resident: {label}, {len(masks)} FC1 masks of {masks[0].shape[0]} x "
          f"{masks[0].shape[1]}, sparsity {s:.1%}, ideal {1 / (1 - s):.2f}x; CAU rate {rate}, "
          f"sort {sort}; {base.offchip_bytes_per_cycle:g} B/cycle; a window = {buffers} WMEM "
          f"buffer(s)" + ("; channels in golden.sparse_resident.resident_permutation's order per "
                          "window (resident columns)" if permute else ""))
    head = (f"{'K':>5} {'D':>2} {'W':>2} {'fit':>5} {'win':>4} {'blocks':>6} {'effic':>6} "
            f"{'on-chip':>8} {'of id':>5} {'resident':>9} {'x':>6} {'of id':>5} {'B/min':>5} "
            f"{'gathered':>9} {'x':>6} {'of id':>5} {'B/min':>5} {'unconstr':>8} {'of id':>5} "
            f"{'dense*':>9} {'dense+w':>9} {'res':>5} {'gath':>5} {'w-eff':>6}")
    m, n = masks[0].shape
    for k in ks:
        print()
        print(head)
        print("-" * len(head))
        for deg in degrees:
            for w in windows:
                for fit in (0, 1):
                    cfg = base.replace(merge_degree=deg, cau_window=w, cau_rate=rate,
                                       cau_fit=fit, cau_sort=sort)
                    win = buffers * resident_window(k, cfg)
                    if permute:
                        res = [resident_iteration(
                            mk[:, resident_permutation(mk, cfg, win)], k, cfg, win)
                            for mk in masks]
                    else:
                        res = [resident_iteration(mk, k, cfg, win) for mk in masks]
                    core = [core_iteration(mk, k, cfg) for mk in masks]
                    r = {a: sum(getattr(x, a) for x in res)
                         for a in ("blocks", "ideal_blocks", "compute", "cycles",
                                   "offchip_bytes", "act_once", "min_weight_bytes")}
                    c = {a: sum(getattr(x, a) for x in core)
                         for a in ("compute", "gathered", "dense", "dense_compute",
                                   "gather_bytes")}
                    least = r["min_weight_bytes"] + r["act_once"]
                    # the same windows with the CAU's own rule: what windowing alone costs
                    free = sum(resident_iteration(mk, k, cfg, win, rule="cau").blocks
                               for mk in masks)
                    # the faster dense order: per row group (core_iteration) or per window
                    dense = min(c["dense"],
                                len(masks) * dense_window_cycles(m, n, k, cfg, buffers)[0])
                    x_on = c["dense_compute"] / r["compute"]
                    x_res = dense / r["cycles"]
                    x_g = dense / c["gathered"]
                    x_u = c["dense_compute"] / c["compute"]
                    print(f"{k:>5} {deg:>2} {w:>2} {('first', 'best')[fit]:>5} "
                          f"{res[0].window:>4} {r['blocks']:>6} "
                          f"{r['ideal_blocks'] / r['blocks']:>6.1%} {r['compute']:>8} "
                          f"{x_on * (1 - s):>5.2f} {r['cycles']:>9} {x_res:>5.2f}x "
                          f"{x_res * (1 - s):>5.2f} {r['offchip_bytes'] / least:>5.2f} "
                          f"{c['gathered']:>9} {x_g:>5.2f}x {x_g * (1 - s):>5.2f} "
                          f"{(c['gather_bytes'] + r['act_once']) / least:>5.2f} "
                          f"{c['compute']:>8} {x_u * (1 - s):>5.2f} {dense:>9} "
                          f"{c['dense']:>9} {c['dense'] / r['cycles'] * (1 - s):>5.2f} "
                          f"{c['dense'] / c['gathered'] * (1 - s):>5.2f} "
                          f"{r['ideal_blocks'] / free:>6.1%}",
                          flush=True)
    print("on-chip: the resident rule's blocks, weights on chip (CAU / SDUE pipeline); "
          "resident: with the window's weights fetched once and the activations per window "
          "(resident_iteration); gathered: every group's weights gathered (core_iteration); "
          "unconstr: the CAU's own rule, weights on chip; dense* = the faster dense order "
          "with its weight fetch: per row group (core_iteration's dense) or per channel window "
          "(dense_window_cycles); dense+w = the per-row-group one alone (--part core's), res / "
          "gath = resident / gathered of ideal against it; x = dense* (or the dense SDUE for "
          "the on-chip columns) / cycles; of id = x * (1 - s); B/min = off-chip bytes / "
          "(every needed weight row + every token, once); w-eff = block efficiency of the same "
          "windows with the CAU's own rule (the cost of the windows alone)")


def onchip_bytes(cfg) -> int:
    """IMEM + WMEM + OMEM bytes of every bank and buffer (``exion_tools.sweep_point.area_model``'s
    ``mem_bits`` / 8)."""
    return (cfg.rows * cfg.imem_buffers * cfg.imem_bank_bytes
            + cfg.cols * cfg.wmem_buffers * cfg.wmem_bank_bytes
            + cfg.rows * cfg.omem_buffers * cfg.omem_bank_bytes)


def acts_part(base, label: str, masks, k: int, degrees, windows, rate: int, sort: int,
              buffers: int = 1, permute: bool = False) -> None:
    """Activations fetched per window against resident (GEMM ``ibase``), for the preset and
    for the IMEM that holds every row group, per merge degree, CAU window and slot choice."""
    m, n = masks[0].shape
    s = 1.0 - float(np.mean([mk.mean() for mk in masks]))
    G = -(-m // base.rows)
    big = base.replace(imem_bank_bytes=imem_bank_bytes_for(m, k, base))
    print(f"\n## activations resident: {label}, {len(masks)} FC1 masks of {m} x {n}, K {k}, "
          f"{G} row groups, sparsity {s:.1%}, ideal {1 / (1 - s):.2f}x; CAU rate {rate}, sort "
          f"{sort}; {base.offchip_bytes_per_cycle:g} B/cycle; a window = {buffers} WMEM "
          f"buffer(s)" + ("; resident_permutation's channel order" if permute else ""))
    head = (f"{'IMEM B/bank':>11} {'groups':>6} {'on-chip KiB':>11} {'D':>2} {'W':>2} "
            f"{'fit':>5} {'acts':>8} {'win':>4} {'cycles':>9} {'MB':>7} {'B/min':>5} {'dense-win':>9} "
            f"{'B/min':>5} {'x':>6} {'of id':>5} {'dense*':>9} {'x*':>6} {'of id*':>6}")
    print(head)
    print("-" * len(head))
    for cfg0 in (base, big):
        for deg in degrees:
            for w, fit in ((w, fit) for w in windows for fit in (0, 1)):
                cfg = cfg0.replace(merge_degree=deg, cau_window=w, cau_rate=rate, cau_sort=sort,
                                   cau_fit=fit)
                win = buffers * resident_window(k, cfg)
                mks = [mk[:, resident_permutation(mk, cfg, win)] for mk in masks] \
                    if permute else masks
                core_dense = sum(core_iteration(mk, k, cfg).dense for mk in masks)
                # the dense minimum: every weight row and every token, once
                kc = -(-k // cfg.lanes)
                ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
                dleast = len(masks) * (n * -(-kc * ib // cfg.bus_bytes) * cfg.bus_bytes
                                       + m * kc * ib)
                for acts in (False, True):
                    lead = (f"{cfg.imem_bank_bytes:>11} {imem_groups(k, cfg):>6} "
                            f"{onchip_bytes(cfg) / 1024:>11.0f} {deg:>2} {w:>2} "
                            f"{('first', 'best')[fit]:>5} {('per-win', 'resident')[acts]:>8}")
                    if acts and imem_groups(k, cfg) < G:
                        print(f"{lead}  (IMEM holds {imem_groups(k, cfg)} of {G} row groups)")
                        continue
                    res = [resident_iteration(mk, k, cfg, win, acts_resident=acts)
                           for mk in mks]
                    cyc = sum(r.cycles for r in res)
                    off = sum(r.offchip_bytes for r in res)
                    least = sum(r.min_weight_bytes + r.act_once for r in res)
                    dw = [dense_window_cycles(m, n, k, cfg, buffers, acts_resident=acts)
                          for _ in masks]
                    dcyc, dbytes = sum(d[0] for d in dw), sum(d[1] for d in dw)
                    dense = min(core_dense, dcyc)
                    x, xs = dcyc / cyc, dense / cyc
                    print(f"{lead} {res[0].window:>4} {cyc:>9} {off / 1e6:>7.2f} "
                          f"{off / least:>5.2f} {dcyc:>9} {dbytes / dleast:>5.2f} {x:>5.2f}x "
                          f"{x * (1 - s):>5.2f} {dense:>9} {xs:>5.2f}x {xs * (1 - s):>6.2f}",
                          flush=True)
    print("acts: per-win = every group's tokens fetched again per window (tokens at IMEM word "
          "0), resident = once (every group's tile in IMEM at its own GEMM ibase); groups = row "
          "groups IMEM holds (imem_groups); MB = off-chip bytes of the sparse iteration; B/min "
          "= off-chip bytes / (every needed weight row + every token, once), the dense one's "
          "against every weight row + every token once; dense-win = the dense GEMM in the same "
          "window order and activation rule (dense_window_cycles); x = dense-win / cycles; "
          "dense* = the faster of dense-win and the per-row-group dense order (core_iteration); "
          "x* = dense* / cycles; of id = x * (1 - s)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-masks", type=int, default=0,
                   help="masks per folder, evenly spaced (default 0: all)")
    p.add_argument("--part", choices=("pipeline", "sweep", "core", "resident", "all"),
                   default="all",
                   help="pipeline: the serial / overlapped table; sweep: rate x degree x window "
                        "with the weight fetch; core: the core's whole iteration with the "
                        "gather; resident: the resident loop order against the gather and "
                        "weights on chip (default: pipeline and sweep)")
    p.add_argument("--composite", type=int, default=1,
                   help="resident part: 256 x 4608 masks tiled from data/traces256 (default 1; "
                        "0: none)")
    p.add_argument("--window-buffers", type=int, choices=(1, 2), default=1,
                   help="resident part: WMEM buffers one channel window fills (default 1; "
                        "the next window's weights load into another)")
    p.add_argument("--permute", action="store_true",
                   help="resident part: each window's channels in resident_permutation's "
                        "order (host-side, chosen from the mask)")
    p.add_argument("--acts-resident", action="store_true",
                   help="resident part: only the table of activations fetched per window "
                        "against resident in IMEM (GEMM ibase) at the DiT-XL/2 shape, for the "
                        "preset and the IMEM that holds every row group")
    p.add_argument("--sort", type=int, choices=(0, 1), default=0,
                   help="resident part: cau_sort (default 0: ascending channels)")
    p.add_argument("--degree", type=int, nargs="+", default=[2, 3, 4],
                   help="core part: merge degrees (default 2 3 4)")
    p.add_argument("--window", type=int, nargs="+", default=[1, 2, 4],
                   help="core part: CAU windows (default 1 2 4)")
    p.add_argument("--rate", type=int, default=4, help="core part: CAU rate (default 4)")
    p.add_argument("--bandwidth", type=float, default=None,
                   help="off-chip bytes per cycle of the sweep (default: the preset's)")
    args = p.parse_args(argv)
    base = preset("exion")
    try:
        if args.bandwidth is not None:
            base = base.replace(offchip_bytes_per_cycle=args.bandwidth)
        for d in args.degree:
            for w in args.window:
                base.replace(merge_degree=d, cau_window=w, cau_rate=args.rate)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.part == "resident" and args.acts_resident:
        from bench_loop_order import composite_masks
        kind = traces.load_traces(ROOT / "data" / "traces256")["ffn"]
        masks = composite_masks(kind, max(1, args.composite))
        acts_part(base, "DiT-XL/2 FC1 shape (data/traces256 tiled)", masks, DIT_K,
                  args.degree, args.window, args.rate, args.sort, args.window_buffers,
                  args.permute)
        return 0
    if args.part == "resident":
        from bench_loop_order import composite_masks
        for folder in ("traces", "traces256"):
            kind = traces.load_traces(ROOT / "data" / folder)["ffn"]
            n = args.max_masks or 8
            idx = np.unique(np.linspace(0, kind.count - 1, n).astype(int))
            resident_part(base, f"data/{folder}", [kind.mask(int(i)) for i in idx],
                          (int(kind.gemm.get("K", 128)), DIT_K), args.degree, args.window,
                          args.rate, args.sort, args.window_buffers,
                          args.permute)
        kind = traces.load_traces(ROOT / "data" / "traces256")["ffn"]
        if args.composite > 0:
            resident_part(base, "DiT-XL/2 FC1 shape (data/traces256 tiled)",
                          composite_masks(kind, args.composite), (DIT_K,), args.degree,
                          args.window, args.rate, args.sort, args.window_buffers,
                          args.permute)
        return 0
    if args.part == "core":
        for folder in ("traces", "traces256"):
            core_part(base, folder, args.max_masks or 8, args.degree, args.window, args.rate)
        return 0
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
        if args.part in ("sweep", "all"):
            print("x dense = dense iteration / iteration (both max(compute, memory)); x SDUE = "
                  "dense SDUE / pipeline (weights on chip); of ideal = x * (1 - s); effic = "
                  "ideal blocks / blocks; bytes/min = off-chip bytes / minimum; B/cyc = the "
                  "bandwidth at which the sparse iteration stops being memory-bound")
            for k in (int(kind.gemm.get("K", 128)), DIT_K):
                sweep(masks, k, base, s)
        if args.part == "sweep":
            continue
        print()
        print(head)
        print("-" * len(head))
        for k in (int(kind.gemm.get("K", 128)), 384, 1152):
            for label, w, srt, rate in RULES:
                cfg = base.replace(cau_window=w, cau_sort=srt, cau_rate=rate)
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
    if args.part == "sweep":
        return 0
    print("\nsteady = max(SCHEDULE, blocks * II) summed over every group: the pipeline without "
          "its fill (the first group's SCHEDULE) and drain, what consecutive layers or "
          "iterations queued back to back approach")
    return 0


if __name__ == "__main__":
    sys.exit(main())
