"""Design-space sweep on Dask: every design point is a task, results cached by configuration.

    exion sweep [--vary FIELD=V1,V2,...]... [--set FIELD=V]... [--area synth|model]
                [--workers N] [--threads N] [--scheduler tcp://HOST:PORT] [--out build]

A point is the preset (``--preset``, default ``exion``) with the ``--set`` fields and one
combination of the ``--vary`` values applied; any ``ExionConfig`` field can be set or varied,
by its name (so a field added to the configuration is sweepable without a change here).
Without ``--vary`` the ten arrays of ``GRID`` are swept (``--quick``: three tiny ones).

Each point runs ``exion_tools.sweep_point.run_point`` as a Dask task, on a
``distributed.LocalCluster`` of this machine (``--workers`` processes of ``--threads``
threads) or on an existing cluster (``--scheduler``). A finished point is cached as
``<out>/sweep/<key>.json`` (written atomically; the key hashes the configuration and the
options), so a sweep that was interrupted, or run again, computes only what it lacks. A point
that fails is reported with its error and the others go on; the exit status is 1 if any
failed, 2 for bad arguments (one line, nothing written). Writes ``sweep.csv``,
``sweep.json`` and ``sweep_pareto.png`` into ``--out``; details in ``docs/sweep.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from exion.config import PRESETS, ConfigError, ExionConfig, clog2, preset
from exion.util import atomic_write, check_int
from .inputs import check_out_dir
from .sweep_point import AREA_MODES, FORMAT, OBJECTIVES, point_key, run_point
from .sweep_report import format_table, mark, plot, write_tables

__all__ = ["GRID", "QUICK_GRID", "Point", "build_points", "run_sweep", "open_client", "main"]

#: The default points: (rows, cols, lanes, merge degree); everything else is the preset's.
_KEYS = ("rows", "cols", "lanes", "merge_degree")
GRID = tuple(dict(zip(_KEYS, p)) for p in (
    (4, 4, 16, 2), (8, 8, 8, 2), (8, 8, 16, 1), (8, 8, 16, 2), (8, 8, 16, 4), (8, 16, 16, 2),
    (12, 12, 16, 2), (16, 16, 8, 2), (16, 16, 16, 1), (16, 16, 16, 2)))
QUICK_GRID = tuple(dict(zip(_KEYS, p)) for p in ((2, 2, 4, 1), (2, 2, 4, 2), (4, 4, 4, 2)))

FIELDS = [f.name for f in fields(ExionConfig) if f.name != "name"]
#: Short names in point labels.
SHORT = {"rows": "r", "cols": "c", "lanes": "l", "merge_degree": "m"}


@dataclass(frozen=True)
class Point:
    label: str
    overrides: dict      # the fields this point sets (``--set`` and its ``--vary`` values)
    config: dict         # the whole validated configuration
    key: str             # cache key (sweep_point.point_key)


class ConnectError(Exception):
    """The scheduler given by ``--scheduler`` cannot be reached."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (no usage block)
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_assign(option: str, text: str, many: bool) -> tuple[str, list]:
    """``FIELD=V`` (``many``: ``FIELD=V1,V2,...``) -> (field, parsed values)."""
    name, eq, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not eq or not name:
        raise ConfigError(f"{option} {text!r}: expected FIELD={'V1,V2,...' if many else 'V'}")
    if name not in FIELDS:
        raise ConfigError(f"{option} {text!r}: {name!r} is not a configuration field "
                          f"(one of {', '.join(FIELDS)})")
    parts = values.split(",") if many else [values]
    if any(not p.strip() for p in parts):
        raise ConfigError(f"{option} {text!r}: empty value")
    try:
        parsed = [ExionConfig.parse_field(name, p.strip()) for p in parts]
    except ConfigError as e:
        raise ConfigError(f"{option} {text!r}: {e}") from None
    return name, list(dict.fromkeys(parsed))


def _label(overrides: dict, shown) -> str:
    return " ".join(f"{SHORT.get(k, k + '=')}{overrides[k]}" for k in shown) or "preset"


def build_points(preset_name: str, sets: dict, varies: dict, grid=GRID,
                 opts: dict | None = None) -> list[Point]:
    """Validated, de-duplicated points: ``varies`` (field -> values) as a product, or ``grid``
    when it is empty; ``sets`` applied to every point. A configuration the generator refuses
    raises :class:`ConfigError` naming the point."""
    if preset_name not in PRESETS:
        raise ConfigError(f"--preset = {preset_name!r} is not one of {', '.join(sorted(PRESETS))}")
    if varies:
        combos = [dict(zip(varies, vals)) for vals in itertools.product(*varies.values())]
    else:
        combos = [dict(p) for p in grid]
    points, seen = [], set()
    base = PRESETS[preset_name]
    for combo in combos:
        ov = {**combo, **sets}  # --set wins over the default grid (never meets --vary)
        lanes = ov.get("lanes")
        if isinstance(lanes, int) and lanes >= 1 and "adder_stages" not in ov \
                and base.adder_stages > clog2(lanes):
            ov["adder_stages"] = clog2(lanes)  # as the CLI does: --lanes 1 just works
        label = _label(ov, list(combo))
        try:
            cfg = preset(preset_name, **ov)
        except ConfigError as e:
            raise ConfigError(f"point {label}: {e}") from None
        key = point_key(cfg.to_dict(), opts or {})
        if key not in seen:
            seen.add(key)
            points.append(Point(label, ov, cfg.to_dict(), key))
    return points


