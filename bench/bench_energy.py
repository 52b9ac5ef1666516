"""Energy of the EXION core's FFN FC1 GEMM, dense and sparse (FFN-Reuse), against a roofline
model of the talk's two GPUs.

Prints, for the ``exion`` preset (16 x 16, INT12) and the energy model's defaults (14 nm,
0.8 V; ``docs/energy.md``):

* the energy of an INT12 MAC, an IMEM read and an off-chip byte per memory type, as the
  model uses them, with their sources;
* leakage from the per-unit transistor counts of ``make synth`` (``build/`` report if there,
  else the committed snapshot ``data/energy/synth_units_exion_16x16.json``);
* FC1 of the trained DiT (``(64 x 128) @ (128 x 512)``): a dense FFN-Reuse iteration (GEMM
  with the keep-mask) and the sparse iterations on the real keep-masks of ``data/traces``
  (greedy ConMerge), with the component breakdown, per memory type; the same dense GEMM of
  DiT-XL/2 (``(256 x 1152) @ (1152 x 4608)``) for scale;
* the GPU roofline model of the same layers and of whole DiT blocks;
* ``build/bench_energy.csv`` (every figure above) and ``build/bench_energy.png``.

    python bench/bench_energy.py [--masks N] [--node NM] [--vdd V] [--memory TYPE]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exion import energy_table as T  # noqa: E402
from exion.config import preset  # noqa: E402
from golden.energy import (ActionCounts, EnergyError, EnergyModel, dpu_ff_bits,  # noqa: E402
                           energy, unit_transistors)
from golden.energy_counts import (dense_gemm_counts, dit_block_counts,  # noqa: E402
                                  ffn_dense_iteration_counts, ffn_sparse_iteration_counts,
                                  schedule_counts)
from golden import conmerge  # noqa: E402
from golden.gpu_roofline import Gemm, dit_block_gemms, roofline  # noqa: E402
from workload import paths, traces  # noqa: E402

SNAPSHOT = ROOT / "data" / "energy" / "synth_units_exion_16x16.json"
FRESH = ROOT / "build" / "synth_exion_core_16x16.json"
DIGITS = T.DIT_SHAPES["dit-digits"]
XL = T.DIT_SHAPES["dit-xl/2"]


def load_transistors():
    if FRESH.exists():
        data = json.loads(FRESH.read_text())
        if data.get("config", {}).get("rows") == 16 and "design" in data:
            return unit_transistors(data["design"]["units"]), str(FRESH.relative_to(ROOT))
    return unit_transistors(json.loads(SNAPSHOT.read_text())["units"]), \
        str(SNAPSHOT.relative_to(ROOT))


def mac_energy(model, cfg) -> dict[str, float]:
    """pJ of one INT12 MAC as the SDUE spends it: a multiply plus the per-lane share of one
    adder-tree reduction, one accumulate and the DPU's flip-flops."""
    t = model.action_table(cfg)
    return {"multiply": t[("dpu", "mult")],
            "adder tree / lanes": t[("dpu", "tree_add")] / cfg.lanes,
            "accumulate / lanes": t[("dpu", "acc_add")] / cfg.lanes,
            "flip-flops / lanes": t[("dpu", "ff_bit")] * dpu_ff_bits(cfg) / cfg.lanes}


