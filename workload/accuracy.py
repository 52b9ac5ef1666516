"""The accuracy table: vanilla DDIM against FFN-Reuse, eager prediction and INT12, with the
paper's DiT row beside ours; sample grids and the two plots.

Columns (see ``docs/workload.md``):

``inter``       FFN-Reuse inter-iteration sparsity: mean fraction of GELU outputs reused (not
                recomputed) in the sparse iterations;
``FFN MACs -``  FFN MACs saved over the whole run (dense iterations included), FC2 as run
                (``dense``) and had it run in ``delta`` mode;
``intra``       eager-prediction sparsity: mean fraction of ``Q K^T`` pairs not kept;
``PSNR``        mean per-image PSNR against the vanilla samples of the same iteration count;
``acc``         fraction of samples the digit classifier assigns to the requested class;
``FCD``         Frechet classifier distance of the samples to all 1,797 real digits.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from . import paths
from .golden_ops import RunSpec

__all__ = ["PAPER_DIT", "default_specs", "dit256_specs", "specs_for", "quick_specs", "run_table", "format_markdown",
           "save_grid", "plot_sparsity_psnr", "plot_gelu_cosine"]

#: The DiT column of the EXION accuracy table (slides; DiT-XL/2 on ImageNet, 100 iterations).
PAPER_DIT = [
    {"config": "paper DiT: FFN-Reuse", "iterations": 100, "ffn_n": 2, "inter": 0.80,
     "intra": None, "psnr": 15.99, "note": "FID 14.42 (vanilla 10.63), IS 265.73"},
    {"config": "paper DiT: FFN-Reuse + EP", "iterations": 100, "ffn_n": 2, "inter": 0.80,
     "intra": 0.95, "psnr": 14.60, "note": "q_th=0.15, k=0.05"},
    {"config": "paper DiT: FFN-Reuse + EP + Quant.", "iterations": 100, "ffn_n": 2,
     "inter": 0.80, "intra": 0.95, "psnr": 14.57, "note": "INT12 SDUE/EPRE, 16/32b CFSE"},
]


def default_specs() -> list[RunSpec]:
    s = [RunSpec("vanilla-100", 100), RunSpec("vanilla-50", 50)]
    for n in (1, 2, 4):
        for sp in (0.5, 0.8, 0.9):
            s.append(RunSpec(f"reuse-n{n}-s{sp:g}", 100, ffn_n=n, target_sparsity=sp))
    s.append(RunSpec("reuse-n9-s0.95", 100, ffn_n=9, target_sparsity=0.95))
    s.append(RunSpec("reuse-n2-s0.8-delta", 100, ffn_n=2, target_sparsity=0.8, fc2_mode="delta"))
    s.append(RunSpec("reuse-n2-s0.8-50it", 50, ffn_n=2, target_sparsity=0.8))
    s.append(RunSpec("ep-0.15-0.05", 100, ep=True, q_th=0.15, k=0.05))
    s.append(RunSpec("ep-0.15-0.05-lod1", 100, ep=True, q_th=0.15, k=0.05, lod_steps=1))
    for q_th, k in ((0.15, 0.05), (0.15, 0.2), (0.5, 0.2), (1.0, 0.5)):
        s.append(RunSpec(f"reuse-n2-s0.8-ep-{q_th:g}-{k:g}", 100, ffn_n=2, target_sparsity=0.8,
                         ep=True, q_th=q_th, k=k))
    s.append(RunSpec("int12", 100, quant=True))
    s.append(RunSpec("reuse-n2-s0.8-ep-0.15-0.05-int12", 100, ffn_n=2, target_sparsity=0.8,
                     ep=True, q_th=0.15, k=0.05, quant=True))
    # the all-integer path (workload/int_ops.py): the rows above with integer non-linearities
    s.append(RunSpec("int12-intcfse", 100, quant=True, int_cfse=True))
    s.append(RunSpec("reuse-n2-s0.8-ep-0.15-0.05-int12-intcfse", 100, ffn_n=2,
                     target_sparsity=0.8, ep=True, q_th=0.15, k=0.05, quant=True, int_cfse=True))
    return s


def dit256_specs() -> list[RunSpec]:
    """The 256-token model's table: the paper's DiT rows (FFN-Reuse N = 2 at 80 %, + eager
    prediction q_th = 0.15, k = 0.05, + INT12), one- against two-step LOD, and the sweep
    around them (eager prediction relaxed towards vanilla; FFN-Reuse N and sparsity), in
    that order of priority (rows are saved as they finish)."""
    s = [RunSpec("vanilla-100", 100)]
    s.append(RunSpec("reuse-n2-s0.8", 100, ffn_n=2, target_sparsity=0.8))
    s.append(RunSpec("reuse-n2-s0.8-ep-0.15-0.05", 100, ffn_n=2, target_sparsity=0.8,
                     ep=True, q_th=0.15, k=0.05))
    s.append(RunSpec("reuse-n2-s0.8-ep-0.15-0.05-int12", 100, ffn_n=2, target_sparsity=0.8,
                     ep=True, q_th=0.15, k=0.05, quant=True))
    s.append(RunSpec("ep-0.15-0.05", 100, ep=True, q_th=0.15, k=0.05))
    s.append(RunSpec("ep-0.15-0.05-lod1", 100, ep=True, q_th=0.15, k=0.05, lod_steps=1))
    for q_th, k in ((1.0, 0.5), (0.5, 0.2), (0.15, 0.2)):
        s.append(RunSpec(f"reuse-n2-s0.8-ep-{q_th:g}-{k:g}", 100, ffn_n=2, target_sparsity=0.8,
                         ep=True, q_th=q_th, k=k))
    s.append(RunSpec("int12", 100, quant=True))
    for n, sp in ((2, 0.5), (2, 0.9), (4, 0.8)):
        s.append(RunSpec(f"reuse-n{n}-s{sp:g}", 100, ffn_n=n, target_sparsity=sp))
    return s


def specs_for(model: str) -> list[RunSpec]:
    """The table of ``model`` (a key of ``workload.paths.MODELS``)."""
    return dit256_specs() if model == "dit256" else default_specs()


def quick_specs(iterations: int = 10) -> list[RunSpec]:
    """A tiny table for smoke tests."""
    return [RunSpec("vanilla", iterations),
            RunSpec("reuse-n2-s0.8", iterations, ffn_n=2, target_sparsity=0.8),
            RunSpec("reuse-ep", iterations, ffn_n=2, target_sparsity=0.8, ep=True)]


def _vanilla_for(spec: RunSpec, specs: list[RunSpec]) -> RunSpec | None:
    for s in specs:
        if not (s.reuse or s.ep or s.quant) and s.iterations == spec.iterations:
            return s
    return None


def run_table(model, specs: list[RunSpec] | None = None, n: int = 100, out=None,
              grids: bool = True, log=print, merge: bool = False) -> list[dict]:
    """Run every spec on the same ``n`` samples; write ``accuracy.csv``, ``accuracy.md``,
    ``accuracy.json``, sample grids and the plots under ``out`` (default ``build/workload``).

    With ``merge``, the rows replace the rows of the same name in an existing
    ``accuracy.json`` (same ``n`` required) instead of starting a new table."""
    import torch

    from . import sample
    from .sample import Scorer, labels_for, psnr, run

    specs = specs_for(paths.MODEL) if specs is None else specs
    out = Path(out) if out is not None else paths.build_dir()
    out.mkdir(parents=True, exist_ok=True)
    scorer = Scorer()
    labels = labels_for(n).numpy()
    images: dict[str, np.ndarray] = {}
    rows = []
    cos = None
    t_all = time.time()
    for i, spec in enumerate(specs):
        log(f"  [{i + 1}/{len(specs)}] {spec.name}: {spec.label()}, {spec.iterations} iterations")
        record = not (spec.reuse or spec.ep or spec.quant) and spec.iterations == 100
        imgs, ops, secs = run(model, spec, n, progress=True, record_gelu=record)
        if record:
            cos = {k: list(v) for k, v in ops.stats.gelu_cos.items()}
        x = imgs.numpy()
        images[spec.name] = x
        van = _vanilla_for(spec, specs)
        if van is not None and van.name in images and van.name != spec.name:
            p = psnr(x, images[van.name])
            ps, pmin = float(np.mean(p)), float(np.min(p))
        else:
            ps = pmin = None
        st = ops.stats.as_dict()
        sc = scorer.score(x, labels)
        row = {
            "config": spec.name, "label": spec.label(), "iterations": spec.iterations,
            "ffn_n": spec.ffn_n, "target_sparsity": spec.target_sparsity,
            "fc2_mode": spec.fc2_mode if spec.reuse else None,
            "q_th": spec.q_th if spec.ep else None, "k": spec.k if spec.ep else None,
            "quant": f"INT{spec.data_width}" if spec.quant else None,
            "inter": st["inter_sparsity"] if spec.reuse else None,
            "ffn_mac_saved": st["ffn_mac_reduction"] if spec.reuse else None,
            "ffn_mac_saved_delta": st["ffn_mac_reduction_delta_fc2"] if spec.reuse else None,
            "intra": st["intra_sparsity"] if spec.ep else None,
            "ep_dominant": st["ep_dominant"] if spec.ep else None,
            "ep_skip_q": st["ep_skip_q"] if spec.ep else None,
            "ep_skip_k": st["ep_skip_k"] if spec.ep else None,
            "ep_skip_v": st["ep_skip_v"] if spec.ep else None,
            # the integer path does not compute the exact float scores the hit rate needs
            "ep_hit_rate": st["ep_hit_rate"] if spec.ep and not spec.int_cfse else None,
            "ep_top1_hit_rate": st["ep_top1_hit_rate"] if spec.ep and not spec.int_cfse
            else None,
            "psnr": ps, "psnr_min": pmin, "class_acc": sc["class_acc"], "fcd": sc["fcd"],
            "seconds": round(secs, 1), "samples": n,
        }
        rows.append(row)
        # rows so far, in case a long table is stopped (the final files are written below)
        (out / "accuracy.partial.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
        log(f"      inter {_pct(row['inter'])}  intra {_pct(row['intra'])}  PSNR "
            f"{_num(ps)} dB  acc {sc['class_acc']:.2f}  FCD {sc['fcd']:.2f}  ({secs:.0f} s)")
        if grids:
            save_grid(x, out / "grids" / f"{spec.name}.png")
    np.savez_compressed(out / "samples.npz", labels=labels,
                        **{k: v.astype(np.float16) for k, v in images.items()})
    ref = scorer.reference()
    if "vanilla-50" in images and "vanilla-100" in images:
        ref["psnr_vanilla50_vs_vanilla100"] = float(np.mean(psnr(images["vanilla-50"],
                                                                 images["vanilla-100"])))
    meta = {"samples": n, "seconds": round(time.time() - t_all, 1), "reference": ref,
            "torch": torch.__version__, "guidance": sample.GUIDANCE, "seed": sample.SEED,
            "model": paths.MODEL}
    if merge and (out / "accuracy.json").exists():
        old = json.loads((out / "accuracy.json").read_text())
        if old["meta"].get("samples") == n:
            new = {r["config"]: r for r in rows}
            merged = {r["config"]: r for r in old["rows"]}
            merged.update(new)
            names = [sp.name for sp in specs_for(paths.MODEL)]
            rows = sorted(merged.values(), key=lambda r: (names.index(r["config"])
                                                          if r["config"] in names else 999))
            labels_now = {sp.name: sp.label() for sp in specs_for(paths.MODEL)}
            for r in rows:
                r["label"] = labels_now.get(r["config"], r["label"])
            meta["seconds"] = round(old["meta"].get("seconds", 0) + meta["seconds"], 1)
            meta["merged"] = sorted(new)
    _write(rows, meta, out)
    if cos is not None:
        (out / "gelu_cosine.json").write_text(json.dumps(cos) + "\n")
        plot_gelu_cosine(cos, out / "gelu_cosine.png")
    plot_sparsity_psnr(rows, out / "sparsity_psnr.png")
    return rows


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)


CSV_FIELDS = ["config", "label", "iterations", "ffn_n", "target_sparsity", "fc2_mode", "q_th",
              "k", "quant", "inter", "ffn_mac_saved", "ffn_mac_saved_delta", "intra",
              "ep_dominant", "ep_skip_q", "ep_skip_k", "ep_skip_v", "ep_hit_rate",
              "ep_top1_hit_rate", "psnr", "psnr_min",
              "class_acc", "fcd", "seconds", "samples"]


def _write(rows, meta, out: Path):
    with open(out / "accuracy.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_FIELDS})
    (out / "accuracy.json").write_text(json.dumps({"rows": rows, "meta": meta}, indent=1) + "\n")
    md = format_markdown(rows, meta)
    (out / "accuracy.md").write_text(md)


def format_markdown(rows, meta) -> str:
    head = ("| configuration | it. | inter | FFN MACs saved (dense / delta FC2) | intra | "
            "EP hit rate | PSNR vs vanilla (dB) | class acc. | FCD |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        macs = "-" if r["ffn_mac_saved"] is None else \
            f"{100 * r['ffn_mac_saved']:.0f}% / {100 * r['ffn_mac_saved_delta']:.0f}%"
        lines.append(
            f"| {r['label']} | {r['iterations']} | {_pct(r['inter'])} | {macs} | "
            f"{_pct(r['intra'])} | {_pct(r.get('ep_hit_rate'))} | {_num(r['psnr'])} | "
            f"{r['class_acc']:.2f} | "
            f"{r['fcd']:.2f} |")
    for p in PAPER_DIT:
        lines.append(f"| {p['config']} ({p['note']}) | {p['iterations']} | {_pct(p['inter'])} "
                     f"| - | {_pct(p['intra'])} | - | {p['psnr']:.2f} | - | - |")
    ref = meta.get("reference", {})
    per_class = (meta.get("samples") or 100) // 10
    lines += ["", f"{meta.get('samples')} samples per configuration ({per_class} per class), one "
              f"fixed starting noise; PSNR against the vanilla run of the same iteration count. "
              f"Real digits: classifier held-out accuracy {ref.get('test_accuracy')}, FCD of 100 "
              f"real digits {ref.get('fcd_real100', float('nan')):.2f} (the floor of a "
              f"100-sample FCD)."
              + (f" For scale: vanilla 50 vs vanilla 100 iterations on the same noise differ by "
                 f"{ref['psnr_vanilla50_vs_vanilla100']:.2f} dB PSNR."
                 if "psnr_vanilla50_vs_vanilla100" in ref else ""), ""]
    return "\n".join(lines)


def save_grid(x: np.ndarray, path, per_row: int = 10, scale: int = 2) -> None:
    """Samples ``(n, 1, H, W)`` in [-1, 1] as a PNG mosaic, ``per_row`` samples per row
    (with ten-per-class label order, each column is one class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, _, hh, ww = x.shape
    rows = -(-n // per_row)
    pad = 1
    canvas = np.ones((rows * (hh + pad) + pad, per_row * (ww + pad) + pad))
    for i in range(n):
        r, c = divmod(i, per_row)
        canvas[pad + r * (hh + pad):pad + r * (hh + pad) + hh,
               pad + c * (ww + pad):pad + c * (ww + pad) + ww] = (x[i, 0] + 1) / 2
    canvas = np.kron(canvas, np.ones((scale, scale)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.clip(canvas, 0, 1), cmap="gray", vmin=0, vmax=1)


def plot_sparsity_psnr(rows, path) -> None:
    """Left: FFN-Reuse, inter-iteration sparsity vs PSNR (one line per N). Right: eager
    prediction, intra-iteration sparsity vs PSNR. Paper DiT points as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    hundred = [r for r in rows if r["psnr"] is not None and r["iterations"] == 100]
    plain = [r for r in hundred if r["inter"] is not None and r["intra"] is None
             and r["quant"] is None and r["fc2_mode"] == "dense"]
    for i, n in enumerate(sorted({r["ffn_n"] for r in plain})):
        pts = sorted((100 * r["inter"], r["psnr"]) for r in plain if r["ffn_n"] == n)
        a1.plot(*zip(*pts), marker="os^vD"[i % 5], color=f"C{i}", label=f"FFN-Reuse N={n}")
    a1.scatter(80, PAPER_DIT[0]["psnr"], marker="*", s=120, color="C3",
               label="paper DiT, FFN-Reuse N=2")
    a1.set_xlabel("inter-iteration sparsity (GELU outputs reused in sparse iterations, %)")
    a1.set_ylabel("PSNR vs vanilla (dB)")
    a1.set_title("FFN-Reuse (DDIM 100 iterations)")
    ep = [r for r in hundred if r["intra"] is not None]
    for r in ep:
        quant = r["quant"] is not None
        a2.scatter(100 * r["intra"], r["psnr"], marker="s" if quant else "o",
                   color="C1" if r["inter"] is not None else "C2",
                   label=("FFN-Reuse N=2 s=0.8 + EP" if r["inter"] is not None else "EP only")
                   + (" + INT12" if quant else ""))
        txt = f"q_th={r['q_th']:g}, k={r['k']:g}"
        if "1-step" in r["label"]:
            txt += " (1-step LOD)"
        a2.annotate(txt, (100 * r["intra"], r["psnr"]), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    for p, m in zip(PAPER_DIT[1:], ("*", "P")):
        a2.scatter(100 * p["intra"], p["psnr"], marker=m, s=110, color="C3",
                   label=p["config"].replace("paper DiT: ", "paper DiT, "))
    a2.set_xlabel("intra-iteration sparsity (Q K^T pairs not kept, %)")
    a2.set_ylabel("PSNR vs vanilla (dB)")
    a2.set_title("Eager prediction (DDIM 100 iterations)")
    for ax in (a1, a2):
        h, lab = ax.get_legend_handles_labels()
        uniq = dict(zip(lab, h))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_gelu_cosine(cos: dict, path) -> None:
    """Cosine similarity of each block's GELU output between consecutive iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for b in sorted(cos, key=int):
        v = cos[b]
        ax.plot(range(1, len(v) + 1), v, label=f"block {int(b)}")
    ax.set_xlabel("DDIM iteration i (similarity of i-1 and i)")
    ax.set_ylabel("cosine similarity of GELU output")
    ax.set_title("FFN-Reuse motivation: GELU outputs change little between iterations")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