class Progress:
    """A bar redrawn in place on a terminal, one line per point otherwise (logs, CI)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()

    def update(self, label: str, text: str, failed: bool = False) -> None:
        self.done += 1
        at = f"{time.perf_counter() - self.t0:.0f} s"
        if self.tty:
            if failed:
                self.stream.write(f"\r\033[K  FAILED {label}: {text}\n")
            n = 30 * self.done // max(1, self.total)
            self.stream.write(f"\r\033[Ksweep [{'#' * n}{'.' * (30 - n)}] "
                              f"{self.done}/{self.total} {label} ({at})")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            state = "FAILED" if failed else "done"
            self.stream.write(f"sweep: [{self.done:>3}/{self.total}] {state} {label}: "
                              f"{text} ({at})\n")
        self.stream.flush()


def _cached(path: Path, key: str) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or data.get("format") != FORMAT:
        return None
    return data.get("result")


def _summary(res: dict) -> str:
    parts = []
    if "area_tr" in res:
        parts.append(f"area {res['area_tr'] / 1e6:.2f} M Tr ({res['area_source']})")
    if "latency_us" in res:
        parts.append(f"latency {res['latency_us']:.1f} us")
    return ", ".join(parts) + f", {res.get('seconds', 0):.1f} s"


def run_sweep(points: list[Point], opts: dict, out: Path, client, *, task=run_point,
              progress: Progress | None = None) -> tuple[list[dict], list[dict], dict]:
    """Run the points not cached under ``out/sweep`` as tasks of ``client`` (a
    ``distributed.Client``, or a function returning one, called only if a point is not
    cached); return (rows, failures, counts). A finished point is cached the moment it
    arrives; ``task`` is :func:`~exion_tools.sweep_point.run_point` or a wrapper of it."""
    from distributed import as_completed
    cache = out / "sweep"
    results: dict[str, dict] = {}
    failed: list[dict] = []
    todo = []
    for p in points:
        hit = _cached(cache / f"{p.key}.json", p.key)
        if hit is None:
            todo.append(p)
        else:
            results[p.key] = hit
    prog = progress or Progress(len(todo))
    if todo and callable(client):
        client = client()
    if todo:  # made only now: a scheduler that cannot be reached leaves nothing behind
        cache.mkdir(parents=True, exist_ok=True)
    # A fresh task key per run: a long-lived scheduler may still hold an erred task of a
    # previous run under the old key and would answer with its error instead of running it.
    run = uuid.uuid4().hex[:8]
    futures = {}
    for p in todo:
        futures[client.submit(task, p.config, opts, str((cache / "points" / p.key).resolve()),
                              key=f"exion-sweep-{p.key}-{run}", pure=False)] = p
    try:
        for fut in as_completed(futures) if futures else ():
            p = futures[fut]
            if fut.status == "finished":
                res = fut.result()
                results[p.key] = res
                atomic_write(cache / f"{p.key}.json", json.dumps(
                    {"format": FORMAT, "key": p.key, "label": p.label, "overrides": p.overrides,
                     "config": p.config, "opts": opts, "result": res},
                    indent=1, sort_keys=True) + "\n")
                prog.update(p.label, _summary(res))
            else:
                exc = fut.exception()
                err = f"{type(exc).__name__}: {exc}"
                failed.append({"label": p.label, "key": p.key, "overrides": p.overrides,
                               "error": err})
                prog.update(p.label, err, failed=True)
    except BaseException:
        if futures:
            client.cancel(list(futures))
        raise
    rows = [{"label": p.label, **p.overrides, **results[p.key]}
            for p in points if p.key in results]
    counts = {"points": len(points), "cached": len(points) - len(todo),
              "computed": len(todo) - len(failed), "failed": len(failed)}
    return rows, failed, counts


def open_client(scheduler: str | None, workers: int, threads: int):
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a new LocalCluster
    (``workers`` processes, ``threads`` threads each); returns (client, cluster or None)."""
    from distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler, timeout="20s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster), cluster


