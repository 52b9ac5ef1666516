"""``exion evaluate``: the paper's evaluation on the models of this project.

For the trained DiT (``dit-digits``) and the DiT-XL/2 shape, modes ``base``, ``ep``,
``ffnr``, ``all``, 50 and 100 iterations, on the ``exion4`` and ``exion24`` presets:
cycles and action counts from ``golden/dit_modes.py`` (cycle model, ``energy_counts``,
``multicore``), energy per image from ``golden/energy.py``, against the GPU roofline models
(``golden/gpu_roofline.py``): EXION4 against the Jetson Orin Nano, EXION24 against the RTX
6000 Ada, as in the paper. Sparsity from ``data/traces`` (see ``docs/evaluation.md``).

Writes ``evaluate.json``, ``evaluate.csv``, ``partition.csv`` and three PNG charts into
``--out`` (all or nothing: written to a temporary folder first). Bad arguments: one line,
exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from exion.config import ConfigError, preset
from exion.energy_table import SYSTEM_MEMORY
from exion.util import atomic_write, check_range
from exion_tools.inputs import check_out_dir
from golden.dit_modes import MODES, Sparsity, model_counts
from golden.energy import EnergyModel, energy, unit_transistors
from golden.gpu_roofline import DIT_SHAPES, dit_block_gemms, roofline
from golden.multicore import PARTITIONS

__all__ = ["main", "add_arguments", "run", "PAPER", "load_sparsity"]

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "energy" / "synth_units_exion_16x16.json"
TRACES = ROOT / "data" / "traces"
MODELS = ("dit-digits", "dit-xl/2")
SYSTEMS = {"exion4": "orin-nano", "exion24": "rtx6000-ada"}
#: The abstract's ranges (arXiv 2501.05680): (speedup lo, hi), (energy efficiency lo, hi).
PAPER = {"exion24": ((3.2, 379.3), (45.1, 3067.6)), "exion4": ((42.6, 1090.9), (196.9, 4668.2))}
#: The FFN / eager masks are tiled to DiT-XL/2's shape (no trace of it exists).
XL_TILE = {"ffn": (4, 9), "eager": (4, 4)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="build/evaluate", help="output folder (default: %(default)s)")
    p.add_argument("--partition", default="heads",
                   help=f"how a layer is split over the cores: one of {', '.join(PARTITIONS)} "
                        "(default: %(default)s, the fastest measured; docs/evaluation.md)")
    p.add_argument("--iterations", default="50,100",
                   help="comma-separated iteration counts, each in [1, 1000] (default: %(default)s)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)} (default: all)")
    p.add_argument("--samples", type=str, default="8",
                   help="measured masks (FFN) / mask sets (eager) averaged per sparse job, "
                        "integer in [1, 64] (default: %(default)s)")
    p.add_argument("--no-plot", action="store_true", help="do not draw the PNG charts")
    p.add_argument("--no-tile", action="store_true",
                   help="no WMEM-sized column chunks: the cycle model's traffic (weights that "
                        "do not fit WMEM re-fetched per row group)")
    p.add_argument("--no-broadcast", action="store_true",
                   help="every core fetches its own copy of a shared operand")
    p.add_argument("--no-ports", action="store_true",
                   help="no per-core port limit (bus_width / 8 bytes per cycle): only the "
                        "shared bandwidth limits")


def _int_in(name, text, lo, hi) -> int:
    try:
        v = int(text, 10)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {text!r} is not an integer in [{lo}, {hi}]") from None
    return check_range(name, v, lo, hi, error=ConfigError)


def parse(args) -> dict:
    """Checked options (raises :class:`ConfigError` naming option, value and range)."""
    if args.partition not in PARTITIONS:
        raise ConfigError(f"--partition = {args.partition!r} is not one of {', '.join(PARTITIONS)}")
    its = [_int_in("--iterations", s.strip(), 1, 1000) for s in str(args.iterations).split(",")]
    models = [m.strip() for m in str(args.models).split(",")]
    for m in models:
        if m not in MODELS:
            raise ConfigError(f"--models = {m!r} is not one of {', '.join(MODELS)}")
    samples = _int_in("--samples", args.samples, 1, 64)
    out = check_out_dir("--out", args.out)
    return {"partition": args.partition, "iterations": its, "models": models,
            "samples": samples, "out": out, "plot": not args.no_plot,
            "tile": not args.no_tile, "broadcast": not args.no_broadcast,
            "ports": not args.no_ports}


def load_sparsity(samples: int) -> dict:
    """Per model, the :class:`Sparsity` measured on ``data/traces`` (trained DiT, 100
    iterations, N = 2 at 80 %, q_th 0.15, k 0.05): ``samples`` FFN masks and ``samples``
    eager mask sets spread evenly over the traces, the Q / K / V skip fractions of the
    traces' statistics. DiT-XL/2 gets the same masks tiled (:data:`XL_TILE`)."""
    from workload import traces
    ts = traces.load_traces(TRACES)
    stats = ts.info["stats"]
    ffn, eg = ts["ffn"], ts["eager"]
    heads = DIT_SHAPES["dit-digits"]["heads"]
    fi = np.linspace(0, ffn.count - 1, samples).round().astype(int)
    sets = eg.count // heads
    ei = np.linspace(0, sets - 1, samples).round().astype(int)
    fm = [ffn.mask(int(i)) for i in fi]
    em = [eg.mask(int(s) * heads + h) for s in ei for h in range(heads)]
    skips = dict(skip_q=stats["ep_skip_q"], skip_k=stats["ep_skip_k"], skip_v=stats["ep_skip_v"])
    xl_heads = DIT_SHAPES["dit-xl/2"]["heads"]
    xl_e = [np.tile(em[i % len(em)], XL_TILE["eager"]) for i in range(samples * xl_heads)]
    return {
        "dit-digits": Sparsity(tuple(fm), tuple(em), **skips),
        "dit-xl/2": Sparsity(tuple(np.tile(m, XL_TILE["ffn"]) for m in fm), tuple(xl_e), **skips),
        "info": {"ffn_masks": fi.tolist(), "eager_sets": ei.tolist(),
                 "ffn_density": float(np.mean([m.mean() for m in fm])),
                 "eager_density": float(np.mean([m.mean() for m in em])),
                 **skips, "trace_inter_sparsity": stats["inter_sparsity"],
                 "trace_intra_sparsity": stats["intra_sparsity"]},
    }


