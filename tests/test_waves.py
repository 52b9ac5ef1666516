"""Waveforms on demand (sim/runner.py): ``WAVES=1`` records a wave file for a tiny DPU under each
simulator (VCD under Icarus, FST under Verilator) into the build folder, even when a build
without tracing of the same design already exists."""

from pathlib import Path

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: One lane, no merge, no adder stages: the smallest DPU, built in seconds.
CFG = preset("toy", lanes=1, merge_degree=1, adder_stages=0, acc_width=24)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_waves_on_demand(sim, monkeypatch, capfd):
    monkeypatch.delenv("WAVES", raising=False)
    run_bench(CFG, "dpu", sim, "sim.tb_dpu")             # a build without tracing exists first
    monkeypatch.setenv("WAVES", "1")
    run_bench(CFG, "dpu", sim, "sim.tb_dpu")
    lines = [ln for ln in capfd.readouterr().out.splitlines() if ln.startswith("waves: ")]
    assert len(lines) == 1, "the run printed no wave file"
    wave = Path(lines[0][len("waves: "):])
    suffix = {"icarus": "vcd", "verilator": "fst"}[sim]
    assert wave.suffix == "." + suffix and wave.parent.name == f"{sim}_waves"
    data = wave.read_bytes()
    assert len(data) > 1000, f"{wave} is nearly empty"
    if suffix == "vcd":
        assert data.startswith(b"$") and b"$enddefinitions" in data
    else:
        assert data[:1] == b"\x00", "not an FST header block"
