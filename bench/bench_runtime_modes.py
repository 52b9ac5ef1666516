"""Whole sampling runs of a DiT per mode: total core cycles, the speedup of ``ep`` / ``ffnr``
/ ``all`` over ``base``, the ideal speedup (``base``'s MACs over the MACs the mode actually
did) and the ratio of the two; the cycles per layer kind as a stacked bar plot (PNG).

    .venv/bin/python bench/bench_runtime_modes.py [--models dit64,dit-xl/2]
        [--iterations 50,100] [--modes base,ep,ffnr,all] [--cfse chip] [--blocks N]
        [--path auto|model|fast|count] [--overlap on|off] [--cau-rate R] [--merge-degree D]
        [--shape-blocks N] [--png build/bench_runtime_modes.png]
    .venv/bin/python bench/bench_runtime_modes.py --check dit-xl/2 --iterations 2 [--cau-rate 4]

One image of class 0, seed 0, the ``exion`` preset (16 x 16, 16 lanes) with the overrides
given, as ``exion run --model M --mode X --cfse C --iterations T --backend B``. Cycles are the
sum of every execute and CFSE command's ``CYCLES`` (docs/runtime.md, "The report"), whatever
``golden/cycle_model.py`` says today: the script reads them from the run. A layer kind is the
report's ``layer`` column (the CFSE work is counted in the layer that issued it). Paths
(docs/runtime.md, "Count-only runs"): ``model`` issues every command to
``golden.core_model``; ``fast`` computes the data with the golden functions and the counters
per command from their shapes and the real masks (identical images and counters);
``count`` has no data at all, its masks from ``data/traces256`` (the trained dit256's real
masks, mapped onto the shape): the default (``auto``) for a synthetic shape such as DiT-XL/2,
whose seeded weights give no meaningful masks; ``fast`` for a trained model. ``--overlap
on`` (default): each sparse GEMM's next ``SCHEDULE`` runs in the other SMEM half beside it.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from exion_tools.runtime.cli import MODELS  # noqa: E402
from exion_tools.runtime.count_only import PATHS, make_runtime  # noqa: E402
from exion_tools.runtime.counts import Stats  # noqa: E402
from exion_tools.runtime.dit import SHAPES, load_npz, synthetic  # noqa: E402
from exion_tools.runtime.model import CFSE_PLACES, MODES  # noqa: E402

#: Layer kinds in forward order (the report's ``layer`` column).
KINDS = ("embed", "adaln", "predict", "qkv", "qk", "pv", "proj", "fc1", "fc2", "final")


def weights_of(name: str, blocks: int | None):
    w = load_npz(MODELS[name]) if name in MODELS else synthetic(SHAPES[name], 0)
    if blocks is not None and blocks < w.spec.depth:
        w = dataclasses.replace(w, spec=dataclasses.replace(w.spec, depth=blocks))
    return w


def run_one(w, mode: str, cfg, cfse: str, path: str, overlap: bool, depth=None,
            label: str = "") -> dict:
    st = Stats(cfg)
    t0, c0 = time.perf_counter(), time.process_time()

    def progress(done, total):
        if done % 10 == 0 or done == total:
            print(f"\r  {label} {mode}: {done}/{total} iterations "
                  f"{time.perf_counter() - t0:.0f} s", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)
    rt = make_runtime(path, w, cfg, mode, st, cfse=cfse, overlap=overlap, depth=depth)
    rt.sample([0], 0, progress=progress)
    t = st.totals()
    by = collections.Counter()
    for r in st.rows.values():
        by[r.layer] += r.cycles
    return {"cycles": t["cycles"], "macs": t["macs_done"], "skipped": t["macs_skipped"],
            "cfse": t["cfse_cycles"], "staging": t["staging_cycles"],
            "sched": t["schedule_cycles"],
            "pred": t["predict_cycles"], "by_layer": by, "wall": time.perf_counter() - t0,
            "cpu": time.process_time() - c0}


def check(model: str, cfg, cfse: str, overlap: bool) -> bool:
    """One block, ``cfg.iterations`` iterations, mode ``all`` on the model backend (masks
    recorded) and on the count-only path (the same masks): every counter compared."""
    from exion_tools.runtime.backend import make_backend
    from exion_tools.runtime.count_only import (CountHost, CountRuntime, MaskLog,
                                                RecordingRuntime, ReplayMasks)
    from exion_tools.runtime.lower import Host
    w = weights_of(model, 1)
    st, sc, log = Stats(cfg), Stats(cfg), MaskLog()
    t0 = time.process_time()
    RecordingRuntime(w, cfg, "all", Host(cfg, make_backend("model", cfg), st, overlap=overlap),
                     cfse=cfse, log=log).sample([0], 0)
    t1 = time.process_time()
    CountRuntime(w, cfg, "all", CountHost(cfg, sc, overlap=overlap), cfse=cfse,
                 masks=ReplayMasks(log)).sample([0], 0)
    t2 = time.process_time()
    rows = [k for k in st.rows if st.rows[k] != sc.rows.get(k)]
    same = (not rows and st.totals() == sc.totals() and st.counts.counts == sc.counts.counts
            and st.counts.cycles == sc.counts.cycles)
    print(f"check {model}, 1 block, {cfg.iterations} iterations, mode all: model backend "
          f"{st.totals()['cycles']:,} cycles, {st.totals()['macs_done']:,} MACs, "
          f"{st.totals()['bytes_in']:,} bytes in ({t1 - t0:.1f} s CPU); count-only "
          f"{sc.totals()['cycles']:,}, {sc.totals()['macs_done']:,}, "
          f"{sc.totals()['bytes_in']:,} ({t2 - t1:.1f} s CPU): "
          f"{'identical' if same else f'DIFFERENT rows {rows[:4]}'}")
    return same


def table(model: str, iterations: int, res: dict) -> list[str]:
    base = res.get("base")
    out = [f"{model}, {iterations} iterations, 1 image (vs base)",
           f"  {'mode':<6}{'cycles':>16}{'speedup':>9}{'ideal':>8}{'ratio':>8}"
           f"{'MACs done':>22}{'skipped':>9}{'CFSE':>7}{'SCHED':>7}{'PRED':>7}"
           f"{'wall s':>8}{'CPU s':>8}"]
    for mode, r in res.items():
        sp = base["cycles"] / r["cycles"] if base and r["cycles"] else float("nan")
        ideal = base["macs"] / r["macs"] if base and r["macs"] else float("nan")
        sk = r["skipped"] / max(1, r["macs"] + r["skipped"])
        out.append(f"  {mode:<6}{r['cycles']:>16,}{sp:>9.3f}{ideal:>8.3f}{sp / ideal:>8.3f}"
                   f"{r['macs']:>22,}{sk:>9.1%}{r['cfse'] / max(1, r['cycles']):>7.1%}"
                   f"{r['sched'] / max(1, r['cycles']):>7.1%}"
                   f"{r['pred'] / max(1, r['cycles']):>7.1%}"
                   f"{r['wall']:>8.1f}{r['cpu']:>8.1f}")
    # the part the modes act on: cycles less the CFSE commands and their staging GEMMs
    # (GEMMs, SCHEDULE, PREDICT), against the same ideal
    out.append(f"  without CFSE and staging: {'mode':<6}{'cycles':>15}{'speedup':>9}"
               f"{'ratio':>8}")
    for mode, r in res.items():
        g = r["cycles"] - r["cfse"] - r["staging"]
        gb = base["cycles"] - base["cfse"] - base["staging"] if base else 0
        sp = gb / g if base and g else float("nan")
        ideal = base["macs"] / r["macs"] if base and r["macs"] else float("nan")
        out.append(f"  {'':<26}{mode:<6}{g:>15,}{sp:>9.3f}{sp / ideal:>8.3f}")
    out.append(f"  cycles per layer kind ({', '.join(res)}):")
    for k in KINDS:
        if any(r["by_layer"][k] for r in res.values()):
            out.append(f"    {k:<8}" + "".join(f"{r['by_layer'][k]:>15,}" for r in res.values()))
    return out


def plot(runs: dict, path: Path) -> bool:
    """Stacked bars: one per (model, iterations, mode), cycles per layer kind."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(runs)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    for ax, ((model, iters), res) in zip(axes[0], runs.items()):
        modes = list(res)
        bottom = [0.0] * len(modes)
        for k in KINDS:
            vals = [res[m]["by_layer"][k] / 1e6 for m in modes]
            if any(vals):               # one colour per kind in every panel
                ax.bar(modes, vals, bottom=bottom, label=k, color=f"C{KINDS.index(k)}")
                bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(f"{model}, {iters} iterations", fontsize=9)
        ax.set_ylabel("core cycles (millions)")
    seen = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    labels = [k for k in KINDS if k in seen]
    axes[0][-1].legend([seen[k] for k in labels], labels, fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="dit64,dit-xl/2")
    p.add_argument("--iterations", default="50,100")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--cfse", default="chip", choices=CFSE_PLACES)
    p.add_argument("--blocks", type=int, default=None,
                   help="only the first N transformer blocks of a trained model (default all)")
    p.add_argument("--path", default="auto", choices=("auto", *PATHS),
                   help="model, fast or count (default auto: fast for a trained model, count "
                        "for a synthetic shape)")
    p.add_argument("--overlap", default="on", choices=("on", "off"),
                   help="SCHEDULE into the other SMEM half beside each sparse GEMM (default on)")
    p.add_argument("--cau-rate", type=int, default=None,
                   help="cau_rate override (default the preset's)")
    p.add_argument("--merge-degree", type=int, default=None,
                   help="merge_degree override (default the preset's)")
    p.add_argument("--shape-blocks", type=int, default=None,
                   help="transformer blocks of a synthetic shape (default all)")
    p.add_argument("--check", default=None, metavar="MODEL",
                   help="only compare the count-only path with the model backend on one "
                        "block of MODEL in mode all (--iterations: its first value)")
    p.add_argument("--png", default=str(ROOT / "build" / "bench_runtime_modes.png"))
    a = p.parse_args(argv)
    over = {k: v for k, v in (("cau_rate", a.cau_rate), ("merge_degree", a.merge_degree))
            if v is not None}
    if a.check:
        cfg = preset("exion", iterations=int(a.iterations.split(",")[0]), **over)
        return 0 if check(a.check, cfg, a.cfse, a.overlap == "on") else 1
    models = a.models.split(",")
    for m in models:
        if m not in MODELS and m not in SHAPES:
            p.error(f"--models: {m!r} is not one of {', '.join([*MODELS, *SHAPES])}")
    modes = a.modes.split(",")
    if any(m not in MODES for m in modes):
        p.error(f"--modes: one of {', '.join(MODES)} each")
    runs = {}
    for model in models:
        shape = model in SHAPES
        path = a.path if a.path != "auto" else ("count" if shape else "fast")
        depth = None
        if shape:
            full = SHAPES[model].depth if a.shape_blocks is None else a.shape_blocks
            # count: block 0's weights serve every block (the same shapes and biases)
            w = weights_of(model, 1 if path == "count" else full)
            depth = full
        else:
            w = weights_of(model, a.blocks)
        for it in [int(s) for s in a.iterations.split(",")]:
            cfg = preset("exion", iterations=it, **over)
            res = runs[(model, it)] = {}
            for mode in modes:
                res[mode] = run_one(w, mode, cfg, a.cfse, path, a.overlap == "on", depth,
                                    f"{model} {it}")
            sp = w.spec
            name = (f"{model} ({sp.tokens} tokens, hidden {sp.hidden}, "
                    f"{depth or sp.depth} blocks), CFSE on {a.cfse}, path {path}, overlap "
                    f"{a.overlap}, cau_rate {cfg.cau_rate}, merge_degree {cfg.merge_degree}")
            print("\n".join(table(name, it, res)), flush=True)
    png = Path(a.png)
    if plot(runs, png):
        print(f"wrote {png}")
    else:
        print("matplotlib is not installed: no plot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
