"""``exion run``: sample images from a DiT on the core (docs/runtime.md).

    exion run [--model dit64|dit256|dit-xl/2|tiny|FILE.npz] [--mode base|ep|ffnr|all]
              [--cfse chip|host] [--backend model|rtl|fast|count] [--overlap on|off|auto]
              [--images N] [--iterations T] [config options] [--out DIR]

Writes ``images.png``, ``images.npy``, ``run.json``, ``layers.csv`` and ``iterations.csv``
into ``--out`` and prints a summary (cycles, utilization, MACs done and skipped, bytes,
energy per image). Bad arguments: one line, exit status 2, nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from exion.config import ConfigError, preset
from exion.util import check_range

__all__ = ["main", "MODELS"]

ROOT = Path(__file__).resolve().parents[2]
#: Trained DiTs of workload/ (docs/workload.md).
MODELS = {"dit64": ROOT / "data" / "dit_digits.npz", "dit256": ROOT / "data" / "dit256_digits.npz"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(prog: str) -> argparse.ArgumentParser:
    from exion_tools.cli import add_config_args

    from .backend import BACKENDS
    from .dit import SHAPES
    from .model import CFSE_PLACES, MODES
    p = _Parser(prog=prog, description="Sample images from a DiT on the EXION core "
                "(command-level model or RTL); per-layer cycles, MACs, bytes and energy.")
    names = ", ".join([*MODELS, *SHAPES])
    p.add_argument("--model", default="dit64",
                   help=f"one of {names} (synthetic weights for the shapes) or a .npz of "
                        "workload.model.save_weights (default dit64)")
    p.add_argument("--mode", default="all",
                   help=f"one of {', '.join(MODES)} (default all)")
    p.add_argument("--cfse", default="chip",
                   help=f"where GELU, softmax, LayerNorm and the residual add run: one of "
                        f"{', '.join(CFSE_PLACES)} (default chip: the core's CFSE commands; "
                        "host: golden.cfse on the host)")
    p.add_argument("--backend", default="model",
                   help=f"one of {', '.join(BACKENDS)}, fast, count (default model; rtl replays "
                        "the run on the RTL, arrays of at most 64 DPUs; fast: the golden "
                        "functions' results with every command counted, the model's images "
                        "and counters; count: counters only, masks from data/traces256, for "
                        "synthetic shapes such as dit-xl/2: docs/runtime.md)")
    p.add_argument("--overlap", default="auto",
                   help="SCHEDULE of the next sparse unit into the other SMEM half beside each "
                        "sparse GEMM: on, off or auto (default auto: on except --backend rtl, "
                        "whose replay reads SMEM from vector 0)")
    p.add_argument("--sim", default="verilator",
                   help="simulator of the rtl backend: verilator or icarus (default verilator)")
    p.add_argument("--images", default="1", help="images; integer in [1, 64] (default 1)")
    p.add_argument("--labels", default=None,
                   help="comma-separated class labels, one per image (default 0, 1, 2, ...)")
    p.add_argument("--blocks", default=None,
                   help="run only the first N transformer blocks; integer in [1, depth] "
                        "(default all)")
    p.add_argument("--seed", default="0", help="initial-noise seed; integer in [0, 2**32) "
                                               "(default 0)")
    p.add_argument("--out", default="build/run", help="output folder (default build/run)")
    p.add_argument("--no-png", action="store_true", help="do not draw images.png")
    add_config_args(p)
    return p


def _int(name: str, text, lo: int, hi: int) -> int:
    try:
        v = int(str(text), 10)
    except ValueError:
        raise ConfigError(f"{name} = {text!r} is not an integer in [{lo}, {hi}]") from None
    return check_range(name, v, lo, hi, error=ConfigError)


def parse(args):
    """Checked options: ``(cfg, weights, opts)``; raises ConfigError naming the option."""
    from exion_tools.cli import config_overrides
    from exion_tools.inputs import check_in_file, check_out_dir

    from .backend import BACKENDS
    from .count_only import PATHS
    from .dit import SHAPES, load_npz, synthetic
    from .model import CFSE_PLACES, MODES
    from .rtl import RTL_MAX_DPUS
    if args.mode not in MODES:
        raise ConfigError(f"--mode = {args.mode!r} is not one of {', '.join(MODES)}")
    if args.cfse not in CFSE_PLACES:
        raise ConfigError(f"--cfse = {args.cfse!r} is not one of {', '.join(CFSE_PLACES)}")
    if args.backend not in (*BACKENDS, *PATHS):
        raise ConfigError(f"--backend = {args.backend!r} is not one of "
                          f"{', '.join(dict.fromkeys((*BACKENDS, *PATHS)))}")
    if args.overlap not in ("on", "off", "auto"):
        raise ConfigError(f"--overlap = {args.overlap!r} is not one of on, off, auto")
    if args.overlap == "on" and args.backend == "rtl":
        raise ConfigError("--overlap on: the rtl backend's replay reads SMEM from vector 0 "
                          "(use off or auto)")
    if args.sim not in ("verilator", "icarus"):
        raise ConfigError(f"--sim = {args.sim!r} is not one of verilator, icarus")
    images = _int("--images", args.images, 1, 64)
    seed = _int("--seed", args.seed, 0, (1 << 32) - 1)
    cfg = preset(args.preset, **config_overrides(args))
    if cfg.data_width < 8:
        raise ConfigError(f"data_width = {cfg.data_width} is out of range [8, 16] for the "
                          "runtime (GEMM outputs keep data_width - 6 fraction bits)")
    if cfg.words("wmem") < cfg.words("imem"):
        raise ConfigError(f"wmem_bank_bytes = {cfg.wmem_bank_bytes} holds "
                          f"{cfg.words('wmem')} words, fewer than IMEM's {cfg.words('imem')}: "
                          "a weight tile of the longest reduction would not fit")
    if args.backend == "rtl" and cfg.rows * cfg.cols > RTL_MAX_DPUS:
        raise ConfigError(f"--backend rtl: rows x cols = {cfg.rows * cfg.cols} is out of range "
                          f"[1, {RTL_MAX_DPUS}] (simulation time)")
    if args.model in MODELS:
        weights = load_npz(MODELS[args.model])
    elif args.model in SHAPES and args.backend == "count":
        # every block has block 0's shapes: one block of weights serves them all
        weights = synthetic(dataclasses.replace(SHAPES[args.model], depth=1), seed)
    elif args.model in SHAPES:
        weights = synthetic(SHAPES[args.model], seed)
    elif str(args.model).endswith(".npz"):
        try:
            weights = load_npz(check_in_file("--model", args.model))
        except (KeyError, ValueError, OSError) as e:
            raise ConfigError(f"--model {args.model!r}: not a DiT of workload.model "
                              f"({e})") from None
    else:
        raise ConfigError(f"--model = {args.model!r} is not one of "
                          f"{', '.join([*MODELS, *SHAPES])} or a .npz file")
    sp = weights.spec
    depth = SHAPES[args.model].depth if args.model in SHAPES else sp.depth
    if args.blocks is not None:
        depth = _int("--blocks", args.blocks, 1, depth)
        if depth < sp.depth:
            weights = dataclasses.replace(weights, spec=dataclasses.replace(sp, depth=depth))
    if args.labels is None:
        labels = [i % sp.num_classes for i in range(images)]
    else:
        labels = [_int("--labels", s.strip(), 0, sp.num_classes) for s in args.labels.split(",")]
        if len(labels) != images:
            raise ConfigError(f"--labels: {len(labels)} labels for --images = {images} "
                              "(one per image)")
    out = check_out_dir("--out", args.out)
    overlap = args.overlap == "on" or (args.overlap == "auto" and args.backend != "rtl")
    return cfg, weights, {"images": images, "seed": seed, "labels": labels, "out": out,
                          "depth": depth, "overlap": overlap}


def _progress(t0: float):
    def show(done: int, total: int) -> None:
        n = 30 * done // total
        print(f"\r  [{'#' * n}{'.' * (30 - n)}] {done}/{total} iterations "
              f"{time.perf_counter() - t0:.1f} s", end="\n" if done == total else "",
              file=sys.stderr, flush=True)
    return show


def main(argv=None, prog: str = "exion run") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        cfg, weights, opts = parse(args)
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    from . import report
    from .backend import make_backend
    from .count_only import make_runtime
    from .counts import Stats
    t0 = time.perf_counter()
    backend = make_backend(args.backend, cfg) if args.backend in ("model", "rtl") else None
    rt = make_runtime("model" if backend else args.backend, weights, cfg, args.mode, Stats(cfg),
                      cfse=args.cfse, overlap=opts["overlap"], depth=opts["depth"],
                      backend=backend)
    sp = rt.spec
    print(f"{prog}: {args.model} ({sp.tokens} tokens, hidden {sp.hidden}, {sp.depth} blocks), "
          f"{opts['images']} image(s) x {cfg.iterations} iterations, mode {args.mode}, "
          f"CFSE on {args.cfse}",
          file=sys.stderr, flush=True)
    imgs = rt.sample(opts["labels"], opts["seed"], progress=_progress(t0))
    wall = time.perf_counter() - t0
    info = {"model": args.model, "mode": args.mode, "cfse": args.cfse, "backend": args.backend,
            "images": opts["images"], "labels": opts["labels"], "seed": opts["seed"],
            "iterations": cfg.iterations, "blocks": sp.depth, "overlap": opts["overlap"],
            "array": f"{cfg.rows}x{cfg.cols} x {cfg.lanes} lanes", "wall_s": wall}
    if args.backend == "rtl":
        from .rtl import replay
        try:
            r = replay(backend.log, args.sim)
        except AssertionError as e:
            print(f"{prog}: rtl: the RTL differs from the model: {e}", file=sys.stderr)
            return 1
        info["rtl"] = {"sim": args.sim, "commands": r["commands"], "compared": r["compared"],
                       "cycles": sum(r["cycles"]), "sim_cycles": r["sim_cycles"]}
    res = report.build(rt.stats, cfg, info, opts["images"])
    print(report.summary(res))
    if "rtl" in info:
        x = info["rtl"]
        print(f"  rtl ({x['sim']}): {x['commands']} commands replayed, {x['compared']} reads "
              f"identical, execute cycles {x['cycles']:,} (model {res['totals']['cycles']:,})")
    try:
        # a count run computes no images (its "images" are the sampler on zeros)
        files = report.write(res, imgs, opts["labels"], opts["out"],
                             png=not args.no_png and args.backend != "count")
    except OSError as e:
        print(f"{prog}: error: --out {str(opts['out'])!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    for f in files:
        print(f"wrote {f}")
    print(f"run: {time.perf_counter() - t0:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
