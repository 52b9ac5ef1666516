"""The ``exion`` command line.

    exion config   [--preset P] [--rows N ...] [--out DIR]        manifest (JSON) and C header
    exion generate [--preset P] [--rows N ...] [--top T] --out DIR  Verilog + manifest + header
    exion conmerge [--tokens M --channels N --k K --sparsity S --kind uniform|column | --mask F]
                                                                    ConMerge blocks, cycles, util
    exion ffn      [--iterations T --ffn-reuse-n N ...]             FFN-Reuse sparsity and MACs
    exion eager    [--tokens M --d-model D --heads H ...]           eager-prediction sparsity/hits
    exion synth    [--preset P] [--rows N ...] [--top T] --out DIR  Yosys area report (+ SDC)
    exion sdc      [--preset P] [--rows N ...] [--top T] --out DIR  timing constraints (SDC)

Bad arguments print one line naming the parameter, the value and the allowed range, exit with
status 2, and write nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

from exion.config import PRESETS, ConfigError, ExionConfig, preset
from exion.util import check_range

__all__ = ["main"]

# Fields a user may override from the command line (all but the preset's name).
CONFIG_FIELDS = [f for f in fields(ExionConfig) if f.name != "name"]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: usage line, message, status 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (defaults from the preset)")
    g.add_argument("--preset", default="exion",
                   help=f"starting point: {', '.join(sorted(PRESETS))} (default exion)")
    for f in CONFIG_FIELDS:
        g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                       metavar=f.name.upper())


def config_overrides(args) -> dict:
    """The configuration fields given on the command line (parsed by :func:`add_config_args`),
    as ``ExionConfig`` overrides."""
    return {f.name: ExionConfig.parse_field(f.name, getattr(args, f.name))
            for f in CONFIG_FIELDS if getattr(args, f.name) is not None}


def _config_from(args) -> ExionConfig:
    return preset(args.preset, **config_overrides(args))


def _cmd_config(args, cfg: ExionConfig) -> int:
    if args.out is None:
        sys.stdout.write(cfg.to_json() if args.format == "json" else cfg.to_c_header())
        return 0
    from exion.util import atomic_write
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = f"exion_{cfg.rows}x{cfg.cols}"
    atomic_write(out / f"{base}.json", cfg.to_json())
    atomic_write(out / f"{base}.h", cfg.to_c_header())
    print(f"wrote {out / (base + '.json')}")
    print(f"wrote {out / (base + '.h')}")
    return 0


def _cmd_generate(args, cfg: ExionConfig) -> int:
    from hw.generate import write_design
    t0 = time.perf_counter()
    print(f"elaborating {args.top} for {cfg.rows}x{cfg.cols} (lanes {cfg.lanes}, "
          f"merge {cfg.merge_degree}) ...", file=sys.stderr, flush=True)
    d = write_design(cfg, args.out, top=args.top)
    dt = time.perf_counter() - t0
    print(f"wrote {d.verilog} ({d.lines} lines, {d.modules} modules, {dt:.1f} s)")
    print(f"wrote {d.manifest}")
    print(f"wrote {d.header}")
    if args.lint:
        from hw.generate import VERILATOR_WAIVERS, lint
        status, log = lint(d.verilog, f"exion_{args.top}")
        if status:
            print(log, file=sys.stderr)
            print(f"lint: FAILED (verilator --lint-only -Wall, status {status})")
            return 1
        print(f"lint: clean (verilator --lint-only -Wall; waived: "
              f"{', '.join(sorted(VERILATOR_WAIVERS))}, see docs/verilog-lint.md)")
    return 0


def _load_mask(path: str):
    import numpy as np
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--mask {path!r}: no such file")
    try:
        if p.suffix == ".npz":
            with np.load(p) as z:
                mask = z[z.files[0]]
        else:
            mask = np.load(p)
    except Exception as e:  # a file that is not numpy data
        raise ConfigError(f"--mask {path!r}: not a .npy/.npz array ({e.__class__.__name__})")
    if mask.ndim != 2:
        raise ConfigError(f"--mask {path!r}: shape {mask.shape} is not 2-D (tokens x channels)")
    return mask.astype(bool)


def _check_range(name, value, lo, hi):
    check_range(name, value, lo, hi, error=ConfigError)


def _cmd_conmerge(args, cfg: ExionConfig) -> int:
    from golden.conmerge import STRATEGIES, synthetic_mask
    from golden.cycle_model import compare_strategies, format_table

    if args.mask:
        mask = _load_mask(args.mask)
        source = args.mask
    else:
        _check_range("--tokens", args.tokens, 1, 1 << 16)
        _check_range("--channels", args.channels, 1, 1 << 16)
        _check_range("--sparsity", args.sparsity, 0.0, 1.0)
        mask = synthetic_mask(args.tokens, args.channels, args.sparsity, args.kind,
                              seed=args.seed)
        source = f"synthetic {args.kind} {args.sparsity:.0%}"
    _check_range("--k", args.k, 1, 1 << 20)
    strategies = args.strategies.split(",") if args.strategies else list(STRATEGIES)
    for s in strategies:
        if s not in STRATEGIES:
            raise ConfigError(f"--strategies: {s!r} is not one of {', '.join(STRATEGIES)}")
    print(f"mask {mask.shape[0]} x {mask.shape[1]} ({source}), element sparsity "
          f"{1 - mask.mean():.1%}, K = {args.k}, array {cfg.rows}x{cfg.cols}, lanes "
          f"{cfg.lanes}, merge degree {cfg.merge_degree}")
    reports = []
    for i, s in enumerate(strategies):
        t0 = time.perf_counter()
        print(f"[{i + 1}/{len(strategies)}] scheduling {s} ...", file=sys.stderr, end="",
              flush=True)
        reports += compare_strategies(mask, args.k, cfg, [s])
        print(f" {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
    print(format_table(reports))
    return 0


def _cmd_ffn(args, cfg: ExionConfig) -> int:
    import numpy as np
    from golden.ffn_reuse import run_ffn_reuse

    _check_range("--tokens", args.tokens, 1, 4096)
    _check_range("--d-model", args.d_model, 1, 4096)
    n = cfg.ffn_reuse_n
    rng = np.random.default_rng(args.seed)
    d, dff = args.d_model, 4 * args.d_model
    w1 = rng.normal(0, d ** -0.5, (d, dff))
    w2 = rng.normal(0, dff ** -0.5, (dff, d))
    b1, b2 = np.zeros(dff), np.zeros(d)
    # A slowly drifting input, as consecutive denoising iterations see.
    x0 = rng.normal(size=(args.tokens, d))
    xs = np.stack([x0 + 0.02 * t * rng.normal(size=x0.shape) for t in range(cfg.iterations)])
    res = run_ffn_reuse(xs, w1, b1, w2, b2, n=n, target_sparsity=cfg.ffn_target_sparsity,
                        fc2_mode=args.fc2_mode, cfg=cfg if args.quantized else None)
    print(f"FFN-Reuse: {cfg.iterations} iterations, N = {n}, target sparsity "
          f"{cfg.ffn_target_sparsity:.0%}, FC2 {args.fc2_mode}, "
          f"{'INT' + str(cfg.data_width) if args.quantized else 'float'}")
    print(res.report())
    return 0


def _cmd_eager(args, cfg: ExionConfig) -> int:
    import numpy as np
    from golden.eager import eager_predict_heads

    _check_range("--tokens", args.tokens, 1, 4096)
    _check_range("--d-model", args.d_model, 1, 4096)
    _check_range("--heads", args.heads, 1, 64)
    if args.d_model % args.heads:
        raise ConfigError(f"--d-model = {args.d_model} is not a multiple of --heads = "
                          f"{args.heads}")
    rng = np.random.default_rng(args.seed)
    d = args.d_model
    x = rng.normal(size=(args.tokens, d))
    wq = rng.normal(0, d ** -0.5, (d, d))
    wk = rng.normal(0, d ** -0.5, (d, d))
    print(f"eager prediction: {args.tokens} tokens, d_model {d}, {args.heads} heads, "
          f"LOD steps {cfg.lod_steps}, q_th {cfg.ep_q_th}, k {cfg.ep_k}")
    print(f"{'head':>4} {'sparsity':>9} {'hit rate':>9} {'dominant':>9} {'skip Q':>7} "
          f"{'skip K':>7} {'skip V':>7}")
    for h, r in enumerate(eager_predict_heads(x, wq, wk, args.heads, cfg)):
        skip = r.skip_fractions()
        print(f"{h:>4} {r.sparsity:>9.1%} {r.hit_rate:>9.1%} {r.dominant.mean():>9.1%} "
              f"{skip['q']:>7.1%} {skip['k']:>7.1%} {skip['v']:>7.1%}")
    return 0


def _cmd_synth(args, cfg: ExionConfig) -> int:
    from .synth import cli_synth
    return cli_synth(args, cfg)


def _cmd_sdc(args, cfg: ExionConfig) -> int:
    from .sdc import cli_sdc
    return cli_sdc(args, cfg)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="exion", description="EXION accelerator generator and golden model")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    c = sub.add_parser("config", help="print or write the manifest (JSON) and C header")
    add_config_args(c)
    c.add_argument("--format", choices=("json", "header"), default="json")
    c.add_argument("--out", help="folder to write both files into (default: print)")

    g = sub.add_parser("generate", help="write Verilog, manifest and C header")
    add_config_args(g)
    from hw.generate import DEFAULT_TOP, TOPS
    g.add_argument("--top", choices=TOPS, default=DEFAULT_TOP)
    g.add_argument("--out", default="build")
    g.add_argument("--lint", action="store_true",
                   help="run verilator --lint-only -Wall on the result")

    m = sub.add_parser("conmerge", help="ConMerge blocks, cycles and utilization per strategy")
    add_config_args(m)
    m.add_argument("--mask", help=".npy/.npz boolean mask (tokens x channels)")
    m.add_argument("--tokens", type=int, default=256)
    m.add_argument("--channels", type=int, default=4608)
    m.add_argument("--k", type=int, default=1152, help="reduction length of the GEMM")
    m.add_argument("--sparsity", type=float, default=0.9)
    m.add_argument("--kind", choices=("uniform", "column"), default="uniform")
    m.add_argument("--strategies", help="comma-separated subset (default: all)")
    m.add_argument("--seed", type=int, default=0)

    f = sub.add_parser("ffn", help="FFN-Reuse on a synthetic drifting input")
    add_config_args(f)
    f.add_argument("--tokens", type=int, default=64)
    f.add_argument("--d-model", type=int, default=64)
    f.add_argument("--fc2-mode", choices=("dense", "delta"), default="dense")
    f.add_argument("--quantized", action="store_true", help="INT GEMMs per the config")
    f.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("eager", help="eager prediction on a synthetic attention layer")
    add_config_args(e)
    e.add_argument("--tokens", type=int, default=64)
    e.add_argument("--d-model", type=int, default=64)
    e.add_argument("--heads", type=int, default=4)
    e.add_argument("--seed", type=int, default=0)

    from .sdc import add_sdc_arguments
    from .synth import add_synth_arguments
    s = sub.add_parser("synth", help="synthesize with Yosys: cells, transistors, ECP5 resources")
    add_config_args(s)
    add_synth_arguments(s)
    c = sub.add_parser("sdc", help="write timing constraints (SDC) for the generated top")
    add_config_args(c)
    add_sdc_arguments(c)
    for name, text in _FORWARDED.items():  # listed in the help; main() hands them over
        sub.add_parser(name, help=text + f" (exion {name} --help)", add_help=False)
    return p


_COMMANDS = {"config": _cmd_config, "generate": _cmd_generate, "conmerge": _cmd_conmerge,
             "ffn": _cmd_ffn, "eager": _cmd_eager, "synth": _cmd_synth, "sdc": _cmd_sdc}


#: Subcommands with their own parser (and configuration defaults): ``exion fpga ...`` runs
#: ``exion_tools.fpga.main([...])``.
_FORWARDED = {"fpga": "FPGA build: yowasp Yosys + nextpnr-ecp5, utilisation, Fmax",
              "sweep": "design-space sweep: area (synthesis) against cycles, Pareto plot"}


def _forward(cmd: str, argv: list[str]) -> int:
    import importlib
    return importlib.import_module(f"exion_tools.{cmd}").main(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in _FORWARDED:
        return _forward(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = _config_from(args)
        return _COMMANDS[args.cmd](args, cfg)
    except ConfigError as e:
        print(f"exion {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output folder that is a file, a full disk, ...
        if isinstance(e, BrokenPipeError):  # e.g. piped into head
            return 0
        print(f"exion {args.cmd}: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"exion {args.cmd}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
