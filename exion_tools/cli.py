"""The ``exion`` command line.

    exion config   [--preset P] [--rows N ...] [--out DIR]        manifest (JSON) and C header
    exion generate [--preset P] [--rows N ...] [--top T] --out DIR  Verilog + manifest + header
    exion conmerge [--tokens M --channels N --k K --sparsity S --kind uniform|column | --mask F]
                                                                    ConMerge blocks, cycles, util
    exion ffn      [--iterations T --ffn-reuse-n N ...]             FFN-Reuse sparsity and MACs
    exion eager    [--tokens M --d-model D --heads H ...]           eager-prediction sparsity/hits
    exion synth    [--preset P] [--rows N ...] [--top T] --out DIR  Yosys area report (+ SDC)
    exion sdc      [--preset P] [--rows N ...] [--top T] --out DIR  timing constraints (SDC)
    exion evaluate [--out DIR --partition P --iterations 50,100 ...] latency, energy vs GPUs
    exion run      [--model M --mode base|ep|ffnr|all --backend model|rtl ...] images on the core

Bad arguments print one line naming the parameter, the value and the allowed range, exit with
status 2, and write nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields

from exion.config import PRESETS, ConfigError, ExionConfig, preset
from exion.util import check_range

__all__ = ["main"]

# Fields a user may override from the command line (all but the preset's name).
CONFIG_FIELDS = [f for f in fields(ExionConfig) if f.name != "name"]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: usage line, message, status 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _field_docs() -> dict[str, str]:
    """One line per field, from the ``Members`` section of :class:`ExionConfig`'s docstring."""
    import inspect
    import re
    doc = inspect.getdoc(ExionConfig) or ""
    docs, names, text = {}, [], []

    def flush():
        line = " ".join(text)
        first = re.split(r"(?<=[a-z)])\. ", line.replace("``", ""))[0].rstrip(".")
        for n in names:
            docs[n] = first
    for line in doc.split("Members", 1)[-1].splitlines():
        m = re.match(r"^(\w+(?:, \w+)*) : \w+$", line)
        if m:
            flush()
            names, text = m.group(1).split(", "), []
        elif line.startswith("    ") and names:
            text.append(line.strip())
    flush()
    return docs


def field_help(name: str) -> str:
    """Help text of a configuration field: description, range (from the range table of
    exion/config.py) and default (the exion preset's value)."""
    from exion.config import SORT_STRATEGIES, FLOAT_RANGES, INT_RANGES
    desc = _field_docs().get(name, name.replace("_", " "))
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        rng = f"integer in [{lo}, {hi}]"
    elif name in FLOAT_RANGES:
        lo, hi = FLOAT_RANGES[name]
        rng = f"number in [{lo:g}, {hi:g}]"
    elif name == "token_sort":
        rng = "one of " + ", ".join(SORT_STRATEGIES)
    else:
        rng = "text"
    extra = {
        "acc_width": "; at least 2 * data_width + log2(lanes)",
        "adder_stages": "; at most log2(lanes): with --lanes given and this option not, the "
                        "preset's value is lowered to log2(lanes)",
        "bus_width": "; a power of two",
    }.get(name, "")
    default = getattr(PRESETS["exion"], name)
    return (f"{desc}; {rng}{extra} (default: the preset's, {default:g} for exion)"
            if isinstance(default, float) else
            f"{desc}; {rng}{extra} (default: the preset's, {default} for exion)").replace("%", "%%")


def add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (defaults from the preset)")
    g.add_argument("--preset", default="exion",
                   help=f"starting point, one of {', '.join(sorted(PRESETS))} (default exion)")
    for f in CONFIG_FIELDS:
        g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                       metavar=f.name.upper(), help=field_help(f.name))


