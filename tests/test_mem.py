"""IMEM / WMEM / OMEM (hw/mem.py) against golden.mem, under Icarus and Verilator."""

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench

CASES = {
    # (memory, config): the EXION core's IMEM and OMEM (16 banks; 8 words a buffer, as the
    # bench fills every word: Icarus took 3 minutes over the preset's 64 and 1-2 over 16); WMEM
    # on the toy model (3 banks, a triple-buffered 2-stream RAM) and on a 3-stream 4x4 array.
    "imem-exion": ("imem", preset("exion", imem_bank_bytes=192)),
    "omem-exion": ("omem", preset("exion", omem_bank_bytes=96)),
    "wmem-toy": ("wmem", preset("toy", wmem_bank_bytes=1536)),
    "wmem-4x4-m3": ("wmem", preset("exion", rows=4, cols=4, lanes=8, merge_degree=3,
                                   wmem_bank_bytes=1152)),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CASES)
def test_mem(sim, name):
    mem, cfg = CASES[name]
    run_bench(cfg, mem, sim, "sim.tb_mem", extra_env={"EXION_MEM": mem})