def operands_once(counts, rep, cfg, extra_cycles=0):
    """``counts`` of one GEMM with the GPU model's traffic where it is less than the cycle
    model's: every operand and result moved once (``(m k + k n + m n)`` values), cycles
    ``max(compute, bytes / bandwidth)`` plus ``extra_cycles`` (the SCHEDULE). A bound, not a
    dataflow the core has: its IMEM holds one row group of tokens per buffer
    (docs/energy.md)."""
    once = -(-(rep.m * rep.k + rep.k * rep.n + rep.m * rep.n) * cfg.data_width // 8)
    once = min(once, rep.offchip_bytes)
    c = ActionCounts(dict(counts.counts))
    c.counts[("offchip", "byte")] = once
    c.cycles = extra_cycles + max(rep.compute_cycles,
                                  -(-once // int(cfg.offchip_bytes_per_cycle)))
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masks", type=int, default=64,
                    help="real FFN keep-masks to average, 1..272 (default 64)")
    ap.add_argument("--node", type=float, default=14.0, help="technology node, nm (default 14)")
    ap.add_argument("--vdd", type=float, default=0.8, help="supply, V (default 0.8)")
    ap.add_argument("--memory", default="lpddr4", choices=list(T.DRAM_PJ_PER_BIT),
                    help="off-chip memory of the breakdowns (default lpddr4)")
    args = ap.parse_args(argv)
    if not 1 <= args.masks <= 272:
        ap.error(f"--masks = {args.masks} is out of range [1, 272]")
    t0 = time.perf_counter()
    cfg = preset("exion")
    try:
        model = EnergyModel(node_nm=args.node, vdd=args.vdd, memory=args.memory)
    except EnergyError as e:
        ap.error(str(e))
    tab = model.action_table(cfg)
    rows: list[dict] = []

    def record(section, item, value, unit, note=""):
        rows.append({"section": section, "item": item, "value": value, "unit": unit,
                     "note": note})

    print(f"EXION core '{cfg.name}': {cfg.rows} x {cfg.cols} DPUs x {cfg.lanes} lanes, "
          f"INT{cfg.data_width}, {cfg.clock_mhz:g} MHz, {cfg.offchip_bytes_per_cycle:g} B/cycle "
          f"off-chip. Energy model: {model.node_nm:g} nm, {model.vdd:g} V (a model: "
          "docs/energy.md).\n")

    print("== energy per action as used (pJ)")
    mac = mac_energy(model, cfg)
    for k, v in mac.items():
        print(f"  INT12 MAC: {k:<20} {v:8.4f}")
    print(f"  INT12 MAC total            {sum(mac.values()):8.4f}   (horowitz14 multiply/add, "
          "aladdin flip-flops; scaled by stillmaker17)")
    record("action", "INT12 MAC", sum(mac.values()), "pJ", "multiply + tree/acc/ff share")
    imem = tab[("imem", "read")]
    print(f"  IMEM read ({cfg.lanes * cfg.data_width} bits, {cfg.imem_bank_bytes} B bank)"
          f"     {imem:8.4f}   (horowitz14 SRAM, sqrt-capacity fit)")
    print(f"  WMEM read ({cfg.merge_degree * cfg.lanes * cfg.data_width} bits, "
          f"{cfg.wmem_bank_bytes} B bank)   {tab[('wmem', 'read')]:8.4f}")
    record("action", "IMEM read", imem, "pJ", f"{cfg.lanes * cfg.data_width}-bit word")
    for name, ref in T.DRAM_PJ_PER_BIT.items():
        mark = "" if ref.checked else "  [unverified: no source read]"
        print(f"  off-chip byte, {name:<7} {8 * ref.pj:9.1f}   ({ref.source}){mark}")
        record("action", f"DRAM byte {name}", 8 * ref.pj, "pJ", ref.source)

    tr, tr_src = load_transistors()
    p_leak = model.leak_per_transistor_w()
    leak_w = sum(tr.values()) * p_leak
    print(f"\n== leakage: {sum(tr.values()) / 1e6:.1f} M transistors ({tr_src}), "
          f"{p_leak * 1e9:.3f} nW each (aladdin, scaled) -> {leak_w * 1e3:.1f} mW")
    record("leakage", "core", leak_w * 1e3, "mW", tr_src)

    # -- FC1 of the trained DiT ------------------------------------------------------------
    t, d, f = DIGITS["tokens"], DIGITS["hidden"], DIGITS["ffn"]
    dense_c, dense_rep = ffn_dense_iteration_counts(t, d, f, cfg)
    kind = traces.load_traces(paths.TRACES)["ffn"]
    pick = np.unique(np.linspace(0, kind.count - 1, args.masks).round().astype(int))
    sparse_c = sparse_once = None
    sparsity = []
    for i in pick:
        mask = kind.mask(int(i))
        c, rep = ffn_sparse_iteration_counts(mask, d, cfg)
        sched_cycles = schedule_counts(conmerge.schedule(mask, cfg, "greedy"), mask).cycles
        o = operands_once(c, rep, cfg, sched_cycles)
        sparse_c = c if sparse_c is None else sparse_c + c
        sparse_once = o if sparse_once is None else sparse_once + o
        sparsity.append(1 - mask.mean())
    sparse_c = sparse_c * (1 / len(pick))
    sparse_once = sparse_once * (1 / len(pick))
    dense_e = energy(dense_c, cfg, model, tr)
    sparse_e = energy(sparse_c, cfg, model, tr)
    print(f"\n== FC1 of the trained DiT ({t} x {d}) @ ({d} x {f}), {args.memory}")
    print(f"-- dense iteration (GEMM + keep-mask): {dense_rep.total_cycles} cycles "
          f"({dense_rep.bound}-bound), {dense_rep.offchip_bytes} B off-chip")
    print(dense_e.format())
    print(f"-- sparse iteration (SCHEDULE + sparse GEMM), mean of {len(pick)} real keep-masks "
          f"(data/traces, sparsity {np.mean(sparsity):.1%}): {sparse_c.cycles:.0f} cycles")
    print(sparse_e.format())
    on_d = dense_e.total_pj - dense_e.by_component().get("offchip", 0)
    on_s = sparse_e.total_pj - sparse_e.by_component().get("offchip", 0)
    print(f"sparse / dense: {sparse_e.total_pj / dense_e.total_pj:.3f} total, "
          f"{on_s / on_d:.3f} on-chip only")
    for label, e in (("dense", dense_e), ("sparse", sparse_e)):
        for comp, v in e.by_component().items():
            record(f"fc1 digits {label}", comp, v, "pJ", args.memory)
        record(f"fc1 digits {label}", "total", e.total_pj, "pJ", args.memory)

    print("\n-- per memory type (uJ): dense / sparse FC1, trained DiT")
    per_mem = {}
    for mem in T.DRAM_PJ_PER_BIT:
        m2 = EnergyModel(node_nm=args.node, vdd=args.vdd, memory=mem)
        de = energy(dense_c, cfg, m2, tr).total_pj
        se = energy(sparse_c, cfg, m2, tr).total_pj
        per_mem[mem] = (de, se)
        print(f"  {mem:<7} {de / 1e6:8.3f} / {se / 1e6:8.3f}  (x{de / se:.2f})")

    # -- DiT-XL/2 FC1, dense, for scale ------------------------------------------------------
    xl_c, xl_rep = dense_gemm_counts(XL["tokens"], XL["hidden"], XL["ffn"], cfg)
    xl_e = energy(xl_c, cfg, model, tr)
    print(f"\n== dense FC1 of DiT-XL/2 ({XL['tokens']} x {XL['hidden']}) @ ({XL['hidden']} x "
          f"{XL['ffn']}): {xl_rep.total_cycles} cycles ({xl_rep.bound}-bound, weights "
          f"{'resident' if xl_rep.weight_resident else 're-fetched per row group'})")
    print(xl_e.format())
    record("fc1 xl dense", "total", xl_e.total_pj, "pJ", args.memory)

    # -- whole dense DiT blocks, one core ---------------------------------------------------
    print("\n== one dense DiT block on one core (every GEMM with its loads, then the CFSE "
          "functions; in series) and all blocks of one iteration")
    block_e = {}
    for shape in ("dit-digits", "dit-xl/2"):
        parts = dit_block_counts(shape, cfg)
        tot = sum(parts.values(), ActionCounts())
        e = energy(tot, cfg, model, tr)
        nb = T.DIT_SHAPES[shape]["blocks"]
        block_e[shape] = (tot, e)
        shares = ", ".join(f"{c} {v / e.total_pj:.1%}" for c, v in
                           sorted(e.by_component().items(), key=lambda kv: -kv[1])[:4])
        print(f"  {shape:<10} block: {tot.cycles:.0f} cycles = {e.time_s * 1e6:.1f} us, "
              f"{e.total_pj / 1e6:.2f} uJ ({shares}); x{nb} blocks: "
              f"{e.time_s * nb * 1e3:.3f} ms, {e.total_pj * nb / 1e9:.3f} mJ")
        print("             per part (uJ): " + ", ".join(
            f"{k} {energy(c, cfg, model, tr).total_pj / 1e6:.2f}" for k, c in parts.items()))
        record(f"block {shape}", "total", e.total_pj / 1e6, "uJ", f"{e.time_s * 1e6:.2f} us")

    # -- GPU roofline --------------------------------------------------------------------
    print("\n== GPU roofline model (peak throughput, perfect caching, board power x time)")
    print("EXION core: the cycle model's traffic; '[once]': every operand moved once, the GPU "
          "model's assumption (a bound for the core)")
    print(f"{'layer':<31}{'GPU':<18}{'time us':>10}{'energy uJ':>12}  bound     "
          f"{'EXION core us':>13}{'uJ':>10}")
    dense_once = operands_once(dense_c, dense_rep, cfg)
    xl_once = operands_once(xl_c, xl_rep, cfg)
    layers = []
    for tag, dc, sc, xc in (("", dense_c, sparse_c, xl_c),
                            (" [once]", dense_once, sparse_once, xl_once)):
        layers += [("FC1 digits, dense" + tag, Gemm("fc1", t, d, f), dc),
                   ("FC1 digits, sparse" + tag, Gemm("fc1", t, d, f), sc),
                   ("FC1 DiT-XL/2, dense" + tag,
                    Gemm("fc1", XL["tokens"], XL["hidden"], XL["ffn"]), xc)]
    for label, g, counts in layers:
        ex_us = counts.cycles / cfg.clock_mhz
        ex_pj = energy(counts, cfg, model, tr).total_pj
        for gname in T.GPUS:
            r = roofline(gname, g)
            print(f"{label:<31}{T.GPUS[gname].name:<18}{r.time_s * 1e6:>10.2f}"
                  f"{r.energy_j * 1e6:>12.2f}  {r.bound:<8}{ex_us:>13.2f}{ex_pj / 1e6:>10.3f}"
                  f"   GPU/EXION: time x{r.time_s * 1e6 / ex_us:.2f}, "
                  f"energy x{r.energy_j * 1e12 / ex_pj:.1f}")
            record(f"gpu {label}", T.GPUS[gname].name, r.energy_j * 1e6, "uJ",
                   f"{r.time_s * 1e6:.3f} us, {r.bound}-bound")
        record(f"exion {label}", "core", ex_pj / 1e6, "uJ", f"{ex_us:.3f} us")
    for shape in ("dit-digits", "dit-xl/2"):
        blocks = T.DIT_SHAPES[shape]["blocks"]
        for gname in T.GPUS:
            r = roofline(gname, dit_block_gemms(shape))
            _, e = block_e[shape]
            print(f"  {shape} dense GEMMs of all {blocks} blocks (one iteration) on "
                  f"{T.GPUS[gname].name}: {r.time_s * blocks * 1e3:.3f} ms, "
                  f"{r.energy_j * blocks * 1e3:.2f} mJ ({r.bound}-bound); GPU/EXION core: "
                  f"time x{r.time_s / e.time_s:.2f}, energy x{r.energy_j * 1e12 / e.total_pj:.2f}")
            record(f"gpu block {shape}", T.GPUS[gname].name, r.energy_j * 1e6, "uJ",
                   f"{r.time_s * 1e6:.3f} us, {r.bound}-bound")
    print("(EXION core figures: one core, the cycle model's traffic at "
          f"{cfg.offchip_bytes_per_cycle:g} B/cycle; GPU figures: docs/energy.md, 'GPU "
          "baselines')")

    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    with open(out / "bench_energy.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["section", "item", "value", "unit", "note"])
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {out / 'bench_energy.csv'}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no PNG (pip install -e '.[plot]')")
    else:
        comps = sorted({c for e in (dense_e, sparse_e) for c in e.by_component()} - {"offchip"})
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        bottom = np.zeros(2)
        for c in comps:
            v = np.array([e.by_component().get(c, 0.0) for e in (dense_e, sparse_e)]) / 1e6
            a1.bar(["dense", "sparse"], v, bottom=bottom, label=c)
            bottom += v
        a1.set_ylabel("uJ")
        a1.set_title(f"FC1, trained DiT: on-chip energy, {model.node_nm:g} nm")
        a1.legend(fontsize=7)
        mems = list(per_mem)
        x = np.arange(len(mems))
        a2.bar(x - 0.2, [per_mem[m][0] / 1e6 for m in mems], 0.4, label="dense")
        a2.bar(x + 0.2, [per_mem[m][1] / 1e6 for m in mems], 0.4, label="sparse")
        a2.set_xticks(x, mems)
        a2.set_ylabel("uJ")
        a2.set_title("FC1 total energy (with off-chip) by memory type")
        a2.legend()
        fig.tight_layout()
        fig.savefig(out / "bench_energy.png", dpi=110)
        print(f"wrote {out / 'bench_energy.png'}")
    print(f"bench time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