def config_overrides(args) -> dict:
    """The configuration fields given on the command line, parsed (not yet range-checked).

    An empty value is refused (it is not "not given"). With ``--lanes`` given and
    ``--adder-stages`` not, the preset's adder stages are lowered to what a ``lanes``-wide
    tree has (so ``--lanes 1`` works with the default stages)."""
    from exion.config import clog2

    from .inputs import require_nonempty
    require_nonempty("--preset", args.preset)
    overrides = {}
    for f in CONFIG_FIELDS:
        text = getattr(args, f.name)
        if text is None:
            continue
        require_nonempty("--" + f.name.replace("_", "-"), text)
        overrides[f.name] = ExionConfig.parse_field(f.name, text)
    lanes = overrides.get("lanes")
    if isinstance(lanes, int) and lanes >= 1 and "adder_stages" not in overrides \
            and args.preset in PRESETS:
        stages = PRESETS[args.preset].adder_stages
        if stages > clog2(lanes):
            overrides["adder_stages"] = clog2(lanes)
    return overrides


def _config_from(args) -> ExionConfig:
    return preset(args.preset, **config_overrides(args))


def _cmd_config(args, cfg: ExionConfig) -> int:
    from .inputs import check_out_dir
    if args.out is None:
        sys.stdout.write(cfg.to_json() if args.format == "json" else cfg.to_c_header())
        return 0
    from hw.generate import write_manifest
    check_out_dir("--out", args.out)
    for path in write_manifest(cfg, args.out, top=args.top):
        print(f"wrote {path}")
    return 0


