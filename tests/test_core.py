"""The EXION core (hw/core.py) end to end through its AXI4-Lite and AXI-Stream interfaces,
under Icarus and Verilator: registers, a dense GEMM of several tiles, an FFN-Reuse loop, an
eager-predicted attention head, every error cause and a reset mid-command (sim/tb_core.py)."""

import os
from pathlib import Path

import pytest

from exion.config import ExionConfig, preset
from sim.runner import SIMULATORS, run_bench

#: Small arrays with small banks: every command and limit is reachable in a few thousand
#: cycles. "4x4" has merge degree 2, double buffers and the preset's drain ports (4: a whole
#: column set per cycle, so II = max(kc, pipeline_depth)); "8x3" (the talk's toy array) has
#: merge degree 3, two adder stages, triple-buffered WMEM, one drain port and a CAU with two open
#: blocks, the popcount order and two placements a cycle (cau_window 2, cau_sort 1, cau_rate 2),
#: and the operand stage (operand_stages 1, the FPGA build's: a register between the memories'
#: reads and the DPUs' multipliers and the predictors' LODs; pipeline depth 5 against a drain
#: of 3, so it binds II where kc is short).
CONFIGS = {
    "4x4": preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                  omem_bank_bytes=96, schedule_depth=16, name="exion"),
    "8x3": preset("toy", lanes=4, merge_degree=3, adder_stages=2, operand_stages=1,
                  imem_bank_bytes=48, wmem_bank_bytes=1152, omem_bank_bytes=72,
                  schedule_depth=16, ffn_reuse_n=1, cau_window=2, cau_sort=1, cau_rate=2),
}

#: ``EXION_SIM_CONFIG`` names a configuration JSON file (a manifest, or what ``exion config``
#: prints) that is simulated as one more configuration, "user": what ``make sim`` does with the
#: variables of ``make verilog`` (ROWS, COLS, LANES, ...).
if os.environ.get("EXION_SIM_CONFIG"):
    CONFIGS["user"] = ExionConfig.from_json(Path(os.environ["EXION_SIM_CONFIG"]).read_text())


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_core(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core")