def build_parser() -> Parser:
    ap = Parser(prog="exion sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build",
                    help="output folder: sweep.csv, sweep.json, sweep_pareto.png; cache in "
                         "OUT/sweep (default build)")
    ap.add_argument("--preset", default="exion",
                    help=f"base configuration, one of {', '.join(sorted(PRESETS))} (default exion)")
    ap.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                    help="sweep a configuration field over these values (repeatable: the "
                         "product of all); any ExionConfig field, e.g. --vary rows=4,8 --vary "
                         "merge_degree=1,2")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=V",
                    help="set a configuration field for every point (repeatable)")
    ap.add_argument("--quick", action="store_true",
                    help="three tiny points instead of the default ten (no --vary)")
    ap.add_argument("--area", choices=AREA_MODES, default="synth",
                    help="area by Yosys synthesis (minutes per point) or by the closed-form "
                         "model (docs/sweep.md); default synth")
    ap.add_argument("--objectives", default=",".join(OBJECTIVES),
                    help=f"comma-separated, of {', '.join(OBJECTIVES)} (default all)")
    ap.add_argument("--masks", type=int, default=0,
                    help="FFN-Reuse keep-masks of the DiT traces per point, 0 = all 136 of "
                         "sample 0; integer in [0, 4096] (default 0)")
    ap.add_argument("--workers", type=int, default=None,
                    help="local cluster: worker processes; integer in [1, 256] (default: one "
                         "per core)")
    ap.add_argument("--threads", type=int, default=None,
                    help="local cluster: threads per worker; integer in [1, 64] (default 1)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on an existing Dask cluster, e.g. tcp://host:8786 (then no "
                         "--workers / --threads)")
    return ap


def _check_args(args) -> tuple[list[Point], dict]:
    for name, lo, hi in (("masks", 0, 4096), ("workers", 1, 256), ("threads", 1, 64)):
        if getattr(args, name) is not None:
            check_int(f"--{name}", getattr(args, name), lo, hi, error=ConfigError)
    if args.scheduler is not None:
        if args.workers is not None or args.threads is not None:
            raise ConfigError("--scheduler excludes --workers and --threads (the cluster has "
                              "its own workers)")
        if not args.scheduler.strip():
            raise ConfigError("--scheduler '': empty address")
    if args.quick and args.vary:
        raise ConfigError("--quick excludes --vary")
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    bad = [o for o in objectives if o not in OBJECTIVES]
    if bad or not objectives:
        raise ConfigError(f"--objectives = {args.objectives!r}: each must be one of "
                          f"{', '.join(OBJECTIVES)}")
    check_out_dir("--out", args.out)
    sets, varies = {}, {}
    for text in args.set:
        name, vals = parse_assign("--set", text, many=False)
        sets[name] = vals[0]
    for text in args.vary:
        name, vals = parse_assign("--vary", text, many=True)
        if name in varies:
            raise ConfigError(f"--vary {text!r}: {name} is varied twice")
        varies[name] = vals
        if name in sets:
            raise ConfigError(f"--vary {text!r}: {name} is also given by --set")
    opts = {"objectives": objectives, "area": args.area, "masks": args.masks}
    if "area" not in objectives:
        del opts["area"]
    if "cycles" not in objectives:
        del opts["masks"]
    grid = QUICK_GRID if args.quick else GRID
    return build_points(args.preset, sets, varies, grid, opts), opts


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        points, opts = _check_args(args)
    except ConfigError as e:
        print(f"exion sweep: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    t0 = time.perf_counter()
    where = args.scheduler or (f"local cluster, {args.workers or os.cpu_count() or 1} workers "
                               f"x {args.threads or 1} threads")
    opened: list = []

    def connect():
        try:
            opened.extend(open_client(args.scheduler, args.workers or os.cpu_count() or 1,
                                      args.threads or 1))
        except (OSError, TimeoutError, ValueError) as e:
            raise ConnectError(f"--scheduler {args.scheduler!r}: cannot connect: {e}") from None
        print(f"sweep: {len(points)} points on {where}, area {opts.get('area', '-')}",
              file=sys.stderr, flush=True)
        return opened[0]

    # A SIGTERM (a batch system's stop) ends the sweep like Ctrl-C: the cluster is closed.
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        before = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        rows, failed, counts = run_sweep(points, opts, out, connect)
    except ConnectError as e:
        print(f"exion sweep: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("exion sweep: interrupted; finished points are cached, a rerun resumes",
              file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)
        for thing in opened:  # the client, then the local cluster if one was started
            if thing is not None:
                thing.close()
    mark(rows)
    written = write_tables(rows, failed, out)
    png = plot(rows, out / "sweep_pareto.png")
    print(format_table(rows))
    for f in failed:
        print(f"FAILED {f['label']}: {f['error']}")
    for path in written + ([png] if png else []):
        print(f"wrote {path}")
    print(f"sweep: {counts['points']} points, {counts['computed']} computed, "
          f"{counts['cached']} from the cache, {counts['failed']} failed, "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
