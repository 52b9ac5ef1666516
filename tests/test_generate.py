"""The generator: one module per unique unit, deterministic output, no machine paths, lint
clean with the documented waivers, nothing written on bad parameters."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from exion.config import ConfigError, preset
from hw.generate import VERILATOR_WAIVERS, lint, verilog_text, write_design
from sim.runner import tool_environment

ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def exion_verilog():
    return verilog_text(preset("exion"))


def _modules(text):
    return re.findall(r"^module\s+([^\s(]+)", text, flags=re.M)


def test_one_dpu_definition_256_instances(exion_verilog):
    mods = _modules(exion_verilog)
    dpus = [m for m in mods if m.startswith("exion_dpu_")]
    assert len(dpus) == 1, mods
    assert len(mods) == len(set(mods)), "a module is defined twice"
    instances = re.findall(rf"^\s*{re.escape(dpus[0])}\s+\S+\s*\(", exion_verilog, flags=re.M)
    assert len(instances) == 256
    # every IMEM/OMEM bank and WMEM bank is one shared RAM module
    banks = [m for m in mods if m.startswith("exion_bank_")]
    assert len(banks) == 3, banks


def test_no_machine_paths(exion_verilog):
    assert ROOT not in exion_verilog
    assert "/home/" not in exion_verilog and "/root/" not in exion_verilog


def test_deterministic():
    """The same text from another interpreter with another string-hash seed (set and dict
    orders of strings differ there), on a 2x2 core: every unit of the core, a fifth of the
    toy core's generation time."""
    cfg = preset("toy", rows=2, cols=2, lanes=4)
    code = ("import sys; from exion.config import preset; from hw.generate import verilog_text; "
            "sys.stdout.write(verilog_text(preset('toy', rows=2, cols=2, lanes=4)))")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=ROOT)
    other = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    assert verilog_text(cfg) == other


def test_parameters_reach_the_rtl():
    a = verilog_text(preset("toy"), "dpu")
    b = verilog_text(preset("toy", lanes=8), "dpu")
    assert a != b
    assert "exion_dpu_l8_" in verilog_text(preset("toy", lanes=8), "sdue")


@pytest.mark.parametrize("top", ["core", "sdue_top", "imem", "wmem", "omem"])
def test_lint_clean_with_waivers(tmp_path, top):
    tool_environment()
    d = write_design(preset("toy"), tmp_path, top=top)
    status, log = lint(d.verilog, f"exion_{top}")
    assert status == 0, log[-2000:]
    assert "%Warning" not in log and "%Error" not in log


def test_waivers_have_reasons():
    assert all(len(reason) > 20 for reason in VERILATOR_WAIVERS.values())


def test_write_design_files(tmp_path):
    d = write_design(preset("toy"), tmp_path, top="dpu")
    assert {p.name for p in tmp_path.iterdir()} == {d.verilog.name, d.manifest.name,
                                                    d.header.name}
    assert d.modules == 1 and d.lines > 50


def test_bad_parameters_write_nothing(tmp_path):
    out = tmp_path / "build"
    for bad in ({"rows": 0}, {"cols": -1}, {"lanes": 12}, {"merge_degree": 9},
                {"wmem_bank_bytes": 10}):
        with pytest.raises(ConfigError):
            write_design(preset("exion", **bad), out)
    assert not out.exists()


def test_verilog_file_records_configuration(tmp_path):
    """The Verilog file is a header comment with every field, then verilog_text unchanged."""
    from hw.generate import design_base, verilog_header
    cfg = preset("toy", lanes=8, clock_mhz=500)
    d = write_design(cfg, tmp_path, top="dpu")
    text = d.verilog.read_text()
    head = verilog_header(cfg, "dpu")
    assert text == head + verilog_text(cfg, "dpu", name="exion_dpu")
    assert "//   lanes = 8" in head and "//   clock_mhz = 500.0" in head
    assert all(line.startswith("//") for line in head.splitlines())
    # Variants get names of their own; the presets keep the readable ones.
    assert d.verilog.name == f"{design_base(cfg, 'dpu')}.v" != "exion_dpu_8x3.v"
    assert design_base(preset("toy"), "dpu") == "exion_dpu_8x3"
    assert design_base(preset("exion"), "core") == "exion_core_16x16"
    assert design_base(preset("exion", lanes=8), "core") != design_base(preset("exion"), "core")
