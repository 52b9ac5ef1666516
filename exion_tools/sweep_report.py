"""Tables and plots of ``exion sweep``: Pareto flags, ``sweep.csv``, ``sweep.json`` and
``sweep_pareto.png``.

A row is one design point: its label, the fields the sweep varied, then the columns its
objectives returned (``exion_tools/sweep_point.py``). Written atomically; the CSV has the
union of the rows' columns, so an objective added later (energy) adds columns and nothing
here changes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from exion.util import atomic_write

__all__ = ["pareto", "write_tables", "plot", "format_table", "PARETO_AXES"]

#: (x, y) column pairs a Pareto flag and a plot panel are made for, when the rows have them:
#: area against latency with the off-chip bound, and against SDUE compute cycles alone.
PARETO_AXES = (("area_tr", "latency_us"), ("area_tr", "reuse_cycles"),
               ("energy", "latency_us"))


def pareto(rows: list[dict], x: str, y: str) -> list[bool]:
    """Per row: no other row is at most as large in both ``x`` and ``y`` and smaller in one."""
    return [not any(b[x] <= a[x] and b[y] <= a[y] and (b[x] < a[x] or b[y] < a[y])
                    for b in rows) for a in rows]


def axes_of(rows: list[dict]) -> list[tuple[str, str]]:
    return [(x, y) for x, y in PARETO_AXES if rows and all(x in r and y in r for r in rows)]


def mark(rows: list[dict]) -> None:
    """Add a ``pareto_<x>_<y>`` column (1 / 0) per axis pair the rows have."""
    for x, y in axes_of(rows):
        for r, p in zip(rows, pareto(rows, x, y)):
            r[f"pareto_{x}_{y}"] = int(p)


def columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def write_tables(rows: list[dict], failed: list[dict], out: Path) -> list[Path]:
    """``sweep.csv`` (one row per finished point) and ``sweep.json`` (rows and failures)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write(out / "sweep.csv", buf.getvalue())
    atomic_write(out / "sweep.json", json.dumps({"points": rows, "failed": failed},
                                                indent=1, sort_keys=True) + "\n")
    return [out / "sweep.csv", out / "sweep.json"]


def format_table(rows: list[dict]) -> str:
    head = f"{'point':<28} {'area M Tr':>10} {'latency us':>11} {'compute cyc':>12}  pareto"
    lines = [head]
    flag = "pareto_area_tr_latency_us"
    for r in rows:
        area = f"{r['area_tr'] / 1e6:10.2f}" if "area_tr" in r else f"{'-':>10}"
        lat = f"{r['latency_us']:11.1f}" if "latency_us" in r else f"{'-':>11}"
        cyc = f"{r['reuse_cycles']:12d}" if "reuse_cycles" in r else f"{'-':>12}"
        lines.append(f"{r['label']:<28} {area} {lat} {cyc}  {'*' if r.get(flag) else ''}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path | None:
    """One log-log panel per axis pair the rows have, Pareto front in red; ``None`` if there is
    no pair or matplotlib is not installed (the ``plot`` extra)."""
    axes = axes_of(rows)
    if not axes:
        return None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    labels = {"area_tr": "area: transistors, millions", "latency_us":
              "DiT latency with FFN-Reuse, ms (off-chip bound included)",
              "reuse_cycles": "DiT SDUE compute cycles with FFN-Reuse, millions",
              "energy": "DiT energy per image with FFN-Reuse, mJ"}
    scale = {"area_tr": 1e6, "latency_us": 1e3, "reuse_cycles": 1e6, "energy": 1e3}
    fig, panels = plt.subplots(1, len(axes), figsize=(7 * len(axes), 5.5), squeeze=False)
    for ax, (x, y) in zip(panels[0], axes):
        front = pareto(rows, x, y)
        xs = [r[x] / scale.get(x, 1) for r in rows]
        ys = [r[y] / scale.get(y, 1) for r in rows]
        ax.scatter(xs, ys, c=["tab:red" if p else "tab:gray" for p in front], zorder=3)
        line = sorted((a, b) for a, b, p in zip(xs, ys, front) if p)
        ax.plot([a for a, _ in line], [b for _, b in line], color="tab:red", lw=1.5,
                label="Pareto front", zorder=2)
        for r, a, b in zip(rows, xs, ys):
            ax.annotate(r["label"], (a, b), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
        for axis in (ax.xaxis, ax.yaxis):  # 60, not 6 x 10^1
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)
        ax.set_xlabel(labels.get(x, x))
        ax.set_ylabel(labels.get(y, y))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"EXION design space: {len(rows)} points, trained DiT (64 tokens, 4 blocks)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path