def _transistors():
    return unit_transistors(json.loads(SNAPSHOT.read_text())["units"])


def _gpu(shape, name, iterations):
    sh = DIT_SHAPES[shape]
    r = roofline(name, dit_block_gemms(shape))
    n = sh["blocks"] * iterations
    return r.time_s * n, r.energy_j * n, r.bound


def run(opts: dict, log=print) -> dict:
    """Every (model, iterations, system, mode) row and the partition study."""
    sp = load_sparsity(opts["samples"])
    tr = _transistors()
    rows, study = [], []
    kw = {k: opts.get(k, True) for k in ("tile", "broadcast", "ports")}
    for model in opts["models"]:
        for system, gpu in SYSTEMS.items():
            cfg = preset(system)
            em = EnergyModel(memory=SYSTEM_MEMORY[system])
            trs = {u: n * cfg.cores for u, n in tr.items()}
            for part in PARTITIONS:  # the partition study: base and all, 100 iterations
                for mode in ("base", "all"):
                    r = model_counts(model, mode, 100, cfg, sp[model], part, **kw)
                    study.append({"model": model, "system": system, "partition": part,
                                  "mode": mode, "cycles": r.cycles,
                                  "latency_ms": r.cycles / cfg.clock_mhz / 1e3})
            for its in opts["iterations"]:
                g_t, g_e, g_bound = _gpu(model, gpu, its)
                for mode in MODES:
                    r = model_counts(model, mode, its, cfg.replace(iterations=its), sp[model],
                                     opts["partition"], **kw)
                    e = energy(r.counts, cfg, em, trs)
                    comp = {k: v * 1e-12 for k, v in e.by_component().items()}
                    rows.append({
                        "model": model, "iterations": its, "system": system, "mode": mode,
                        "cores": cfg.cores, "memory": em.memory,
                        "cycles": r.cycles, "latency_ms": e.time_s * 1e3,
                        "energy_mj": e.total_pj * 1e-9,
                        "energy_j_by_component": comp,
                        "offchip_bytes": r.counts.counts.get(("offchip", "byte"), 0.0),
                        "gpu": gpu, "gpu_latency_ms": g_t * 1e3, "gpu_energy_mj": g_e * 1e3,
                        "gpu_bound": g_bound,
                        "speedup": g_t / e.time_s, "energy_efficiency": g_e / (e.total_pj * 1e-12),
                        "action_counts": {f"{c}.{a}": n for (c, a), n
                                          in sorted(r.counts.counts.items())},
                        "cycles_by_part": {k: {"cycles": v[0], "compute": v[1], "memory": v[2]}
                                           for k, v in r.parts.items()},
                    })
                    log(f"{model:<10} {its:>4} {system:<8} {mode:<5} "
                        f"{rows[-1]['latency_ms']:>10.3f} ms {rows[-1]['energy_mj']:>10.3f} mJ  "
                        f"x{rows[-1]['speedup']:>8.2f}  eff x{rows[-1]['energy_efficiency']:>8.2f}"
                        f"  (GPU {g_t * 1e3:.3f} ms {g_e * 1e3:.3f} mJ)")
    ranges = {}
    for system in SYSTEMS:
        sel = [r for r in rows if r["system"] == system]
        if sel:
            ranges[system] = {
                "ours_speedup": [min(r["speedup"] for r in sel), max(r["speedup"] for r in sel)],
                "ours_energy_efficiency": [min(r["energy_efficiency"] for r in sel),
                                           max(r["energy_efficiency"] for r in sel)],
                "paper_speedup": list(PAPER[system][0]),
                "paper_energy_efficiency": list(PAPER[system][1])}
    return {"format": "exion-evaluate", "version": 1, "partition": opts["partition"], **kw,
            "sparsity": sp["info"], "rows": rows, "partition_study": study, "ranges": ranges,
            "note": "EXION figures: analytic cycle and energy model; GPU figures: roofline "
                    "model (golden/gpu_roofline.py), not measurements"}


