"""Bounded model checks of the CAU and the LOD (``python formal/run.py``).

Each harness (formal/harness.py) exposes ``ok``; a few lines of Verilog assert it in every cycle.
The flow is SymbiYosys's ``abc bmc3`` engine, spelled out: Debian's native ``yosys`` bit-blasts
the design to an AIGER file whose bad-state outputs are the assertions
(``prep; flatten; async2sync; ...; abc -g AND; write_aiger -B -zinit``), and ``yosys-abc``
(shipped with Debian's yosys) runs ``bmc3 -F depth``. No extra package is needed. (The SMT
flow, ``write_smt2`` + ``yosys-smtbmc`` + z3, did not finish the CAU check in 10 minutes and
6 GB.) No register is left uninitialised (Amaranth gives every register its reset value), so
the check starts from the reset state.

Checks and expected outcomes:

* ``lod8``: LOD at 8 bits against its definition, every input (combinational, one SAT
  call): PASS.
* ``lod8_mutant``: the same with the harness told that ``p2`` is one higher: must FAIL (the
  check can fail).
* ``cau``: a 4 x 2 CAU, merge degree 2, 2 channels per beat, one group of 6 channels with free
  conflict vectors, input gaps and output back-pressure; slot / sel / coverage properties for
  ``DEPTH`` cycles: PASS.
* ``cau_reach_done``: asserts that the group never finishes; must FAIL (the solver finds a
  trace that completes the group), which shows that the coverage check at the end of the group
  is reached within the depth, i.e. the proof is not vacuous.
* ``cau_w2`` / ``cau_w2_reach_done``: the same for the window CAU, two open blocks and the
  popcount order (``cau_window = 2, cau_sort = 1``): emission of the oldest block, the block
  shift and the multi-block flush.
* ``cau_r2`` / ``cau_r2_reach_done``: the same for the window CAU placing two channels per
  cycle (``cau_window = 2, cau_rate = 2``; a whole 2-channel beat in one cycle through the
  chained placement stages, an emission deferring the second stage to the next cycle).
* ``cau_best`` / ``cau_best_reach_done``: the same for the best-fit window CAU (``cau_window =
  2, cau_sort = 1, cau_fit = 1``: the fitting slot whose OR has the most rows, ``bestfit``):
  the slot choice moves channels between slots, so conflict freedom (property 1) and
  exactly-once coverage (2, 3) are checked again for it (full size at depth 12, ``BEST_DEPTH``).
* ``cau_res`` / ``cau_res_reach_done``: the resident mode (the CAU's ``resident`` input at 1,
  a ``SCHEDULE`` with ``RESIDENT``) of the sorted best-fit window CAU (``cau_window = 2,
  cau_sort = 1, cau_fit = 1``): properties 1 to 3 and the class rule (4: channel ``j`` only in
  slot ``j % 2``, stream ``(j // 2) % 2``); 6 channels cover every class once and two classes
  twice, so blocks open and are emitted by class (full size at depth ``RES_DEPTH``).
* ``cau_res_mutant``: the same harness checking a wrong class rule (stream ``(j // 2 + 1) %
  2``): must FAIL (property 4 can fail).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHANNELS = 6
DEPTH = 16  # cycles: 3 beats of 2 channels need at least 7 cycles, more with stalls
#: The two-a-cycle CAU's full size: its 3 beats need at least 5 cycles (one per beat and the
#: two-block flush), so 12 leaves the same room for gaps and stalls as 16 at one a cycle, and
#: its chained placement logic keeps the depth-16 run over the 600 s limit.
R2_DEPTH = 12
#: The best-fit CAU's full size: its per-slot popcounts and max tree kept the depth-16 run
#: over the 600 s limit on a loaded machine (depth 12: 22-42 s); its 3 beats need at least 8
#: cycles (6 placements and the two-block flush), so 12 leaves 4 for gaps and stalls.
BEST_DEPTH = 12
#: The resident CAU's full size: the best-fit window's logic plus the class muxes; its 3 beats
#: need at least 8 cycles (6 placements and the two-block flush), so 12 leaves 4 for gaps and
#: stalls, as for ``cau_best``.
RES_DEPTH = 12

CHECKS = {
    # name: (harness factory, depth, property output, expected to pass)
    "lod8": ("lod", 0, "ok", True),
    "lod8_mutant": ("lod_bad", 0, "ok", False),
    "cau": ("cau", DEPTH, "ok", True),
    "cau_reach_done": ("cau", DEPTH, "~done", False),
    "cau_w2": ("cau_w2", DEPTH, "ok", True),
    "cau_w2_reach_done": ("cau_w2", DEPTH, "~done", False),
    "cau_r2": ("cau_r2", R2_DEPTH, "ok", True),
    "cau_r2_reach_done": ("cau_r2", R2_DEPTH, "~done", False),
    "cau_best": ("cau_best", BEST_DEPTH, "ok", True),
    "cau_best_reach_done": ("cau_best", BEST_DEPTH, "~done", False),
    "cau_res": ("cau_res", RES_DEPTH, "ok", True),
    "cau_res_reach_done": ("cau_res", RES_DEPTH, "~done", False),
    "cau_res_mutant": ("cau_res_bad", RES_DEPTH, "ok", False),
}


#: ``--quick`` (what tests/test_formal.py runs): 4 channels (2 beats), depth 12; about 10 s
#: instead of about 2 minutes. Three mutually conflicting channels already force a full-block
#: emission on the 2-column array.
QUICK_CHANNELS, QUICK_DEPTH = 4, 12


def _harness(kind: str, channels: int = CHANNELS):
    from exion.config import ExionConfig
    from formal.harness import CauHarness, LodHarness

    if kind in ("lod", "lod_bad"):
        return LodHarness(8, mutant=kind == "lod_bad")
    best = {"cau_window": 2, "cau_sort": 1, "cau_fit": 1}
    window = {"cau": {}, "cau_w2": {"cau_window": 2, "cau_sort": 1},
              "cau_r2": {"cau_window": 2, "cau_rate": 2},
              "cau_best": best, "cau_res": best, "cau_res_bad": best}[kind]
    return CauHarness(ExionConfig(rows=4, cols=2, merge_degree=2, **window), channels=channels,
                      beat=2, resident=kind.startswith("cau_res"), mutant=kind == "cau_res_bad")


def _wrapper(component, prop: str, harness_text: str) -> str:
    """``module formal_top``: the harness with reset tied low and ``assert(prop)``."""
    from amaranth.lib import wiring

    from amaranth.hdl import Shape

    ports, conns, wires = [], [], []
    for path, member, _ in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        width = Shape.cast(member.shape).width
        if member.flow == wiring.In:
            ports.append(f"  input [{width - 1}:0] {name}")
        else:  # outputs stay internal: the only property is the assertion
            wires.append(f"  wire [{width - 1}:0] {name};\n")
        conns.append(f".{name}({name})")
    expr = f"!{prop[1:]}" if prop.startswith("~") else prop
    clock = ".clk(clk), .rst(1'b0), " if "input rst;" in harness_text else ""
    return ("module formal_top(\n  input clk,\n" + ",\n".join(ports) + "\n);\n" + "".join(wires) +
            f"  harness u({clock}{', '.join(conns)});\n"
            f"  always @* assert({expr});\nendmodule\n")


def run_check(name: str, workdir: Path | None = None, verbose: bool = False,
              quick: bool = False) -> dict:
    """Run one check; returns ``{name, passed, expected, seconds, log}``."""
    from amaranth.back import verilog

    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    kind, depth, prop, expected = CHECKS[name]
    channels = CHANNELS
    if quick and kind.startswith("cau"):
        channels, depth = QUICK_CHANNELS, QUICK_DEPTH
    for tool in ("yosys", "yosys-abc"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found on PATH (apt-get install yosys)")
    t0 = time.monotonic()
    work = Path(workdir or tempfile.mkdtemp(prefix=f"formal_{name}_"))
    work.mkdir(parents=True, exist_ok=True)
    h = _harness(kind, channels)
    text = verilog.convert(h, name="harness", emit_src=False)
    (work / "harness.v").write_text(text)
    (work / "top.sv").write_text(_wrapper(h, prop, text))
    ys = ("read_verilog -formal harness.v top.sv; prep -top formal_top; flatten; async2sync; "
          "opt -full; techmap; opt -fast; dffunmap; abc -g AND -fast; opt_clean; dffunmap; "
          "write_aiger -B -zinit model.aig")
    r = subprocess.run(["yosys", "-q", "-p", ys], cwd=work, capture_output=True, text=True,
                       timeout=600)
    log = r.stdout + r.stderr
    if r.returncode != 0 or not (work / "model.aig").stat().st_size:
        raise RuntimeError(f"yosys failed for {name}:\n{log[-3000:]}")
    # bmc3 for sequential models; a combinational one (depth 0) is a single SAT call.
    engine = f"bmc3 -F {depth} -v" if depth else "sat -v"
    r = subprocess.run(["yosys-abc", "-c",
                        f"read_aiger model.aig; fold; strash; print_stats; {engine}"],
                       cwd=work, capture_output=True, text=True, timeout=600)
    log += r.stdout + r.stderr
    if "was asserted in frame" in r.stdout or "SATISFIABLE" in r.stdout.replace(
            "UNSATISFIABLE", ""):
        passed = False
    elif "No output asserted in" in r.stdout or "UNSATISFIABLE" in r.stdout:
        passed = True
    else:
        raise RuntimeError(f"yosys-abc gave no verdict for {name}:\n{log[-3000:]}")
    if verbose:
        print(log)
    return {"name": name, "passed": passed, "expected": expected,
            "seconds": round(time.monotonic() - t0, 1), "log": log}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checks", nargs="*", default=list(CHECKS))
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help=f"CAU with {QUICK_CHANNELS} channels, depth {QUICK_DEPTH}")
    args = ap.parse_args(argv)
    bad = []
    for name in args.checks:
        try:
            res = run_check(name, verbose=args.verbose, quick=args.quick)
        except subprocess.TimeoutExpired as e:   # a busy machine: say so, go on, summarise
            bad.append(name)
            print(f"{name:16s} TIMEOUT after {e.timeout:.0f} s ({e.cmd[0]})", flush=True)
            continue
        good = res["passed"] == res["expected"]
        if not good:
            bad.append(name)
        # A check expected to FAIL is a sanity check (a mutant, a reachability goal): its FAIL
        # is the good outcome, so say so rather than print a bare "FAIL".
        verdict = "PASS" if res["passed"] else "FAIL"
        note = ("as expected" if good else "UNEXPECTED") + (
            "" if res["expected"] else " (must fail: shows the check can fail)")
        print(f"{name:16s} {verdict} {note}, {res['seconds']} s", flush=True)
    n = len(args.checks)
    if bad:
        print(f"formal: {len(bad)} of {n} checks did not give the expected result: "
              f"{', '.join(bad)}")
        return 1
    proved = sum(CHECKS[c][3] for c in args.checks)
    print(f"formal: all {n} checks as expected ({proved} properties hold within the bound, "
          f"{n - proved} sanity checks fail as they must)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
