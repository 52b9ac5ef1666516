"""What ``exion run`` writes and prints: the images (PNG), the run as JSON, the per-layer and
per-iteration tables as CSV, and a summary with the energy per image (``golden/energy.py``
priced on the runtime's action counts)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from exion.config import ExionConfig
from exion.util import atomic_write
from golden.energy import EnergyModel, energy, unit_transistors

from .counts import COLUMNS, Stats

__all__ = ["energy_report", "build", "write", "summary", "SNAPSHOT"]

ROOT = Path(__file__).resolve().parents[2]
#: Transistor counts per unit of the 16 x 16 core's synthesis (as ``exion evaluate``): leakage.
SNAPSHOT = ROOT / "data" / "energy" / "synth_units_exion_16x16.json"


def energy_report(stats: Stats, cfg: ExionConfig):
    tr = unit_transistors(json.loads(SNAPSHOT.read_text())["units"]) if SNAPSHOT.exists() else None
    return energy(stats.counts, cfg, EnergyModel(), tr)


def build(stats: Stats, cfg: ExionConfig, info: dict, images: int) -> dict:
    """The run as one JSON-able dict."""
    tot = stats.totals()
    e = energy_report(stats, cfg)
    return {
        "run": info, "config": cfg.to_dict(), "totals": tot,
        "time_us": tot["cycles"] / cfg.clock_mhz,
        "bound_time_us": tot["bound_cycles"] / cfg.clock_mhz,
        "energy": {"per_image_uj": e.total_pj / images * 1e-6,
                   "dynamic_uj": e.dynamic_pj * 1e-6, "leakage_uj": e.leakage_pj * 1e-6,
                   "by_component_uj": {k: v * 1e-6 for k, v in e.by_component().items()}},
        "action_counts": {f"{c}.{a}": n for (c, a), n in sorted(stats.counts.counts.items())},
        "iterations": stats.per_iteration(),
        "layers": stats.table(),
    }


def _csv(rows: list[dict], keys) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(keys), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _png(images: np.ndarray, labels) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9), squeeze=False)
    for ax, img, lab in zip(axes[0], images, labels):
        ch = img.shape[0]
        pic = img[0] if ch == 1 else np.moveaxis(img[:3], 0, -1)
        ax.imshow((np.clip(pic, -1, 1) + 1) / 2, cmap="gray" if ch == 1 else None,
                  vmin=0, vmax=1)
        ax.set_title(str(lab), fontsize=9)
        ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write(res: dict, images: np.ndarray, labels, out: Path, png: bool = True) -> list[Path]:
    """Everything made in memory first, then written atomically into ``out``."""
    files: dict = {"run.json": json.dumps(res, indent=1) + "\n",
                   "layers.csv": _csv(res["layers"], COLUMNS),
                   "iterations.csv": _csv(res["iterations"],
                                          ["sample", "iteration", "cycles", "macs_done",
                                           "macs_skipped"])}
    if png:
        files["images.png"] = _png(images, labels)
    files["images.npy"] = _npy(images)
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        atomic_write(out / name, files[name])
    return [out / n for n in sorted(files)]


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def summary(res: dict) -> str:
    t, r, e = res["totals"], res["run"], res["energy"]
    done, skip = t["macs_done"], t["macs_skipped"]
    by_layer: dict = {}
    for row in res["layers"]:
        d = by_layer.setdefault(row["layer"], [0, 0, 0])
        d[0] += row["cycles"]
        d[1] += row["macs_done"]
        d[2] += row["macs_skipped"]
    cyc = max(1, t["cycles"])
    lines = [f"{r['model']}: {r['images']} image(s), {r['iterations']} iterations, mode "
             f"{r['mode']}, CFSE on {r.get('cfse', 'host')}, backend {r['backend']}, "
             f"{r['array']}",
             f"  core cycles {t['cycles']:,} ({res['time_us'] / 1e3:.3f} ms at "
             f"{res['config']['clock_mhz']:g} MHz), utilization {t['utilization']:.1%}; "
             f"of them SCHEDULE {t['schedule_cycles']:,}, PREDICT {t['predict_cycles']:,}, "
             f"CFSE commands {t['cfse_cycles']:,} ({t['cfse_cycles'] / cyc:.1%}), staging "
             f"GEMMs {t['staging_cycles']:,} ({t['staging_cycles'] / cyc:.1%})",
             f"  with the data ports: {t['bound_cycles']:,} cycles "
             f"({res['bound_time_us'] / 1e3:.3f} ms), utilization "
             f"{t['bound_utilization']:.1%} (per layer the slower of the SDUE and the busiest "
             f"port)",
             f"  MACs done {done:,}, skipped {skip:,} ({skip / max(1, done + skip):.1%})",
             f"  bytes in {t['bytes_in']:,}, out {t['bytes_out']:,}, windows "
             f"{t['bytes_window']:,}; commands {t['commands']:,}; host elements "
             f"{t['host_elements']:,}",
             f"  energy per image {e['per_image_uj']:.2f} uJ (dynamic {e['dynamic_uj']:.2f}, "
             f"leakage {e['leakage_uj']:.2f} uJ in all)",
             f"  {'layer':<8}{'cycles':>16}{'MACs done':>20}{'skipped':>20}"]
    for name, (c, d, s) in by_layer.items():
        lines.append(f"  {name:<8}{c:>16,}{d:>20,}{s:>20,}")
    return "\n".join(lines)
