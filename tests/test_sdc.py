"""Timing constraints (exion_tools/sdc.py, ``exion sdc``): clock period, I/O delays, the reset false
path, port names against the generated Verilog, the committed example, bad parameters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exion.config import ExionConfig, preset
from exion_tools.sdc import (COMBINATIONAL_TOPS, INPUT_DELAY_FRACTION, OUTPUT_DELAY_FRACTION, Port,
                       period_ns, ports_from_signature, ports_from_verilog, sdc_text)

from cli_helpers import run

REPO = Path(__file__).resolve().parents[1]
TINY = ExionConfig(rows=2, cols=2, lanes=4, data_width=4, acc_width=12, imem_bank_bytes=16,
                   wmem_bank_bytes=32, omem_bank_bytes=16, schedule_depth=4, name="tiny")
PORTS = [Port("clk", "input", 1), Port("rst", "input", 1), Port("a", "input", 8),
         Port("go", "input", 1), Port("y", "output", 12), Port("done", "output", 1),
         Port("nothing", "input", 0)]


@pytest.mark.parametrize("mhz, period", [(800, "1.250"), (100, "10.000"), (333, "3.003"),
                                         (1000, "1.000")])
def test_clock_period(mhz, period):
    cfg = ExionConfig(clock_mhz=mhz)
    text = sdc_text(cfg, PORTS, "exion_x")
    assert f"create_clock -name clk -period {period} [get_ports clk]" in text
    din = f"{INPUT_DELAY_FRACTION * 1000 / mhz:.3f}"
    dout = f"{OUTPUT_DELAY_FRACTION * 1000 / mhz:.3f}"
    assert f"set_input_delay -clock clk {din} [get_ports {{a[*]}}]" in text
    assert f"set_input_delay -clock clk {din} [get_ports go]" in text
    assert f"set_output_delay -clock clk {dout} [get_ports {{y[*]}}]" in text
    assert f"set_output_delay -clock clk {dout} [get_ports done]" in text


def test_reset_is_a_false_path_and_clock_reset_get_no_delay():
    text = sdc_text(ExionConfig(), PORTS, "exion_x")
    assert "set_false_path -from [get_ports rst]" in text
    delays = [ln for ln in text.splitlines() if ln.startswith("set_input_delay")]
    assert len(delays) == 2
    assert not any(re.search(r"get_ports \{?(rst|clk|nothing)\b", ln) for ln in delays)


def test_combinational_top_gets_a_virtual_clock():
    text = sdc_text(ExionConfig(), [Port("a", "input", 4), Port("y", "output", 2)], "exion_lod")
    assert "create_clock -name clk -period 1.250\n" in text
    assert "set_false_path" not in text


def test_deterministic_and_period_helper():
    cfg = preset("exion")
    assert period_ns(cfg) == 1.25
    assert sdc_text(cfg, PORTS, "t") == sdc_text(cfg, PORTS, "t")


def test_signature_ports_match_verilog_for_every_top():
    """``exion sdc`` reads ports from the signature; they must be what Amaranth writes."""
    from hw.generate import TOPS, verilog_text
    for top in TOPS:
        v = ports_from_verilog(verilog_text(TINY, top), f"exion_{top}")
        s = ports_from_signature(TINY, top)
        assert sorted(v, key=lambda p: p.name) == sorted(s, key=lambda p: p.name), top
        assert (top in COMBINATIONAL_TOPS) == ("clk" not in {p.name for p in v}), top


def test_default_top_constrains_every_port():
    from hw.generate import DEFAULT_TOP
    ports = ports_from_signature(preset("exion"), DEFAULT_TOP)
    text = sdc_text(preset("exion"), ports, f"exion_{DEFAULT_TOP}")
    for p in ports:
        if p.name in ("clk", "rst") or p.width == 0:
            continue
        ref = f"{{{p.name}[*]}}" if p.width > 1 else p.name
        kind = "set_input_delay" if p.direction == "input" else "set_output_delay"
        assert f"{kind} -clock clk 0.250 [get_ports {ref}]" in text, p


def test_committed_example_is_current():
    """constraints/exion_16x16.sdc is the tool's output for the EXION preset."""
    from exion_tools.sdc import regenerate
    from hw.generate import DEFAULT_TOP
    cfg = preset("exion")
    want = sdc_text(cfg, ports_from_signature(cfg, DEFAULT_TOP), f"exion_{DEFAULT_TOP}",
                    regenerate=regenerate(cfg, DEFAULT_TOP, "constraints/exion_16x16.sdc"))
    have = (REPO / "constraints" / "exion_16x16.sdc").read_text()
    assert have == want, ("constraints/exion_16x16.sdc is stale; regenerate with "
                          "`.venv/bin/exion sdc --file constraints/exion_16x16.sdc`")


def test_cli_writes_sdc(capsys, tmp_path):
    rc, out, err = run(capsys, "sdc", "--rows", "4", "--cols", "8", "--clock-mhz", "500",
                       "--out", str(tmp_path))
    assert rc == 0, err
    from hw.generate import DEFAULT_TOP, design_base
    cfg = preset("exion", rows=4, cols=8, clock_mhz=500)
    path = tmp_path / f"{design_base(cfg, DEFAULT_TOP)}.sdc"
    assert path.name.startswith(f"exion_{DEFAULT_TOP}_4x8_")  # clock off the default: hash
    assert f"wrote {path}" in out
    text = path.read_text()
    assert "create_clock -name clk -period 2.000 [get_ports clk]" in text
    assert "# Regenerate with: exion sdc --rows 4 --cols 8 --clock-mhz 500" in text


@pytest.mark.parametrize("argv, word", [
    (["--clock-mhz", "0"], "clock_mhz = 0.0 is out of range [1.0, 5000.0]"),
    (["--clock-mhz", "fast"], "clock_mhz must be a number in [1.0, 5000.0], not 'fast'"),
    (["--cols", "65"], "cols = 65 is out of range [1, 64]"),
])
def test_cli_bad_parameters(capsys, tmp_path, argv, word):
    out = tmp_path / "o"
    rc, stdout, err = run(capsys, "sdc", *argv, "--out", str(out))
    assert rc == 2 and stdout == ""
    assert err.strip() == f"exion sdc: error: {word}"
    assert not out.exists()
