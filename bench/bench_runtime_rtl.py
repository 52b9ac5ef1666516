"""One whole denoising iteration of the trained DiT (``dit64``: 64 tokens, hidden 128, all 4
blocks) on the RTL: the command stream the runtime issues on the command-level model (mode
``all`` by default, CFSE on chip) recorded and replayed through cocotb
(``sim/tb_runtime_replay.py``, random pauses on every bus and stream), every ``READ_OMEM``
frame, register, mask and SMEM read and every command's ``CYCLES`` compared with the model's.

    .venv/bin/python bench/bench_runtime_rtl.py [--array 8] [--sim verilator] [--mode all]
                                                [--cfse chip] [--iteration 1]

The array is ``array x array`` DPUs with ``array`` lanes (the rtl backend takes at most 64
DPUs), banks just large enough that every CFSE operation of dit64 fits one command
(LayerNorm of 128 channels with its scale and shift in 256 OMEM words, softmax of 64 keys)
and a GEMM takes K = 32 x lanes at once. Iterations ``0 .. --iteration`` of a DDIM run of the
preset's length run on the model; only iteration ``--iteration`` is recorded and replayed
(iteration 1: FFN-Reuse's first sparse iteration, ``SCHEDULE`` + ``GEMM SPARSE`` in FC1;
iteration 0 is dense with ``FFN_MASK``). The host loads every operand a command uses, so the
iteration needs nothing of iteration 0 on chip: the RTL starts from reset, and the model
starts the iteration from power-up too (a frame also holds rows the host does not use, past
a short row group, which would otherwise keep iteration 0's values). Prints
the array, the commands, the reads compared, the model's and the RTL's cycles, and the wall
time of the model run and of the replay (build included).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from golden.core_model import CoreModel  # noqa: E402
from exion_tools.runtime import dit as D  # noqa: E402
from exion_tools.runtime.backend import make_backend  # noqa: E402
from exion_tools.runtime.cli import MODELS  # noqa: E402
from exion_tools.runtime.counts import Stats  # noqa: E402
from exion_tools.runtime.lower import Host  # noqa: E402
from exion_tools.runtime.model import CFSE_PLACES, MODES, DiTRuntime  # noqa: E402
from exion_tools.runtime.rtl import RTL_MAX_DPUS, replay  # noqa: E402


def array_config(n: int, iterations: int):
    """``n x n`` DPUs, ``n`` lanes; IMEM 32 words (K = 32 n), OMEM 256 words, WMEM 128."""
    w = 12                                        # the preset's data_width
    return preset("exion", rows=n, cols=n, lanes=n, imem_bank_bytes=32 * n * w // 8,
                  wmem_bank_bytes=128 * 2 * n * w // 8, omem_bank_bytes=256 * w // 8,
                  schedule_depth=8, iterations=iterations, name="exion")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="dit64", choices=sorted(MODELS))
    p.add_argument("--array", type=int, default=8, choices=(4, 8),
                   help="rows = cols = lanes (default 8)")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("--mode", default="all", choices=MODES)
    p.add_argument("--cfse", default="chip", choices=CFSE_PLACES)
    p.add_argument("--iteration", type=int, default=1,
                   help="the DDIM iteration recorded and replayed (default 1)")
    a = p.parse_args(argv)
    w = D.load_npz(MODELS[a.model])
    cfg = array_config(a.array, preset("exion").iterations)
    assert cfg.rows * cfg.cols <= RTL_MAX_DPUS
    if not 0 <= a.iteration < cfg.iterations:
        p.error(f"--iteration = {a.iteration} is out of range [0, {cfg.iterations - 1}]")
    be = make_backend("rtl", cfg)
    st = Stats(cfg)
    rt = DiTRuntime(w, cfg, a.mode, Host(cfg, be, st), cfse=a.cfse)
    ts = D.timesteps(cfg.iterations)
    x = D.initial_noise(w.spec, 0, 1)
    be.log.enabled = False
    t0 = time.perf_counter()
    for i in range(a.iteration + 1):
        if i == a.iteration:
            # the RTL starts from reset with its memories zero: so does the model, for the
            # parts of a frame the host does not use (rows past a short row group)
            be.model = CoreModel(cfg)
            be.log.enabled = True
        eps = rt.forward(x[0], ts[i], 0, 0, i)
        x[0] = D.ddim_step(x[0], eps, i, ts)
    t_model = time.perf_counter() - t0
    rows = [r for r in st.rows.values() if r.iteration == a.iteration]
    commands = sum(r.commands for r in rows)
    cycles = sum(r.cycles for r in rows)
    host_el = sum(r.host_elements for r in rows)
    t0 = time.perf_counter()
    r = replay(be.log, a.sim)
    t_rtl = time.perf_counter() - t0
    rtl_cycles = sum(r["cycles"])
    ok = r["commands"] == commands and rtl_cycles == cycles
    print(f"{a.model} ({w.spec.tokens} tokens, hidden {w.spec.hidden}, {w.spec.depth} blocks), "
          f"iteration {a.iteration} of {cfg.iterations}, mode {a.mode}, CFSE on {a.cfse} "
          f"(host CFSE elements {host_el:,})")
    print(f"  array {cfg.rows}x{cfg.cols} x {cfg.lanes} lanes, {a.sim}")
    print(f"  commands {r['commands']:,} (model {commands:,}), reads compared "
          f"{r['compared']:,}, all identical")
    print(f"  CYCLES summed: RTL {rtl_cycles:,}, model {cycles:,}"
          f" ({'equal' if rtl_cycles == cycles else 'DIFFERENT'}); simulated clock cycles "
          f"{r['sim_cycles']:,}")
    print(f"  wall: model {t_model:.1f} s (iterations 0..{a.iteration}), replay {t_rtl:.1f} s "
          f"(build included), {r['sim_cycles'] / t_rtl:,.0f} simulated cycles/s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