def heartbeat(what: str, every: float = 15.0):
    """A thread that prints ``what ... N s`` to stderr every ``every`` seconds until stopped
    (big arrays elaborate for minutes); returns its stop function."""
    import threading
    stop = threading.Event()
    t0 = time.perf_counter()

    def beat():
        while not stop.wait(every):
            print(f"  ... still {what} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    t = threading.Thread(target=beat, daemon=True)
    t.start()

    def done():
        stop.set()
        t.join()
    return done


def _cmd_generate(args, cfg: ExionConfig) -> int:
    from hw.generate import design_base, write_design

    from .inputs import check_out_dir
    check_out_dir("--out", args.out)
    t0 = time.perf_counter()
    print(f"elaborating {args.top} for {cfg.rows}x{cfg.cols} (lanes {cfg.lanes}, "
          f"merge {cfg.merge_degree}) as {design_base(cfg, args.top)} ...", file=sys.stderr,
          flush=True)
    done = heartbeat(f"elaborating and converting {args.top} {cfg.rows}x{cfg.cols}")
    try:
        d = write_design(cfg, args.out, top=args.top)
    finally:
        done()
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


def _check_range(name, value, lo, hi):
    check_range(name, value, lo, hi, error=ConfigError)


#: conmerge's synthetic-mask options and their defaults (None on the parser, so that an
#: explicit value can be told from the default and refused next to --mask).
_SYNTHETIC = {"tokens": 256, "channels": 4608, "sparsity": 0.9, "kind": "uniform", "seed": 0}

CONMERGE_LEGEND = """\
legend: strategy = how blocks are formed (dense: no skipping, condense: all-zero columns
  skipped, the others: ConMerge packing, see docs/conmerge.md); sort = token order of the
  row groups; blocks = SDUE blocks (rows x cols DPUs, one K pass each); compute = cycles of
  the SDUE alone; util = useful MACs / (DPUs x lanes x compute cycles); ideal = cycles at
  full utilization; x comp = compute cycles of the dense strategy / this one's; memory =
  cycles to move the off-chip bytes at offchip_bytes_per_cycle; total = max(compute,
  memory), the two overlap; x total = total of the dense strategy / this one's; MB off =
  off-chip traffic in 10^6 bytes; bound = compute or memory, the larger. All cycles are core
  clock cycles (clock_mhz)."""

EAGER_LEGEND = """\
legend: head = attention head; sparsity = fraction of (query, key) scores not computed;
  hit rate = fraction of the exact top score's keys the prediction kept; dominant = queries
  whose predicted gap exceeded q_th (one key kept); skip Q / K / V = fraction of Q, K, V rows
  no kept score needs. All figures in percent of their totals."""


def _cmd_conmerge(args, cfg: ExionConfig) -> int:
    from golden.conmerge import STRATEGIES, synthetic_mask
    from golden.cycle_model import compare_strategies, format_table

    from .inputs import InputError, load_mask, require_nonempty
    given = [k for k in _SYNTHETIC if getattr(args, k) is not None]
    for k, v in _SYNTHETIC.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    _check_range("--k", args.k, 1, 1 << 20)
    require_nonempty("--strategies", args.strategies)
    strategies = args.strategies.split(",") if args.strategies else list(STRATEGIES)
    for s in strategies:
        if s not in STRATEGIES:
            raise ConfigError(f"--strategies: {s!r} is not one of {', '.join(STRATEGIES)}")
    if args.mask is not None and args.trace is not None:
        raise InputError("--mask and --trace exclude each other: give one mask source")
    option = "--mask" if args.mask is not None else "--trace" if args.trace is not None else None
    if option and given:
        raise InputError(f"{option} and --{given[0]} exclude each other: a mask file or "
                         f"the synthetic-mask options (--tokens, --channels, --sparsity, "
                         f"--kind, --seed)")
    if args.mask is not None:
        mask = load_mask("--mask", args.mask, cfg)
        source = args.mask
    elif args.trace is not None:
        from .inputs import load_trace_mask
        mask = load_trace_mask("--trace", args.trace, cfg)
        source = f"trace {args.trace}"
    else:
        from .inputs import mask_limits
        max_t, max_c = mask_limits(cfg)
        _check_range("--tokens", args.tokens, 1, min(max_t, 1 << 16))
        _check_range("--channels", args.channels, 1, max_c)
        _check_range("--sparsity", args.sparsity, 0.0, 1.0)
        mask = synthetic_mask(args.tokens, args.channels, args.sparsity, args.kind,
                              seed=args.seed)
        source = f"synthetic {args.kind} {args.sparsity:.0%}"
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
    print(CONMERGE_LEGEND)
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
    print(EAGER_LEGEND)
    return 0


def _cmd_synth(args, cfg: ExionConfig) -> int:
    from .synth import cli_synth
    return cli_synth(args, cfg)


def _cmd_sdc(args, cfg: ExionConfig) -> int:
    from .sdc import cli_sdc
    return cli_sdc(args, cfg)


def build_parser() -> argparse.ArgumentParser:
    from hw.generate import DEFAULT_TOP, TOPS
    tops = f"one of {', '.join(TOPS)} (default {DEFAULT_TOP})"
    p = Parser(prog="exion", description="EXION accelerator generator and golden model")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    c = sub.add_parser("config", help="print or write the manifest (JSON) and C header")
    add_config_args(c)
    c.add_argument("--format", choices=("json", "header"), default="json",
                   help="what to print without --out: json or header (default json)")
    c.add_argument("--top", choices=TOPS, default=DEFAULT_TOP,
                   help=f"unit whose manifest --out writes (as generate does), {tops}")
    c.add_argument("--out", help="folder to write both files into, named as generate names "
                                 "them (default: none, print to stdout)")

    g = sub.add_parser("generate", help="write Verilog, manifest and C header")
    add_config_args(g)
    g.add_argument("--top", choices=TOPS, default=DEFAULT_TOP, help=f"unit to emit, {tops}")
    g.add_argument("--out", default="build", help="folder to write into (default build)")
    g.add_argument("--lint", action="store_true",
                   help="run verilator --lint-only -Wall on the result (default off)")

    m = sub.add_parser("conmerge", help="ConMerge blocks, cycles and utilization per strategy")
    add_config_args(m)
    m.add_argument("--mask", help=".npy/.npz 0/1 keep-mask, tokens x channels (limits in "
                                  "docs/limits.md); excludes the synthetic-mask options "
                                  "(default: none, a synthetic mask)")
    m.add_argument("--trace", metavar="DIR[:KIND[:INDEX]]",
                   help="one mask of a keep-mask trace folder (docs/workload.md), e.g. "
                        "data/traces:ffn:0; excludes --mask and the synthetic-mask options "
                        "(default: none; KIND default the first kind, INDEX default 0)")
    m.add_argument("--tokens", type=int, default=None,
                   help=f"synthetic mask rows; integer in [1, 65536] (default "
                        f"{_SYNTHETIC['tokens']})")
    m.add_argument("--channels", type=int, default=None,
                   help=f"synthetic mask columns; integer in [1, 65536] (default "
                        f"{_SYNTHETIC['channels']})")
    m.add_argument("--k", type=int, default=1152,
                   help="reduction length of the GEMM; integer in [1, 1048576] (default 1152)")
    m.add_argument("--sparsity", type=float, default=None,
                   help="synthetic mask: fraction of zeros; number in [0, 1] (default 0.9)")
    m.add_argument("--kind", choices=("uniform", "column"), default=None,
                   help="synthetic mask: zeros spread uniformly or by whole columns; uniform "
                        "or column (default uniform)")
    from golden.conmerge import STRATEGIES
    m.add_argument("--strategies", help=f"comma-separated subset of {', '.join(STRATEGIES)} "
                                        f"(default: all)")
    m.add_argument("--seed", type=int, default=None,
                   help="synthetic mask random seed; any integer (default 0)")

    f = sub.add_parser("ffn", help="FFN-Reuse on a synthetic drifting input")
    add_config_args(f)
    f.add_argument("--tokens", type=int, default=64,
                   help="tokens; integer in [1, 4096] (default 64)")
    f.add_argument("--d-model", type=int, default=64,
                   help="model width (FFN hidden = 4x); integer in [1, 4096] (default 64)")
    f.add_argument("--fc2-mode", choices=("dense", "delta"), default="dense",
                   help="FC2 in sparse iterations: dense or delta (default dense)")
    f.add_argument("--quantized", action="store_true",
                   help="INT GEMMs per the config (default off: float)")
    f.add_argument("--seed", type=int, default=0, help="random seed; any integer (default 0)")

    e = sub.add_parser("eager", help="eager prediction on a synthetic attention layer")
    add_config_args(e)
    e.add_argument("--tokens", type=int, default=64,
                   help="tokens (queries = keys); integer in [1, 4096] (default 64)")
    e.add_argument("--d-model", type=int, default=64,
                   help="model width, a multiple of --heads; integer in [1, 4096] (default 64)")
    e.add_argument("--heads", type=int, default=4,
                   help="attention heads; integer in [1, 64] (default 4)")
    e.add_argument("--seed", type=int, default=0, help="random seed; any integer (default 0)")

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


#: Subcommands with their own parser (and configuration defaults): ``exion fpga ...`` runs
#: ``exion_tools.fpga.main([...])``.
_FORWARDED = {"fpga": "FPGA build: yowasp Yosys + nextpnr-ecp5, utilisation, Fmax",
              "sweep": "design-space sweep: area (synthesis) against cycles, Pareto plot",
              "evaluate": "the paper's evaluation: EXION4 / EXION24 against the GPU models",
              "run": "sample images from a DiT on the core: cycles, MACs, bytes, energy"}


def _forward(cmd: str, argv: list[str]) -> int:
    import importlib
    module = "exion_tools.runtime.cli" if cmd == "run" else f"exion_tools.{cmd}"
    return importlib.import_module(module).main(argv)


_COMMANDS = {"config": _cmd_config, "generate": _cmd_generate, "conmerge": _cmd_conmerge,
             "ffn": _cmd_ffn, "eager": _cmd_eager, "synth": _cmd_synth, "sdc": _cmd_sdc}


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
        option = ""
        for name in ("file", "out", "mask"):  # name the option whose path failed
            value = getattr(args, name, None)
            if value and e.filename is not None and (str(e.filename).startswith(str(value))
                                                     or str(value).startswith(str(e.filename))):
                option = f"--{name} {str(value)!r}: "
                break
        print(f"exion {args.cmd}: error: {option}{e.strerror or e}: {e.filename or ''}"
              .rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"exion {args.cmd}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
