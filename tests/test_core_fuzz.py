"""Random command streams on the core (sim/tb_core_fuzz.py) against the command-level model
(golden/core_model.py), under Icarus and Verilator, with random pauses on every bus and stream.

``make test`` runs a short seed set, which must reach every coverage bin (the bench fails on
a hole). ``EXION_FUZZ_SEEDS`` (comma-separated) and
``EXION_FUZZ_COMMANDS`` (commands per seed) run longer, e.g.
``EXION_FUZZ_SEEDS=1,2,3,4 EXION_FUZZ_COMMANDS=1000 .venv/bin/python -m pytest -s
tests/test_core_fuzz.py -k icarus`` (docs/core-model.md).
"""

import os
from pathlib import Path

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

#: The 4x4 array of tests/test_core.py (merge degree 2, 4 drain ports, double buffers) with
#: an SMEM of 8 vectors, so that a SCHEDULE of a dense mask overflows it (SMEM_OVERFLOW).
FUZZ_CONFIG = preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                     omem_bank_bytes=96, schedule_depth=8, name="exion")

#: The short seed set of ``make test`` (one per simulator, a different one each).
SHORT = {"icarus": "1", "verilator": "2"}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_core_fuzz(sim, monkeypatch):
    env = {"EXION_FUZZ_SEEDS": os.environ.get("EXION_FUZZ_SEEDS", SHORT[sim]),
           "EXION_FUZZ_COMMANDS": os.environ.get("EXION_FUZZ_COMMANDS", "400")}
    # the short set's biased streams reach every coverage bin: the bench fails on a hole
    # (other seeds, lengths or EXION_FUZZ_STRICT=0 report their holes only)
    if not any(f"EXION_FUZZ_{v}" in os.environ for v in ("SEEDS", "COMMANDS", "STRICT")):
        env["EXION_FUZZ_EXPECT_FULL"] = "1"
    # the other EXION_FUZZ_* variables reach the bench with the environment (which the cocotb
    # runner lays over extra_env); the report's path is made absolute there because the bench
    # runs in its own folder
    if "EXION_FUZZ_REPORT" in os.environ:
        monkeypatch.setenv("EXION_FUZZ_REPORT",
                           str(Path(os.environ["EXION_FUZZ_REPORT"]).resolve()))
    run_bench(FUZZ_CONFIG, "core", sim, "sim.tb_core_fuzz", extra_env=env)
