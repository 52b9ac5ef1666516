"""Shift-and-add predictor unit (hw/predictor.py): RTL against golden.eager.shift_add_matmul
under Icarus and Verilator, and a synthesis check that it holds no multiplier."""

import re
import shutil
import subprocess

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench


#: The configuration of tests/test_lod.py (the same bundle design, built once per simulator).
CFG = preset("toy", lanes=4, acc_width=28, ep_k=0.125, operand_stages=1)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_predictor(sim):
    run_bench(CFG, "eager_units", sim, "sim.tb_predictor")


def synth_cells(verilog: str, top: str, tmp_path) -> tuple[dict, dict]:
    """Cell counts of ``top`` before (after proc/opt: word-level cells such as $mul) and after
    ``synth`` (Debian yosys). Fails unless the log reached ``End of script``."""
    f = tmp_path / f"{top}.v"
    f.write_text(verilog)
    script = (f"read_verilog {f}; hierarchy -top {top}; proc; opt; tee -o {tmp_path}/pre.txt stat; "
              f"synth -top {top}; tee -o {tmp_path}/post.txt stat")
    r = subprocess.run(["yosys", "-p", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "End of script" in r.stdout, (r.stdout + r.stderr)[-2000:]

    def cells(text):
        return {k: int(v) for v, k in re.findall(r"^\s+(\d+)\s+(\$\S+)\s*$", text, re.M)} | \
               {k: int(v) for k, v in re.findall(r"^\s+(\$\S+)\s+(\d+)\s*$", text, re.M)}
    return (cells((tmp_path / "pre.txt").read_text()), cells((tmp_path / "post.txt").read_text()))


@pytest.mark.skipif(shutil.which("yosys") is None, reason="Debian yosys not on PATH")
def test_no_multiplier(tmp_path):
    """The predictor (2 lanes, 12 bit, two steps) synthesizes with no $mul / $macc cell; the
    same check on a DPU of the same width finds its multipliers (so the check can fail)."""
    from hw.generate import verilog_text

    cfg = preset("toy", lanes=2, acc_width=25)
    pre, post = synth_cells(verilog_text(cfg, "predictor", name="pred"), "pred", tmp_path)
    assert pre and post, "no cells parsed"
    assert not any(c in pre or c in post for c in ("$mul", "$macc")), pre
    dpu_pre, _ = synth_cells(verilog_text(cfg, "dpu", name="dpu"), "dpu", tmp_path)
    assert dpu_pre.get("$mul", 0) == cfg.lanes, dpu_pre