def _csv(rows, keys) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _flat(rows):
    comps = sorted({c for r in rows for c in r["energy_j_by_component"]})
    out = []
    for r in rows:
        d = {k: v for k, v in r.items() if k not in ("energy_j_by_component", "cycles_by_part",
                                                     "action_counts")}
        d.update({f"energy_mj_{c}": r["energy_j_by_component"].get(c, 0.0) * 1e3 for c in comps})
        out.append(d)
    return out, [k for k in out[0]] if out else []


def _plots(res) -> dict[str, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = res["rows"]
    files: dict[str, bytes] = {}

    def save(fig, name):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        files[name] = buf.getvalue()
    colors = {"gpu": "0.6", "base": "#4c72b0", "ep": "#dd8452", "ffnr": "#55a868", "all": "#c44e52"}
    for metric, fname, title in (("energy_efficiency", "energy_efficiency.png", "energy efficiency"),
                                 ("speedup", "speedup.png", "speedup")):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        for ax, (system, gpu) in zip(axes, SYSTEMS.items()):
            sel = [r for r in rows if r["system"] == system]
            work = sorted({(r["model"], r["iterations"]) for r in sel})
            x = np.arange(len(work))
            ax.bar(x - 0.32, [1.0] * len(work), 0.16, color=colors["gpu"], label=f"{gpu} (model)")
            for i, mode in enumerate(MODES):
                v = [next(r[metric] for r in sel if (r["model"], r["iterations"]) == w
                          and r["mode"] == mode) for w in work]
                ax.bar(x - 0.16 + 0.16 * i, v, 0.16, color=colors[mode],
                       label=f"{system.upper()}_{mode}")
            ax.set_yscale("log")
            ax.set_xticks(x, [f"{m}\n{i} it." for m, i in work], fontsize=8)
            ax.set_ylabel(f"{title} vs GPU (x)")
            lo, hi = PAPER[system][0 if metric == "speedup" else 1]
            ax.axhspan(lo, hi, color="0.9", zorder=0, label=f"paper {lo}-{hi}x")
            ax.set_title(f"{system.upper()} vs {gpu}: {title}")
            ax.legend(fontsize=7)
        fig.tight_layout()
        save(fig, fname)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, model in zip(axes, sorted({r["model"] for r in rows})):
        sel = [r for r in rows if r["model"] == model and r["iterations"] == max(
            x["iterations"] for x in rows)]
        comps = sorted({c for r in sel for c in r["energy_j_by_component"]})
        labels = [f"{r['system']}\n{r['mode']}" for r in sel]
        bottom = np.zeros(len(sel))
        for c in comps:
            v = np.array([r["energy_j_by_component"].get(c, 0.0) * 1e3 for r in sel])
            ax.bar(labels, v, bottom=bottom, label=c)
            bottom += v
        ax.set_ylabel("mJ per image")
        ax.set_title(f"{model}: energy per image by component")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    save(fig, "energy_breakdown.png")
    return files


def write(res: dict, out: Path, plot: bool) -> list[Path]:
    """Every output made in memory first, then each written atomically into ``out``: a
    failure before the writes leaves nothing behind."""
    files: dict[str, str | bytes] = {"evaluate.json": json.dumps(res, indent=1, sort_keys=True)
                                     + "\n"}
    flat, keys = _flat(res["rows"])
    files["evaluate.csv"] = _csv(flat, keys)
    st = res["partition_study"]
    files["partition.csv"] = _csv(st, list(st[0]) if st else [])
    if plot:
        files.update(_plots(res))
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        atomic_write(out / name, files[name])
    return [out / n for n in sorted(files)]


def report(res: dict) -> str:
    lines = ["", "partition study (100 iterations): latency ms"]
    for r in res["partition_study"]:
        lines.append(f"  {r['model']:<10} {r['system']:<8} {r['mode']:<5} {r['partition']:<9}"
                     f" {r['latency_ms']:>10.3f}")
    lines.append("")
    lines.append("ranges, ours (all rows) against the abstract's:")
    for system, g in res["ranges"].items():
        lines.append(f"  {system} vs {SYSTEMS[system]}: speedup {g['ours_speedup'][0]:.2f}-"
                     f"{g['ours_speedup'][1]:.2f}x (paper {g['paper_speedup'][0]}-"
                     f"{g['paper_speedup'][1]}x), energy efficiency "
                     f"{g['ours_energy_efficiency'][0]:.2f}-{g['ours_energy_efficiency'][1]:.2f}x"
                     f" (paper {g['paper_energy_efficiency'][0]}-"
                     f"{g['paper_energy_efficiency'][1]}x)")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None, prog: str = "exion evaluate") -> int:
    p = _Parser(prog=prog, description="The paper's evaluation (docs/evaluation.md): "
                "latency, energy per image, speedup and energy efficiency of EXION4 / EXION24 "
                "against the GPU roofline models, per mode.")
    add_arguments(p)
    args = p.parse_args(argv)
    return cmd(args, prog)


def cmd(args, prog: str = "exion evaluate") -> int:
    try:
        opts = parse(args)
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = run(opts)
    print(report(res))
    try:
        files = write(res, opts["out"], opts["plot"])
    except OSError as e:
        print(f"{prog}: error: --out {str(opts['out'])!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    for f in files:
        print(f"wrote {f}")
    print(f"evaluate: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
